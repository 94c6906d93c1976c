// `mesh rollout restart deploy/NAME`: as `kubectl rollout restart`, replaces a Deployment's pods
// one at a time, each new pod Ready before an old one stops; prints the runner's progress.
// `mesh rollout restart deployment -n NS` (the lesson's kubectl line) restarts every Deployment
// of the namespace, one after another.
import http from 'node:http';
import { findDemo, STATE_ENV } from '../find-demo.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';
import { DNS_LABEL } from '../../destination/store/kinds/meta.ts';
import { resourceArg } from '../../viz/cli/resource-arg.ts';

export const summary = 'restart a Deployment\'s pods one at a time, each new pod Ready before an old one stops (deploy/NAME, or deployment for all in -n NS)';

const USAGE = `usage: mesh rollout restart (deploy/NAME | deployment) [-n NAMESPACE] [--state DIR]
  deploy/NAME   one Deployment; "deployment" (or deploy, deployments) alone: every Deployment
                of the namespace, one after another, as kubectl rollout restart deployment -n NS
  -n NAMESPACE  the namespace (default production, the demo's)
  --state DIR   the demo's state folder (default $${STATE_ENV}, else the nearest .mesh-state/, else the project's)`;

export function run(args: string[]): Promise<number> {
  return runCommand('rollout restart', USAGE, async () => {
    const { values, positionals } = parseCommandArgs(args, { namespace: { type: 'string', short: 'n', default: 'production' }, state: { type: 'string' } }, { positionals: { count: 1, expected: 'one Deployment, as deploy/NAME (or deployment for all)' } });
    // Resource names as every `mesh viz` command reads them; no name: the namespace's every one.
    const { kind, name } = resourceArg(positionals[0]!);
    if (kind !== 'deployment') throw new UsageError(`expected deploy/NAME (a Deployment), or deployment for every one in the namespace, got ${JSON.stringify(positionals[0])}`);
    // A namespace is a DNS label, as the destination reads one from YAML.
    if (!DNS_LABEL.test(values.namespace!)) throw new UsageError(`-n must be a namespace name (lowercase letters, digits and '-'), got ${JSON.stringify(values.namespace)}`);
    return restart(values.state, values.namespace!, name);
  });
}

/** `name` undefined: every Deployment of the namespace. */
async function restart(state: string | undefined, namespace: string, name: string | undefined): Promise<number> {
  let socketPath: string;
  try {
    const demo = findDemo({ flag: state });
    if (!demo.run.controlSocket) throw new Error('the running demo has no control socket (it was started by an older runner); restart it with npm start');
    socketPath = demo.run.controlSocket;
  } catch (err) {
    console.error(`mesh rollout restart: ${(err as Error).message}`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    const req = http.request({ socketPath, method: 'POST', path: `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments${name === undefined ? '' : `/${encodeURIComponent(name)}`}/restart` }, (res) => {
      // The runner's last line says how it ended; lines may arrive split across chunks.
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        process.stdout.write(chunk);
        text = (text + chunk).slice(-4096);
      });
      res.on('end', () => resolve(res.statusCode === 200 && text.trimEnd().split('\n').at(-1) === 'OK' ? 0 : 1));
      res.on('error', () => resolve(1));
    });
    req.on('error', (err) => {
      console.error(`mesh rollout restart: cannot reach the demo's runner at ${socketPath}: ${err.message}`);
      resolve(1);
    });
    req.end();
  });
}
