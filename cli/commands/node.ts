// `mesh node`: this machine as a Kubernetes node. Registers a Node with the API server, binds
// pending pods to it and runs their containers as processes, reporting their status, until
// Ctrl-C. Run it where the API server and the pod addresses are reachable (the cluster's network
// namespace). See examples/orders-checkout/runner/README.md, "Kubernetes mode".
import { join, resolve } from 'node:path';
import { projectRoot } from '../../api/locate.ts';
import { KUBERNETES_BACKOFF } from '../../examples/orders-checkout/runner/backoff.ts';
import { parseCommandArgs, runCommand, secondsFlag, UsageError } from '../args.ts';

export const summary = 'play a Kubernetes node: bind pending pods, run their containers as processes, report their status';

const usage = `usage: mesh node --kubeconfig FILE [--name NAME] [--dir DIR] [--pod-net 127.0.10] [--restart-backoff SECONDS]

  --kubeconfig FILE    how to reach the API server (the node's credentials)
  --name NAME          the Node's name (default mesh-node)
  --dir DIR            volumes, container logs and the hosts file (default .mesh-state/node)
  --pod-net PREFIX     pods get PREFIX.N (default 127.0.10)
  --restart-backoff S  the first wait before restarting a container that exited, doubling to 5 min (default 10)`;

const OPTIONS = { kubeconfig: { type: 'string' }, name: { type: 'string', default: 'mesh-node' }, dir: { type: 'string' }, 'pod-net': { type: 'string', default: '127.0.10' }, 'restart-backoff': { type: 'string', default: '10' } } as const;

export function run(args: string[]): Promise<number> {
  return runCommand('node', usage, async () => {
    const { values } = parseCommandArgs(args, OPTIONS, { required: ['kubeconfig'] });
    if (!/^127\.\d{1,3}\.\d{1,3}$/.test(values['pod-net'])) throw new UsageError(`--pod-net must be the first three parts of a loopback address, like 127.0.10, got ${values['pod-net']}`);
    const backoff = secondsFlag(values['restart-backoff'], '--restart-backoff', 300);
    const { connectKube } = await import('../../examples/orders-checkout/runner/node/kube-api.ts');
    const { NodeAgent } = await import('../../examples/orders-checkout/runner/node/node-agent.ts');
    const api = connectKube(resolve(values.kubeconfig));
    const server = new URL(api.kc.getCurrentCluster()?.server ?? 'https://127.0.0.1:6443');
    const node = new NodeAgent(api, {
      nodeName: values.name, dir: resolve(values.dir ?? join(projectRoot, '.mesh-state', 'node')), root: projectRoot,
      apiServer: { host: server.hostname, port: Number(server.port || 443) }, podNet: values['pod-net'],
      backoff: { ...KUBERNETES_BACKOFF, initialMs: backoff * 1000 }, say: (line) => console.log(line),
    });
    const stopped = new Promise<string>((r) => { process.once('SIGINT', r); process.once('SIGTERM', r); });
    await node.start();
    console.log(`node ${values.name}: registered; running the pods bound to it (Ctrl-C stops their containers)`);
    const signal = await stopped;
    console.log(`${signal}: stopping the node's containers...`);
    await node.stop();
    return 0;
  });
}
