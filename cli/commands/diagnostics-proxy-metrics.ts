// `mesh diagnostics proxy-metrics po/NAME | deploy/NAME`: as `linkerd diagnostics proxy-metrics`,
// the raw Prometheus text of each matching pod's proxy (its admin port's /metrics), read now, each
// under a header naming the pod. The pods come from the running demo's record, so the command
// follows a pod that a restart or a rollout gave a new name and address; the viz's figures
// (`mesh viz stat`) are built from these same series.
import { findDemo, STATE_ENV } from '../find-demo.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';
import type { PodRecord } from '../../examples/orders-checkout/runner/state.ts';
import { resourceArg } from '../../viz/cli/resource-arg.ts';

export const summary = 'print the raw /metrics of each proxy of a pod or a Deployment (po/NAME, deploy/NAME), as Linkerd\'s diagnostics proxy-metrics';

const USAGE = `usage: mesh diagnostics proxy-metrics (po/NAME | deploy/NAME) [-n NAMESPACE] [--state DIR]
  -n NAMESPACE  the resource's namespace (default production, the demo's)
  --state DIR   the demo's state folder (default $${STATE_ENV}, else the nearest .mesh-state/, else the project's)`;

/** How long one proxy may take to answer: it answers from memory, so a slow one is worth saying. */
const FETCH_TIMEOUT_MS = 5_000;

export function run(args: string[]): Promise<number> {
  return runCommand('diagnostics proxy-metrics', USAGE, async () => {
    const { values, positionals } = parseCommandArgs(
      args,
      { namespace: { type: 'string', short: 'n', default: 'production' }, state: { type: 'string' } },
      { positionals: { count: 1, expected: 'one pod or Deployment, as po/NAME or deploy/NAME' } },
    );
    // Resource names as every `mesh viz` command reads them (deploy, po and their long forms).
    const { kind, name } = resourceArg(positionals[0]!);
    if ((kind !== 'pod' && kind !== 'deployment') || name === undefined) {
      throw new UsageError(`expected po/NAME or deploy/NAME, got ${JSON.stringify(positionals[0])}`);
    }
    return printMetrics(values.state, values.namespace!, kind, name);
  });
}

async function printMetrics(state: string | undefined, namespace: string, kind: 'pod' | 'deployment', name: string): Promise<number> {
  let pods: PodRecord[];
  try {
    pods = findDemo({ flag: state }).run.pods;
  } catch (err) {
    console.error(`mesh diagnostics proxy-metrics: ${(err as Error).message}`);
    return 1;
  }
  const matching = pods.filter((p) => p.namespace === namespace && (kind === 'pod' ? p.name === name : p.workload === name));
  if (matching.length === 0) {
    const known = [...new Set(pods.filter((p) => p.namespace === namespace).map((p) => (kind === 'pod' ? p.name : p.workload)))].sort();
    console.error(`mesh diagnostics proxy-metrics: no ${kind} ${namespace}/${name} in the running demo` +
      (known.length > 0 ? ` (${kind}s in ${namespace}: ${known.join(', ')})` : ` (nothing runs in namespace ${namespace})`));
    return 1;
  }
  let failed = 0;
  for (const [i, pod] of matching.entries()) {
    if (!pod.adminUrl) {
      console.error(`mesh diagnostics proxy-metrics: pod ${namespace}/${pod.name} has no proxy (it is not meshed)`);
      failed++;
      continue;
    }
    const url = `${pod.adminUrl}/metrics`;
    let text: string;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
      text = await res.text();
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
      console.error(`mesh diagnostics proxy-metrics: pod ${namespace}/${pod.name}: cannot read ${url}: ${cause} (is its proxy running? see mesh pods)`);
      failed++;
      continue;
    }
    // Linkerd's header, so that the output of several pods can be told apart (and split by grep).
    process.stdout.write(`#\n# POD ${pod.name} (${i + 1} of ${matching.length})\n#\n${text}${text.endsWith('\n') ? '' : '\n'}`);
  }
  return failed > 0 ? 1 : 0;
}
