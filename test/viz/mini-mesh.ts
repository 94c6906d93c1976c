// A small real mesh for the viz's tests: the CA and the destination, a `client-0` pod and a
// `web-0` pod (with an app that answers 500 on /fail) in their own /24, each proxy with its admin
// port on 4191 and its tap port on 4190, and the viz's certificate.
import { writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import pino from 'pino';
import type { TlsCredentials } from '../../proxy/identity/credentials.ts';
import { vizIdentity } from '../../viz/identity.ts';
import { startViz, type RunningViz, type VizOptions } from '../../viz/viz.ts';
import { controlPlane, eventually, handMadeCredentials, proxyArgs, startProxy, type ControlPlane, type RunningProxy } from '../helpers/control-plane.ts';
import { StopFailures } from '../helpers/teardown.ts';

export const ADMIN_PORT = 4191;
export const TAP_PORT = 4190;
const WEB = 'web.production.svc.cluster.local:8080';

const SERVICES = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: production }
spec:
  selector: { app: web }
  ports: [{ name: http, port: 8080, targetPort: 8080 }]
---
apiVersion: linkerd.io/v1alpha2
kind: ServiceProfile
metadata: { name: web.production.svc.cluster.local, namespace: production }
spec:
  routes:
  - name: GET /ok
    condition: { method: GET, pathRegex: /ok }
  - name: GET /fail
    condition: { method: GET, pathRegex: /fail }
`;

export interface MiniMesh {
  cp: ControlPlane;
  client: RunningProxy;
  web: RunningProxy;
  vizCredentials: TlsCredentials;
  /** One request from the client pod, through both proxies, to web; resolves with the status. */
  send(path: string): Promise<number>;
  close(): Promise<void>;
}

export async function startMiniMesh(net: string): Promise<MiniMesh> {
  // What has started so far, stopped in reverse by close(): also when a later start fails, so a
  // failed start leaves no app, proxy or control plane listening on the fixed ports.
  const started: Array<[what: string, stop: () => Promise<unknown>]> = [];
  const close = async () => {
    const failures = new StopFailures();
    const proxies = started.filter(([what]) => what.startsWith('proxy'));
    await Promise.all(proxies.map(([what, stop]) => failures.attempt(what, stop)));
    for (const [what, stop] of started.filter((s) => !proxies.includes(s)).reverse()) await failures.attempt(what, stop);
    failures.throwIfAny('stopping the mini mesh');
  };
  try {
    const cp = await controlPlane();
    started.push(['the control plane', () => cp.close()]);
    writeFileSync(join(cp.resourcesDir, 'services.yaml'), SERVICES);
    await cp.startIdentity(`${net}.250:0`);
    await cp.startDestination(`${net}.250:0`);
    const app: Server = createServer((req, res) => {
      res.statusCode = req.url === '/fail' ? 500 : 200;
      res.end('ok');
    });
    await new Promise<void>((r) => app.listen(8080, `${net}.2`, r));
    started.push(['the web app', () => new Promise<void>((resolve, reject) => app.close((err) => (err ? reject(err) : resolve())))]);
    const start = async (name: string, ip: string, sa: string, labels: Record<string, string>, ports: string[]) => {
      const proxy = await startProxy([...proxyArgs(cp, { name, serviceAccount: sa, ip, labels, ports }), '--admin-port', String(ADMIN_PORT), '--pod-deployment', name.replace(/-\d+$/, '')]);
      started.push([`proxy ${name}`, () => proxy.stop()]);
      return proxy;
    };
    const client = await start('client-0', `${net}.1`, 'client', { app: 'client' }, []);
    const web = await start('web-0', `${net}.2`, 'web', { app: 'web' }, ['http:8080']);
    await eventually(async () => (await Promise.all([client, web].map((p) => p.ready()))).every((r) => r.status === 200), 15_000, 'proxies ready');
    const vizCredentials = await handMadeCredentials(cp.ca, vizIdentity('cluster.local'));
    const send = (path: string) => new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: client.ip, port: client.outboundPort, path, method: 'GET', headers: { host: WEB } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end();
    });
    return { cp, client, web, vizCredentials, send, close };
  } catch (err) {
    await close().catch((stopErr: unknown) => {
      throw new AggregateError([err, stopErr], `the mini mesh failed to start (${(err as Error).message}), and to stop: ${(stopErr as Error).message}`);
    });
    throw err;
  }
}

/**
 * A viz over the mini mesh (its own listen address unless `extra` says otherwise), by default
 * once it sees both proxies ready: most tests that ask it anything start from there.
 */
export async function startVizOver(mesh: MiniMesh, extra: Partial<VizOptions> = {}, { untilReady = true } = {}): Promise<RunningViz> {
  const viz = await startViz({
    listen: '127.0.0.1:0', destinationAddr: mesh.cp.destination!.address, credentials: mesh.vizCredentials, trustDomain: 'cluster.local',
    scrapeIntervalMs: 1_000, adminPort: ADMIN_PORT, tapPort: TAP_PORT, logger: pino({ level: 'silent' }),
    ...extra,
  });
  if (!untilReady) return viz;
  await eventually(async () => {
    const res = await fetch(`http://${viz.address}/api/v1/pods`);
    return ((await res.json()) as { pods: Array<{ ready: boolean }> }).pods.filter((p) => p.ready).length === 2;
  }, 15_000, 'the viz to see both proxies ready');
  return viz;
}
