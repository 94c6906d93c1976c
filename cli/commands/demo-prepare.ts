// `mesh demo prepare`: what the runner does before starting processes, on its own, for Docker:
// the CA material on first run and a token for every meshed pod, written into the state folder.
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { readWorkloads } from '../../examples/orders-checkout/runner/deployments.ts';
import { composePlacement, localPlacement, planDemo } from '../../examples/orders-checkout/runner/topology.ts';
import { ensureIdentity, mintTokens } from '../../examples/orders-checkout/runner/prepare-state.ts';
import { defaultDirs } from '../../examples/orders-checkout/runner/run-demo.ts';
import { defaultStateDir } from '../../examples/orders-checkout/runner/state.ts';
import { projectRoot } from './demo.ts';

export const summary = 'prepare the demo state folder (trust anchor on first run, pod tokens) without starting anything';

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { state: { type: 'string' }, platform: { type: 'string', default: 'local' } } }));
  } catch (err) {
    console.error(`mesh demo prepare: ${(err as Error).message}\nusage: mesh demo prepare [--state DIR] [--platform local|compose]`);
    return 2;
  }
  if (values.platform !== 'local' && values.platform !== 'compose') {
    console.error(`mesh demo prepare: --platform must be "local" or "compose", got "${values.platform}"`);
    return 2;
  }
  const dirs = defaultDirs(projectRoot);
  const stateDir = resolve(values.state ?? defaultStateDir(projectRoot));
  const placement = values.platform === 'compose' ? { ...composePlacement(), stateDir } : localPlacement(stateDir, projectRoot);
  try {
    const plan = planDemo(readWorkloads(dirs.workloadsDir), placement, relative(projectRoot, dirs.manifestsDir));
    const identity = await ensureIdentity(plan, projectRoot);
    await mintTokens(plan, projectRoot);
    console.log(`${identity === 'created' ? 'created' : 'kept'} the CA in ${stateDir}/identity; minted tokens in ${stateDir}/tokens`);
    return 0;
  } catch (err) {
    console.error(`mesh demo prepare: ${(err as Error).message}`);
    return 1;
  }
}
