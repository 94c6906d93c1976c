// `mesh demo` (what `npm start` runs): the orders/checkout/payments demo on this machine, with
// its control plane, sidecars and ingress proxy, until Ctrl-C. See examples/orders-checkout/README.md.
import { resolve } from 'node:path';
import { projectRoot } from '../../api/locate.ts';
import { defaultDirs, runDemo } from '../../examples/orders-checkout/runner/run-demo.ts';
import { defaultStateDir } from '../../examples/orders-checkout/runner/state.ts';
import { KUBERNETES_BACKOFF } from '../../examples/orders-checkout/runner/backoff.ts';
import { parseCommandArgs, runCommand, secondsFlag, UsageError } from '../args.ts';

export const summary = 'run the orders/checkout/payments demo: control plane, pods with sidecars, the ingress proxy on 127.0.0.1:8000';

const usage = `usage: mesh demo [--netns | --kubernetes [--cluster-netns NAME]] [--state DIR] [--workloads DIR] [--manifests DIR] [--ready-timeout SECONDS] [--restart-backoff SECONDS]

  --netns              every pod in a network namespace of its own, on a bridge in a namespace the runner
                       makes (nothing leaves it); apps have no proxy variables: proxy-init's iptables send
                       their TCP through the sidecar. Needs root. The front door, viz and dashboard are
                       forwarded to 127.0.0.1; namespaces are named $MESH_DEMO_NETNS (default meshnet)
  --kubernetes         on a real Kubernetes control plane (kube-apiserver + controller-manager, built
                       on first use, in a network namespace), with this runner as its node
  --cluster-netns NAME the cluster's network namespace in Kubernetes mode (default mesh-demo)

  --state DIR          state folder: trust anchor, tokens, logs, pods.json (default .mesh-state, or $MESH_STATE_DIR)
  --workloads DIR      Deployment YAML of the workloads (default examples/orders-checkout/workloads)
  --manifests DIR      Services and Linkerd resources for the destination (default examples/orders-checkout/manifests)
  --ready-timeout S    how long to wait for every process to be ready (default 60)
  --restart-backoff S  the first wait before restarting a process that exited, doubling to 5 min (default 10, Kubernetes's)`;

const OPTIONS = { kubernetes: { type: 'boolean', default: false }, netns: { type: 'boolean', default: false }, 'cluster-netns': { type: 'string', default: 'mesh-demo' }, state: { type: 'string' }, workloads: { type: 'string' }, manifests: { type: 'string' }, 'ready-timeout': { type: 'string', default: '60' }, 'restart-backoff': { type: 'string', default: '10' } } as const;

export function run(args: string[]): Promise<number> {
  return runCommand('demo', usage, async () => {
    const { values } = parseCommandArgs(args, OPTIONS);
    const timeout = secondsFlag(values['ready-timeout'], '--ready-timeout', 3600);
    const backoff = secondsFlag(values['restart-backoff'], '--restart-backoff', 300);
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$/.test(values['cluster-netns'])) throw new UsageError(`--cluster-netns must be a network namespace name (letters, digits, _ . -), got ${values['cluster-netns']}`);
    if (values.netns && values.kubernetes) throw new UsageError('--netns and --kubernetes exclude each other (Kubernetes mode runs its pods in the cluster\'s namespace: --cluster-netns NAME)');
    return demo(values, timeout, backoff);
  });
}

async function demo(values: { kubernetes: boolean; netns: boolean; 'cluster-netns': string; state?: string; workloads?: string; manifests?: string }, timeout: number, backoffSeconds: number): Promise<number> {
  const dirs = defaultDirs(projectRoot);
  // What both runners take: the folders, how long to wait for Ready, the kubelet's back-off.
  const common = {
    root: projectRoot,
    stateDir: resolve(values.state ?? defaultStateDir(projectRoot)),
    workloadsDir: resolve(values.workloads ?? dirs.workloadsDir),
    manifestsDir: resolve(values.manifests ?? dirs.manifestsDir),
    readyTimeoutMs: timeout * 1000,
    restartBackoff: { ...KUBERNETES_BACKOFF, initialMs: backoffSeconds * 1000 },
    say: (line: string) => console.log(line),
  };
  try {
    if (values.kubernetes) {
      const { runKubernetesDemo } = await import('../../examples/orders-checkout/runner/node/run-kubernetes.ts');
      return await runKubernetesDemo({ ...common, netns: values['cluster-netns'] });
    }
    if (values.netns) {
      const { runNetnsDemo } = await import('../../examples/orders-checkout/runner/netns/run-netns.ts');
      return await runNetnsDemo(common);
    }
    return await runDemo(common);
  } catch (err) {
    // Every expected failure carries a `code` and a message written for the person at the terminal.
    const known = typeof (err as { code?: unknown }).code === 'string';
    console.error(`mesh demo: ${known ? '' : 'unexpected error: '}${(err as Error).message ?? String(err)}`);
    return 1;
  }
}
