// Loads the destination's resource folder once before anything starts, with the destination's
// own parser, so a broken Service or policy stops `npm start` with the file, resource and field
// instead of a demo that runs with part of its policy missing.
import pino from 'pino';
import { ResourceStore } from '../../../destination/store/resource-store.ts';
import { ManifestError } from './deployments.ts';

/** Returns the warnings (worth printing); throws ManifestError listing every error. */
export function checkResources(dir: string): string[] {
  const store = new ResourceStore({ dir, logger: pino({ level: 'silent' }) });
  store.load();
  const problems = store.problems();
  const errors = problems.filter((p) => p.severity === 'error').map((p) => p.message);
  if (errors.length) {
    throw new ManifestError(`the resources in ${dir} do not load:\n  - ${errors.join('\n  - ')}\n  Fix the file(s) above and start again.`);
  }
  if (store.resources.all.size === 0) throw new ManifestError(`no resources in ${dir}: expected the demo's Services and policy YAML there`);
  return problems.filter((p) => p.severity === 'warning').map((p) => p.message);
}
