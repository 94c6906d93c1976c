// `mesh demo prepare`: what the runner does before starting processes, on its own, for Docker:
// the CA material on first run and a token for every meshed pod, written into the state folder.
// For compose, also the manifests with each Service's clusterIP (the destination serves that copy),
// and the pods' tokens owned by the proxy's user (the sidecars run as it, the apps do not).
import { chownSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { readWorkloads } from '../../examples/orders-checkout/runner/deployments.ts';
import { composePlacement, localPlacement, planDemo } from '../../examples/orders-checkout/runner/topology.ts';
import { ensureIdentity, mintTokens } from '../../examples/orders-checkout/runner/prepare-state.ts';
import { writeManifestsWithClusterIps } from '../../examples/orders-checkout/runner/cluster-ips.ts';
import { composeManifestsDir } from '../../examples/orders-checkout/runner/compose.ts';
import { tokenPath } from '../../examples/orders-checkout/runner/topology.ts';
import { DEFAULT_PROXY_UID } from '../../proxy-init/rules.ts';
import { defaultDirs } from '../../examples/orders-checkout/runner/run-demo.ts';
import { defaultStateDir } from '../../examples/orders-checkout/runner/state.ts';
import { projectRoot } from '../../api/locate.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'prepare the demo state folder (trust anchor on first run, pod tokens) without starting anything';

const USAGE = 'usage: mesh demo prepare [--state DIR] [--platform local|compose]';

export function run(args: string[]): Promise<number> {
  return runCommand('demo prepare', USAGE, async () => {
    const { values } = parseCommandArgs(args, { state: { type: 'string' }, platform: { type: 'string', default: 'local' } });
    if (values.platform !== 'local' && values.platform !== 'compose') throw new UsageError(`--platform must be "local" or "compose", got "${values.platform}"`);
    return prepare(values.state, values.platform);
  });
}

async function prepare(state: string | undefined, platform: 'local' | 'compose'): Promise<number> {
  const dirs = defaultDirs(projectRoot);
  const stateDir = resolve(state ?? defaultStateDir(projectRoot));
  const placement = platform === 'compose' ? { ...composePlacement(), stateDir } : localPlacement(stateDir, projectRoot);
  try {
    const plan = planDemo(readWorkloads(dirs.workloadsDir), placement, relative(projectRoot, dirs.manifestsDir));
    const identity = await ensureIdentity(plan, projectRoot);
    await mintTokens(plan, projectRoot);
    console.log(`${identity === 'created' ? 'created' : 'kept'} the CA in ${stateDir}/identity; minted tokens in ${stateDir}/tokens`);
    if (platform === 'compose') {
      for (const pod of plan.pods.filter((p) => p.meshed)) chownSync(tokenPath(placement, pod.name), DEFAULT_PROXY_UID, DEFAULT_PROXY_UID);
      const services = writeManifestsWithClusterIps(dirs.manifestsDir, composeManifestsDir(placement));
      console.log(`pods' tokens owned by the proxy's user (${DEFAULT_PROXY_UID}); manifests with clusterIPs in ${composeManifestsDir(placement)}: ${services.map((s) => `${s.host}=${s.clusterIP}`).join(' ')}`);
    }
    return 0;
  } catch (err) {
    console.error(`mesh demo prepare: ${(err as Error).message}`);
    return 1;
  }
}
