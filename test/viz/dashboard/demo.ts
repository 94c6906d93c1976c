// One whole demo for the dashboard's browser tests, started as a learner starts it (`npm start`)
// in a loopback /24 of its own (addressBlock()), its dashboard on <net>.252:8084.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunRecord } from '../../../examples/orders-checkout/runner/state.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { spawnDemo } from '../../helpers/demo-process.ts';

export const root = join(import.meta.dirname, '../../..');
export const NET = await addressBlock();
export const INGRESS = `http://${NET}.1:8000`;
export const DASHBOARD = `http://${NET}.252:8084`;
export const PAYMENTS_CONFIG = `http://${NET}.5:8080/config`;

export interface Demo {
  output(): string;
  /** The environment a learner's shell would have: `mesh ...` finds this demo by itself. */
  env: NodeJS.ProcessEnv;
  /** What the runner recorded: every process with its pid. */
  run: RunRecord;
  stop(): void;
}

export async function startDemo(): Promise<Demo> {
  const state = mkdtempSync(join(tmpdir(), 'dashboard-demo-'));
  const env = { ...process.env, MESH_DEMO_NET: NET, MESH_STATE_DIR: state };
  const demo = spawnDemo([], { cwd: root, env });
  let run: RunRecord | undefined;
  const stop = () => {
    try { process.kill(-demo.child.pid!, 'SIGKILL'); } catch { /* gone */ }
    for (const p of run?.processes ?? []) {
      try { process.kill(-p.pid, 'SIGKILL'); } catch { /* gone */ }
    }
    rmSync(state, { recursive: true, force: true });
  };
  await demo.up(150_000).catch((err: unknown) => {
    stop();
    throw err;
  });
  run = JSON.parse(readFileSync(join(state, 'pods.json'), 'utf8')) as RunRecord;
  return { output: demo.output, env, run, stop };
}
