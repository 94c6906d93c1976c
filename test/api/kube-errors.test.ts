// The errors of reaching a Kubernetes cluster keep their own codes: a kubeconfig that cannot be
// loaded is KUBE_CONFIG however it is loaded (not re-wrapped into another class's code), and a failed
// call through the typed client has a code of its own, not one the control plane's client also uses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { CodedError } from '../../api/errors.ts';
import { askKube, KubeCallError, KubeConfigError, loadKubeConfig } from '../../api/kube-config.ts';
import { KubeApi } from '../../api/kubernetes/kube-api.ts';
import { connectKube } from '../../examples/orders-checkout/runner/node/kube-api.ts';
import { thrown } from '../helpers/thrown.ts';

const dir = mkdtempSync(join(tmpdir(), 'kube-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A kubeconfig whose one cluster is `server`. */
function kubeconfigAt(server: string): string {
  const path = join(dir, `${Math.random().toString(36).slice(2)}.kubeconfig`);
  writeFileSync(path, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`);
  return path;
}

/** A loopback port nothing listens on: bound, then closed. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

describe('Kubernetes connection errors', () => {
  it('a missing kubeconfig is KUBE_CONFIG naming the file, from every way of loading it', () => {
    const missing = join(dir, 'no-such.kubeconfig');
    for (const load of [() => loadKubeConfig(missing), () => KubeApi.load(missing), () => connectKube(missing)]) {
      const err = thrown(load);
      expect(err).toBeInstanceOf(KubeConfigError);
      expect((err as KubeConfigError).code).toBe('KUBE_CONFIG');
      expect((err as Error).message).toBe(`kubeconfig ${missing}: no such file`);
    }
  });

  it('a kubeconfig without a current context is KUBE_CONFIG, not a later crash', () => {
    const path = join(dir, 'no-context.kubeconfig');
    writeFileSync(path, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
    const err = thrown(() => connectKube(path)) as KubeConfigError;
    expect(err).toBeInstanceOf(KubeConfigError);
    expect(err.code).toBe('KUBE_CONFIG');
    expect(err.message).toMatch(/names no cluster server/);
  });

  it('a call to a server that refuses the connection is KUBE_CALL naming the request, the server and the cause', async () => {
    const server = `https://127.0.0.1:${await deadPort()}`;
    const config = loadKubeConfig(kubeconfigAt(server));
    const err = (await askKube(config, 'get namespace mesh-system', () => config.makeApiClient(CoreV1Api).readNamespace({ name: 'mesh-system' })).catch((e: unknown) => e)) as KubeCallError;
    expect(err).toBeInstanceOf(KubeCallError);
    expect(err).toBeInstanceOf(CodedError);
    expect(err.code).toBe('KUBE_CALL');
    expect(err.message).toMatch(new RegExp(`^get namespace mesh-system at ${server}: .*ECONNREFUSED`));
  });
});
