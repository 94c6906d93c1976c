// A reader that stops early (`mesh install --crds | head`, a pager quit) is not an error of mesh's:
// the command stops quietly, as a Go or C command does when SIGPIPE ends it.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

it('stops quietly with exit 0 when its stdout is closed before it has printed (mesh install --crds | head -0)', async () => {
  const child = spawn(process.execPath, [join(ROOT, 'bin/mesh.js'), 'install', '--crds'], { cwd: ROOT });
  // The read end closes before the command writes anything (its output is larger than a pipe's
  // buffer either way), so its first write meets EPIPE.
  child.stdout.destroy();
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  expect(err).toBe('');
  expect(code).toBe(0);
});
