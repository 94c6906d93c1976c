// Behaviour-test harness: a real proxy (real edges, stacks and endpoint clients) driven by an
// in-test Resolver whose endpoints, profiles and policies the test changes live, and real app
// servers on the test's own loopback /24 (address-block.ts).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { EndpointSet, InboundPolicy, Profile } from '../../api/destination-types.ts';
import type { Resolver } from '../../proxy/discovery/resolver.ts';
import { Watched } from '../../proxy/discovery/watched.ts';
import { loadConfig } from '../../proxy/config.ts';
import type { Layer } from '../../proxy/http/message.ts';
import type { TlsCredentials } from '../../proxy/identity/credentials.ts';
import { createLogger } from '../../api/log.ts';
import { Proxy } from '../../proxy/proxy.ts';

export class TestResolver implements Resolver {
  private readonly eps = new Map<string, Watched<EndpointSet>>();
  private readonly profiles = new Map<string, Watched<Profile>>();
  private readonly policies = new Map<number, Watched<InboundPolicy>>();

  endpoints(authority: string): Watched<EndpointSet> {
    return this.cell(this.eps, authority, () => ({ kind: 'unknown' }));
  }

  profile(authority: string): Watched<Profile> {
    return this.cell(this.profiles, authority, () => ({ fqdn: authority.split(':')[0]!, routes: [], httpRoutes: [] }));
  }

  inboundPolicy(port: number): Watched<InboundPolicy> {
    return this.cell(this.policies, port, () => ({ port, authorizations: [], defaultPolicy: 'all-unauthenticated', clusterNetworks: [] }));
  }

  close(): void {}

  setEndpoints(authority: string, addresses: string[]): void {
    this.endpoints(authority).set({ kind: 'endpoints', endpoints: addresses.map((address) => ({ address, weight: 1, labels: {} })) });
  }

  private cell<K, T>(map: Map<K, Watched<T>>, key: K, initial: () => T): Watched<T> {
    let w = map.get(key);
    if (!w) map.set(key, (w = new Watched<T>(initial())));
    return w;
  }
}

export interface RunningProxy {
  proxy: Proxy;
  outboundUrl: string;
  inboundPort: number;
  logs: Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startProxy(
  podIp: string,
  resolver: Resolver,
  extra: { authorize?: Layer; credentials?: TlsCredentials; args?: string[] } = {},
): Promise<RunningProxy> {
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const config = loadConfig(['--pod-ip', podIp, '--outbound-port', '0', '--inbound-port', '0', '--admin-port', '0', ...(extra.args ?? [])], {});
  const logger = createLogger('proxy', { destination, level: 'info' });
  const proxy = new Proxy(config, { resolver, logger, authorize: extra.authorize, credentials: extra.credentials });
  const a = await proxy.start();
  return { proxy, outboundUrl: `http://${podIp}:${a.outbound.port}`, inboundPort: a.inbound.port, logs, close: () => proxy.shutdown('test done') };
}

export interface App {
  address: string;
  hits: number;
  server: Server;
  close(): Promise<void>;
}

export async function startApp(ip: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<App> {
  const server = createServer();
  const app: App = { address: '', hits: 0, server, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  server.on('request', (req, res) => {
    app.hits++;
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, ip, r));
  app.address = `${ip}:${(server.address() as AddressInfo).port}`;
  return app;
}
