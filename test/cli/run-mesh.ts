// Runs `node bin/mesh.js ...` as a learner would, to its end, for the CLI's tests.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');

/** Runs `node bin/mesh.js ...` to its end; stdout and stderr read until 'close'. */
export function runMesh(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; out: string; err: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, MESH_LOG_LEVEL: 'warn', ...opts.env };
  // KUBECONFIG would make `mesh check` check a cluster instead of the demo.
  for (const k of ['MESH_STATE_DIR', 'MESH_TRUST_ANCHORS', 'MESH_DESTINATION_ADDR', 'KUBECONFIG']) if (!opts.env?.[k]) delete env[k];
  const child = spawn(process.execPath, [join(ROOT, 'bin/mesh.js'), ...args], { cwd: opts.cwd ?? ROOT, env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, out, err })));
}

