// `mesh demo compose`: writes docker-compose.yml from the demo's workloads and the runner's plan,
// or with --check says whether the file in the tree is what the plan generates.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readWorkloads } from '../../examples/orders-checkout/runner/deployments.ts';
import { composePlacement, planDemo } from '../../examples/orders-checkout/runner/topology.ts';
import { composeManifestsDir, composeYaml } from '../../examples/orders-checkout/runner/compose.ts';
import { serviceAddresses } from '../../examples/orders-checkout/runner/cluster-ips.ts';
import { defaultDirs } from '../../examples/orders-checkout/runner/run-demo.ts';
import { projectRoot } from '../../api/locate.ts';
import { parseCommandArgs, runCommand } from '../args.ts';

export const summary = 'write docker-compose.yml from the demo workloads (--check: verify it is current)';

export function generatedCompose(): string {
  const dirs = defaultDirs(projectRoot);
  const placement = composePlacement();
  // The destination serves the copy of the manifests that `demo prepare` gives clusterIPs.
  return composeYaml(planDemo(readWorkloads(dirs.workloadsDir), placement, composeManifestsDir(placement)), serviceAddresses(dirs.manifestsDir));
}

export function run(args: string[]): Promise<number> {
  return runCommand('demo compose', 'usage: mesh demo compose [--check]', async () => compose(parseCommandArgs(args, { check: { type: 'boolean', default: false } }).values.check));
}

async function compose(check: boolean): Promise<number> {
  const file = join(projectRoot, 'docker-compose.yml');
  let text: string;
  try {
    text = generatedCompose();
  } catch (err) {
    console.error(`mesh demo compose: ${(err as Error).message}`);
    return 1;
  }
  if (check) {
    let current = '';
    try { current = readFileSync(file, 'utf8'); } catch { /* missing counts as stale */ }
    if (current === text) return 0;
    console.error(`mesh demo compose: ${file} is out of date; run: node bin/mesh.js demo compose`);
    return 1;
  }
  writeFileSync(file, text);
  console.log(`wrote ${file}`);
  return 0;
}
