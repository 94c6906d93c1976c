// Writing a small file that others read while it changes (a pod's Ready condition, a process record, pods.json):
// written beside it, then renamed over it, so a reader sees the old text or the new, never half.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeAtomically(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
