// The harness itself: a real apiserver in its own namespace, kubectl inside it, a bridge from
// this process, the controller-manager making an EndpointSlice, and a stop that leaves nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeCluster } from '../helpers/kube-cluster.ts';

describe('kube-cluster harness', () => {
  let cluster: KubeCluster;
  beforeAll(async () => {
    cluster = await KubeCluster.start();
  });
  afterAll(() => cluster?.stop());

  it('serves v1.20 inside its namespace, and to this process through a bridge', async () => {
    const version = JSON.parse(await cluster.kubectlOk(['version', '-o', 'json'])) as { serverVersion: { gitVersion: string } };
    expect(version.serverVersion.gitVersion).toBe('v1.20.2');
    const kubeconfig = await cluster.hostKubeconfig();
    const server = /server: "(https:\/\/127\.0\.0\.1:\d+)"/.exec(readFileSync(kubeconfig, 'utf8'))![1]!;
    const r = spawnSync('curl', ['-sS', '--cacert', cluster.caFile, '-H', 'Authorization: Bearer admin-token', `${server}/readyz`], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('ok');
  });

  it('runs the controller-manager: a Ready pod of a Service becomes an EndpointSlice', async () => {
    await cluster.kubectlOk(['create', 'namespace', 'harness']);
    await cluster.waitForServiceAccount('harness');
    await cluster.addNode('node-1');
    await cluster.apply(`
apiVersion: v1
kind: Service
metadata: {name: web, namespace: harness}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: harness, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: app, image: example/web}]}
`);
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await cluster.kubectlOk(['-n', 'harness', 'patch', 'pod', 'web-1', '--subresource=status', '--type=merge', '-p',
      JSON.stringify({ status: { phase: 'Running', podIP: '198.51.100.10', podIPs: [{ ip: '198.51.100.10' }], conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }] } })]);
    let addresses = '';
    for (let i = 0; i < 100 && !addresses; i++) {
      addresses = await cluster.kubectlOk(['-n', 'harness', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'jsonpath={.items[*].endpoints[*].addresses}']);
      if (!addresses) await new Promise((r) => setTimeout(r, 200));
    }
    expect(addresses).toContain('198.51.100.10');
  });

  it('stops by PID and deletes its namespace and run dir', async () => {
    const other = await KubeCluster.start({ controllerManager: false });
    const pids = Object.values(other.pids());
    expect(pids.length).toBe(2);
    await other.stop();
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(other.netns);
    expect(existsSync(other.runDir)).toBe(false);
  });
});
