// What a deployment name stands for. Usually itself; but a workload split into several
// Deployments (the demo's orders-stable and orders-canary, for a canary) is still called by its
// `app` label, as the lesson does (`mesh viz tap deploy/orders`): a name that no Deployment has
// stands for the Deployments whose pods carry `app=<name>`.
import type { MeshPod } from './pod-watch.ts';

export function deploymentsNamed(name: string, namespace: string | undefined, pods: MeshPod[]): string[] {
  const inScope = pods.filter((p) => namespace === undefined || p.namespace === namespace);
  if (inScope.some((p) => p.deployment === name)) return [name];
  const byApp = [...new Set(inScope.filter((p) => p.labels.app === name).map((p) => p.deployment))].sort();
  return byApp.length > 0 ? byApp : [name];
}
