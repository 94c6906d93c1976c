// The benchmark's topology: an app on a server pod, an inbound proxy beside it, an outbound proxy
// on a client pod, each its own process, wired by development mode's Kubernetes YAML. The load generator
// (this process) plays the client app.
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { request } from 'undici';
import { devResources } from '../test/helpers/dev-resources.ts';
import { BenchProcess, tsProcess } from './processes.ts';

/** Loopback addresses of the bench's two pods (the bench's own range, clear of the tests'). */
export const CLIENT_POD = '127.0.23.100';
export const SERVER_POD = '127.0.23.101';
export const APP_PORT = 8080;
/** The Service `bench` in the namespace of the server's identity (a Service selects pods of its own namespace). */
export const AUTHORITY = `bench.bench.svc.cluster.local:${APP_PORT}`;

export interface ProxySide {
  args?: string[];
  env?: Record<string, string>;
}

export interface TopologyOptions {
  logDir: string;
  /** Name prefix of the processes and log files (two topologies may run in one bench). */
  name?: string;
  /** Pod addresses, when a mode runs two topologies side by side. */
  clientPod?: string;
  serverPod?: string;
  /** The identity the outbound proxy must find on the server (mTLS). */
  serverIdentity?: string;
  outbound?: ProxySide;
  inbound?: ProxySide;
  /** Run the app too (a second topology may reuse the first one's app). */
  startApp?: boolean;
  /** Node arguments that run `mesh proxy` (default `bin/mesh.js proxy`; see proxy-bundle.ts). */
  proxyCommand?: string[];
}

export interface Topology {
  /** The app, straight. */
  directUrl: string;
  /** The outbound proxy; send `Host: AUTHORITY`. */
  meshUrl: string;
  meshHeaders: Record<string, string>;
  app?: BenchProcess;
  outbound: BenchProcess;
  inbound: BenchProcess;
  adminUrl: { outbound: string; inbound: string };
  stop(): Promise<void>;
}

export async function startTopology(opts: TopologyOptions): Promise<Topology> {
  const prefix = opts.name ? `${opts.name}-` : '';
  const clientPod = opts.clientPod ?? CLIENT_POD;
  const serverPod = opts.serverPod ?? SERVER_POD;
  const started: BenchProcess[] = [];
  const stop = async () => {
    await Promise.all(started.map((p) => p.stop()));
  };
  try {
    const endpointsFile = join(opts.logDir, `${prefix}endpoints.json`);
    writeFileSync(endpointsFile, endpointsText(opts.proxyCommand, serverPod, opts.serverIdentity));

    let app: BenchProcess | undefined;
    if (opts.startApp ?? true) {
      app = tsProcess(`${prefix}app`, 'bench/upstream-server.ts', [serverPod, String(APP_PORT)], opts.logDir);
      started.push(app);
    }
    const proxyArgs = (pod: string, side: ProxySide | undefined, extra: string[]) => [
      ...(opts.proxyCommand ?? ['bin/mesh.js', 'proxy']), '--pod-ip', pod, '--endpoints-file', endpointsFile, ...extra, ...(side?.args ?? []),
    ];
    // Every proxy (this build's and a baseline's) with the malloc setting the demo and the injector give it.
    const proxy = (name: string, args: string[], env?: Record<string, string>) => new BenchProcess(name, args, join(opts.logDir, `${name}.log`), { MALLOC_ARENA_MAX: '2', ...env });
    const inbound = proxy(`${prefix}inbound-proxy`, proxyArgs(serverPod, opts.inbound, ['--app-port', String(APP_PORT)]), opts.inbound?.env);
    started.push(inbound);
    const outbound = proxy(`${prefix}outbound-proxy`, proxyArgs(clientPod, opts.outbound, []), opts.outbound?.env);
    started.push(outbound);

    const adminUrl = { outbound: `http://${clientPod}:4191`, inbound: `http://${serverPod}:4191` };
    const directUrl = `http://${serverPod}:${APP_PORT}`;
    await Promise.all([
      app ? app.waitFor(`${directUrl}/`) : Promise.resolve(),
      inbound.waitFor(`${adminUrl.inbound}/ready`),
      outbound.waitFor(`${adminUrl.outbound}/ready`),
    ]);
    return {
      directUrl,
      meshUrl: `http://${clientPod}:4140`,
      meshHeaders: { host: AUTHORITY },
      app,
      outbound,
      inbound,
      adminUrl,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One request through the mesh must return what the app returns directly, before any timing. */
export async function checkSamePath(t: Topology): Promise<void> {
  const direct = await (await request(`${t.directUrl}/`)).body.text();
  const res = await request(`${t.meshUrl}/`, { headers: t.meshHeaders });
  const meshed = await res.body.text();
  if (res.statusCode !== 200 || meshed !== direct) {
    throw new Error(`the mesh path does not work: status ${res.statusCode}, body ${JSON.stringify(meshed.slice(0, 200))}; ` +
      `l5d-proxy-error: ${String(res.headers['l5d-proxy-error'] ?? '-')}\noutbound log:\n${t.outbound.tail()}\ninbound log:\n${t.inbound.tail()}`);
  }
}

/**
 * `--endpoints-file` for a build: development mode's Kubernetes YAML; for a `--baseline-proxy`
 * build from before development mode read it, the static file that build reads instead.
 */
function endpointsText(proxyCommand: string[] | undefined, serverPod: string, identity: string | undefined): string {
  // The first argument that is not a Node flag (`--proxy-node-flags` come before it) names the build.
  const tree = resolve(dirname(proxyCommand?.find((arg) => !arg.startsWith('-')) ?? 'bin/mesh.js'), '..');
  if (!existsSync(join(tree, 'proxy/discovery/dev-resolver.ts'))) {
    const endpoint = { address: `${serverPod}:${APP_PORT}`, inboundPort: 4143, ...(identity ? { identity } : {}) };
    return JSON.stringify({ services: { [AUTHORITY]: { endpoints: [endpoint] } } });
  }
  return devResources({ name: 'bench-server-0', ip: serverPod, inboundPort: 4143, identity }, [{ authority: AUTHORITY, port: APP_PORT }]);
}
