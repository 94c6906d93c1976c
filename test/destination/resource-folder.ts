// A folder of YAML files a test writes, and the destination's resource store loaded from it once
// (no server), or the proxy's development-mode resolver over it: for tests of what the parsers
// accept, refuse and warn about, and what discovery answers. The folder is removed when the test
// that wrote it ends.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { ResourceStore } from '../../destination/store/resource-store.ts';
import { DevResolver } from '../../proxy/discovery/dev-resolver.ts';
import { quietLogger } from './harness.ts';

export interface LoadedFolder {
  dir: string;
  store: ResourceStore;
  /** Each problem as `severity: message`, files named relative to the folder (as a reader of the folder sees them). */
  problems(): string[];
}

/** Writes `files` (name to text) into a new temporary folder; call it inside a test. */
export function writeFolder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-resources-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Writes `files` into a new folder and loads it as the destination would at start. */
export function loadFolder(files: Record<string, string>): LoadedFolder {
  const dir = writeFolder(files);
  const store = new ResourceStore({ dir, logger: quietLogger() });
  store.load();
  return { dir, store, problems: () => store.problems().map((p) => `${p.severity}: ${p.message.replaceAll(`${dir}/`, '')}`) };
}

/**
 * Writes `files` into a new folder and opens the proxy's development-mode resolver on it, as a pod
 * at 10.237.0.9 in `production`: discovery answered by the destination's store and index. Closed
 * when the test ends (before its folder is removed).
 */
export function openDevResolver(files: Record<string, string>): DevResolver {
  const resolver = new DevResolver(writeFolder(files), { podIp: '10.237.0.9', namespace: 'production', logger: quietLogger(), debounceMs: 20 });
  onTestFinished(() => resolver.close());
  return resolver;
}
