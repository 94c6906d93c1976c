// Two meshed pods in network namespaces of a NetnsLab, intercepted as in a cluster: an identity CA
// in the hub, `mesh proxy-init` in each pod, and each pod's proxy running as its own user with
// --transparent. Development-mode discovery knows the server pod and its Service (with a
// clusterIP). Shared by the interception tests and the interception benchmark.
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { joinHostPort } from '../../api/host-port.ts';
import { runMesh } from '../cli/run-mesh.ts';
import { devPod, devResources } from './dev-resources.ts';
import { withoutProxyVariables, type NetnsLab } from './netns.ts';

const MESH = join(import.meta.dirname, '../../bin/mesh.js');
export const PROXY_UID = 2102;
export const CLIENT_ID = 'spiffe://cluster.local/ns/demo/sa/client';
export const SERVER_ID = 'spiffe://cluster.local/ns/demo/sa/server';
/** The server Service's virtual address: no interface has it; only the client's proxy makes it real. */
export const CLUSTER_IP = '10.237.1.10';

type Pod = { ns: string; ip: string };

export interface PairOptions {
  client: Pod;
  server: Pod;
  /** A port skipped both ways (outbound at the client, inbound at the server). */
  skipPort: number;
  /** The server app's port (the server's proxy has no --app-port: a redirected caller's own port tells it). */
  appPort: number;
  /**
   * A server port that carries an opaque protocol: a port of the Service (`config.linkerd.io/opaque-ports`,
   * for callers' proxies) and in the server proxy's `--opaque-ports` (for callers outside the mesh).
   */
  opaquePort?: number;
  /** The client pod's rules for ip6tables too (`mesh proxy-init --ipv6`): its IPv6 connections go through its proxy. */
  ipv6?: boolean;
  /**
   * A dual-stack server pod: its addresses, the pod IP (`server.ip`) first and then the other
   * family's (status.podIPs). Its rules are written for ip6tables too, and its proxy gets them as `--pod-ips`.
   */
  serverPodIps?: string[];
  /** Where the client's proxy binds its outbound listener (`--outbound-ip`): 127.0.0.1 unless given (0.0.0.0, the other address --transparent takes). */
  clientOutboundIp?: string;
}

/** Starts the CA, installs the rules and starts both proxies; resolves when both are ready. */
export async function startTransparentPair(lab: NetnsLab, o: PairOptions): Promise<{ dir: string; close(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-intercept-'));
  chmodSync(dir, 0o755); // the proxies run as their own user and read their files here
  const close = () => rmSync(dir, { recursive: true, force: true });
  try {
    const idDir = join(dir, 'identity');
    const init = await runMesh(['identity', 'init', '--dir', idDir]);
    if (init.code !== 0) throw new Error(`mesh identity init: ${init.err}`);
    copyFileSync(join(idDir, 'ca.crt'), join(dir, 'ca.crt'));
    for (const sa of ['client', 'server']) {
      const token = await runMesh(['identity', 'token', '--dir', idDir, '--namespace', 'demo', '--service-account', sa]);
      if (token.code !== 0) throw new Error(`mesh identity token: ${token.err}`);
      writeFileSync(join(dir, `${sa}.token`), token.out.trim(), { mode: 0o644 });
    }
    const resources = devResources({ name: 'server', ip: o.server.ip, inboundPort: 4143, identity: SERVER_ID }, [{ authority: `server.demo.svc.cluster.local:${o.appPort}`, port: o.appPort }], [
      devPod({ name: 'client', ip: o.client.ip, inboundPort: 4143 }, 'demo', 'client'),
    ]);
    // The Service also gets a virtual address (and port 80 of its own), as in a cluster: apps dial that.
    const list = JSON.parse(resources) as { items: Array<{ kind: string; spec: Record<string, unknown> }> };
    const svc = list.items.find((i) => i.kind === 'Service')! as { spec: Record<string, unknown>; metadata?: Record<string, unknown> };
    svc.spec['clusterIP'] = CLUSTER_IP;
    svc.spec['ports'] = [{ name: 'http', port: o.appPort, targetPort: o.appPort }, { name: 'web', port: 80, targetPort: o.appPort }];
    if (o.opaquePort !== undefined) {
      (svc.spec['ports'] as unknown[]).push({ name: 'opaque', port: o.opaquePort, targetPort: o.opaquePort });
      svc.metadata = { ...svc.metadata, annotations: { 'config.linkerd.io/opaque-ports': String(o.opaquePort) } };
    }
    // A dual-stack server: its Pod lists both addresses, as the API gives status.podIPs (the pod IP first).
    if (o.serverPodIps) {
      for (const item of list.items) if (item.kind === 'Pod' && (item as { metadata?: { name?: string } }).metadata?.name === 'server') {
        (item as unknown as { status: Record<string, unknown> }).status['podIPs'] = o.serverPodIps.map((ip) => ({ ip }));
      }
    }
    writeFileSync(join(dir, 'resources.json'), JSON.stringify(list), { mode: 0o644 });

    const logLevel = process.env['MESH_TEST_LOG'] ?? 'warn';
    const identity = lab.spawn(lab.hub, [process.execPath, MESH, 'identity', 'serve', '--dir', idDir, '--addr', `${lab.hubIp}:8080`]);
    for (const [pod, args] of [[o.client, ['--skip-outbound-ports', String(o.skipPort), ...(o.ipv6 ? ['--ipv6'] : [])]], [o.server, ['--skip-inbound-ports', String(o.skipPort), ...(o.serverPodIps ? ['--ipv6'] : [])]]] as const) {
      const r = await lab.run(pod.ns, [process.execPath, MESH, 'proxy-init', '--proxy-uid', String(PROXY_UID), ...args]);
      if (r.code !== 0) throw new Error(`mesh proxy-init in ${pod.ns}: ${r.err}`);
    }
    const proxy = (pod: Pod, sa: string, extra: string[], outboundIp = '127.0.0.1') =>
      lab.spawn(pod.ns, [process.execPath, MESH, 'proxy', '--pod-ip', pod.ip, '--outbound-ip', outboundIp, '--transparent',
        '--identity-addr', `${lab.hubIp}:8080`, '--trust-anchors', join(dir, 'ca.crt'), '--token-file', join(dir, `${sa}.token`),
        '--pod-namespace', 'demo', '--service-account', sa, '--pod-name', sa, '--endpoints-file', join(dir, 'resources.json'), ...extra],
        { uid: PROXY_UID, env: { ...withoutProxyVariables(), MESH_LOG_LEVEL: logLevel } });
    const serverArgs = [...(o.opaquePort !== undefined ? ['--opaque-ports', String(o.opaquePort)] : []), ...(o.serverPodIps ? ['--pod-ips', o.serverPodIps.join(',')] : [])];
    const proxies = [proxy(o.client, 'client', [], o.clientOutboundIp), proxy(o.server, 'server', serverArgs)];
    for (const p of [identity, ...proxies]) p.stderr!.on('data', (d: Buffer) => process.env['MESH_TEST_LOG'] && process.stderr.write(d));
    // Ready: each proxy holds its certificate (its admin /ready says so).
    for (const pod of [o.client, o.server]) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const r = await lab.run(pod.ns, ['curl', '-sfg', `http://${joinHostPort(pod.ip, 4191)}/ready`]);
        if (r.code === 0) break;
        if (Date.now() > deadline) throw new Error(`proxy of ${pod.ns} not ready in 60 s: ${r.out}${r.err}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    return { dir, close };
  } catch (err) {
    close();
    throw err;
  }
}
