// One probe attempt, as the kubelet makes it: straight to the container's address (never through
// the mesh). httpGet succeeds on a status from 200 to 399, tcpSocket on a connection, grpc on
// grpc.health.v1.Health/Check answering SERVING; each bounded by timeoutSeconds.
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { Agent, request } from 'undici';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';
import { projectRoot } from '../../../api/locate.ts';

// Loaded once, from the project (the runner may run from bin/mesh.js's bundle, where a path
// relative to this file does not lead to the protos); every grpc probe shares the client class.
let Health: grpc.ServiceClientConstructor | undefined;
function healthClient(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(join(projectRoot, 'examples/orders-checkout/proto/health.proto'), { keepCase: false, longs: Number, enums: String, defaults: true });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
  return loaded.grpc.health.v1.Health;
}
import type { ProbeAction } from './probe-spec.ts';
import { joinHostPort } from '../../../api/host-port.ts';

export interface ProbeOutcome {
  ok: boolean;
  /** Why it failed (or what it saw), for the pod's events and logs. */
  detail: string;
}

/** Runs `action` against the pod at `podIp`, giving up after `timeoutMs`. */
export async function probeOnce(action: ProbeAction, podIp: string, timeoutMs: number): Promise<ProbeOutcome> {
  const host = ('host' in action && action.host) || podIp;
  try {
    if (action.kind === 'httpGet') return await httpGet(action.scheme, host, action.port, action.path, action.headers, timeoutMs);
    if (action.kind === 'tcpSocket') return await tcpConnect(host, action.port, timeoutMs);
    return await grpcHealth(host, action.port, action.service, timeoutMs);
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
}

/** The kubelet's HTTPS probe checks no certificate: one dispatcher that trusts any, shared by every such probe. */
let insecureTls: Agent | undefined;

async function httpGet(scheme: 'HTTP' | 'HTTPS', host: string, port: number, path: string, headers: Array<{ name: string; value: string }>, timeoutMs: number): Promise<ProbeOutcome> {
  const url = `${scheme.toLowerCase()}://${joinHostPort(host, port)}${path}`;
  const res = await request(url, {
    method: 'GET',
    ...(scheme === 'HTTPS' ? { dispatcher: (insecureTls ??= new Agent({ connect: { rejectUnauthorized: false } })) } : {}),
    headers: { 'user-agent': 'kube-probe/mesh', ...Object.fromEntries(headers.map((h) => [h.name, h.value])) },
    signal: AbortSignal.timeout(timeoutMs),
  });
  await res.body.dump();
  const ok = res.statusCode >= 200 && res.statusCode < 400;
  return { ok, detail: `GET ${url}: HTTP ${res.statusCode}` };
}

function tcpConnect(host: string, port: number, timeoutMs: number): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs, () => { socket.destroy(); resolve({ ok: false, detail: `connect ${host}:${port}: timed out after ${timeoutMs} ms` }); });
    socket.once('connect', () => { socket.destroy(); resolve({ ok: true, detail: `connect ${host}:${port}: ok` }); });
    socket.once('error', (err) => resolve({ ok: false, detail: `connect ${host}:${port}: ${err.message}` }));
  });
}

function grpcHealth(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeOutcome> {
  Health ??= healthClient();
  const client = new Health(`${host}:${port}`, grpc.credentials.createInsecure());
  return new Promise<ProbeOutcome>((resolve) => {
    client.check({ service }, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: { status?: string } | undefined) => {
      if (err) return resolve({ ok: false, detail: `grpc health ${host}:${port} "${service}": ${err.details || err.message}` });
      resolve({ ok: res?.status === 'SERVING', detail: `grpc health ${host}:${port} "${service}": ${res?.status}` });
    });
  }).finally(() => client.close());
}
