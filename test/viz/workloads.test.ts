// What `deploy/<name>` selects: the Deployment of that name, else (a workload split into several
// Deployments, as the demo's canary is) the Deployments whose pods carry app=<name>.
import { describe, expect, it } from 'vitest';
import { deploymentsNamed } from '../../viz/pods/workloads.ts';
import type { MeshPod } from '../../viz/pods/pod-watch.ts';

const pod = (name: string, deployment: string, app: string, namespace = 'production'): MeshPod => ({
  name, namespace, deployment, labels: { app }, ip: '127.0.0.1', identity: '', serviceAccount: app,
});
const pods = [pod('orders-stable-0', 'orders-stable', 'orders'), pod('orders-canary-0', 'orders-canary', 'orders'), pod('payments-0', 'payments', 'payments'), pod('orders-0', 'orders', 'orders', 'staging')];

describe('deploy/<name>', () => {
  it('is the Deployment of that name when it has pods', () => {
    expect(deploymentsNamed('payments', 'production', pods)).toEqual(['payments']);
    expect(deploymentsNamed('orders-canary', 'production', pods)).toEqual(['orders-canary']);
  });

  it("is every Deployment whose pods are app=<name> when no Deployment has the name (the lesson's deploy/orders)", () => {
    expect(deploymentsNamed('orders', 'production', pods)).toEqual(['orders-canary', 'orders-stable']);
  });

  it('looks in the namespace asked, and names nothing else when nothing matches', () => {
    expect(deploymentsNamed('orders', 'staging', pods)).toEqual(['orders']);
    expect(deploymentsNamed('ghost', 'production', pods)).toEqual(['ghost']);
  });
});
