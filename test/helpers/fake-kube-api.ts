// A stand-in for a Kubernetes API server, for behaviour a real one will not show on demand (a watch
// ended by an error event, a server gone silent, a CRD appearing mid-test): a real HTTPS server on
// port 0 with a certificate from a test CA, and a kubeconfig that trusts it. The handler answers.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeApi } from '../../api/kubernetes/kube-api.ts';
import { testPki } from './pki.ts';

export interface FakeKubeApi {
  api: KubeApi;
  close(): void;
}

export async function fakeKubeApi(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<FakeKubeApi> {
  const pki = await testPki();
  const tls = (await pki.credentialsFor('kube-system/apiserver', { ipAddresses: ['127.0.0.1'] })).current();
  const server: Server = createServer({ ...tls }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dir = mkdtempSync(join(tmpdir(), 'mesh-fake-kube-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster: { server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, 'certificate-authority-data': Buffer.from(pki.anchorPem).toString('base64') } }],
    users: [{ name: 'test', user: { token: 'x' } }],
    contexts: [{ name: 'test', context: { cluster: 'test', user: 'test' } }],
  }));
  return {
    api: KubeApi.load(kubeconfig),
    close: () => {
      server.closeAllConnections();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
