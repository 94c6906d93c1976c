// The demo's Kubernetes control plane: kubernetes/cluster/'s scripts (build.sh: kube-apiserver and
// kube-controller-manager v1.20.2, cached; run.sh: etcd + both, in a network namespace of their own;
// stop.sh), run with the demo's own network namespace and run folder, each line of the build shown.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { codedError } from '../../../../api/errors.ts';

export class ClusterError extends codedError('KUBE_CLUSTER') {}

export interface ClusterPlace {
  root: string;
  netns: string;
  runDir: string;
}

const script = (root: string, name: string) => join(root, 'kubernetes', 'cluster', name);
const envOf = (c: ClusterPlace) => ({ ...process.env, NETNS: c.netns, RUN_DIR: c.runDir });

/** Builds the binaries unless cached; every line the build prints goes to `progress`. */
export async function buildCluster(root: string, progress: (line: string) => void): Promise<void> {
  const r = await runScript(script(root, 'build.sh'), process.env, progress);
  if (r.code !== 0) throw new ClusterError(`kubernetes/cluster/build.sh failed (exit ${r.code}); its last lines:\n${r.tail.join('\n')}`);
}

/** Starts a fresh cluster (an empty etcd: the demo applies everything anew) and returns its admin kubeconfig. */
export async function startCluster(c: ClusterPlace, progress: (line: string) => void): Promise<string> {
  await stopCluster(c);
  rmSync(join(c.runDir, 'etcd'), { recursive: true, force: true });
  const r = await runScript(script(c.root, 'run.sh'), envOf(c), progress);
  if (r.code !== 0) throw new ClusterError(`kubernetes/cluster/run.sh failed (exit ${r.code}); its last lines:\n${r.tail.join('\n')}\n  logs: ${join(c.runDir, 'log')}`);
  return join(c.runDir, 'admin.kubeconfig');
}

/** Stops what run.sh started (by its recorded PIDs) and removes the network namespace. */
export async function stopCluster(c: ClusterPlace): Promise<void> {
  await runScript(script(c.root, 'stop.sh'), envOf(c), () => {});
}

function runScript(file: string, env: NodeJS.ProcessEnv, progress: (line: string) => void): Promise<{ code: number; tail: string[] }> {
  return new Promise((resolve) => {
    const child = spawn(file, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let partial = { out: '', err: '' };
    const take = (which: 'out' | 'err') => (chunk: Buffer) => {
      const lines = (partial[which] + chunk.toString()).split('\n');
      partial = { ...partial, [which]: lines.pop() ?? '' };
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        progress(line);
      }
    };
    child.stdout.on('data', take('out'));
    child.stderr.on('data', take('err'));
    child.on('error', (err) => resolve({ code: -1, tail: [...tail, err.message] }));
    // 'close', not 'exit': the last lines are read before the result is used.
    child.on('close', (code) => resolve({ code: code ?? -1, tail }));
  });
}
