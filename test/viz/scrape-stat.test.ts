// The viz over a real control plane and real proxies: it finds the pods through the
// destination's WatchPods (refused to a caller without a mesh identity), scrapes each proxy's
// /metrics, and its stat matches the requests sent, exactly in counts; bad input is a clear 4xx.
import * as grpc from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destinationProto } from '../../api/destination-proto.ts';
import type { RunningViz } from '../../viz/viz.ts';
import type { EdgeRow } from '../../viz/query/edges.ts';
import type { RouteRow } from '../../viz/query/routes.ts';
import type { StatRow } from '../../viz/query/stat.ts';
import { eventually } from '../helpers/control-plane.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { startMiniMesh, startVizOver, type MiniMesh } from './mini-mesh.ts';

let mesh: MiniMesh;
let viz: RunningViz;
const send = (path: string) => mesh.send(path);

async function api<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`http://${viz.address}${path}`);
  return { status: res.status, body: (await res.json()) as T };
}

beforeAll(async () => {
  mesh = await startMiniMesh(await addressBlock());
  viz = await startVizOver(mesh);
}, 30_000);

afterAll(async () => {
  await viz?.close();
  await mesh?.close();
});

describe('finding pods', () => {
  it('lists every registered pod with its proxy ready', async () => {
    await eventually(async () => (await api<{ pods: Array<{ ready: boolean }> }>('/api/v1/pods')).body.pods.filter((p) => p.ready).length === 2, 15_000, 'both pods ready in the viz');
    const { body } = await api<{ pods: Array<{ name: string; deployment: string; identity: string }> }>('/api/v1/pods');
    expect(body.pods.map((p) => [p.name, p.deployment, p.identity])).toEqual([
      ['client-0', 'client', 'spiffe://cluster.local/ns/production/sa/client'],
      ['web-0', 'web', 'spiffe://cluster.local/ns/production/sa/web'],
    ]);
  });

  it('WatchPods refuses a caller without a mesh identity, saying what it needs', async () => {
    const { Pods } = destinationProto();
    const creds = grpc.credentials.createSsl(Buffer.from(mesh.cp.ca.material.trustAnchorsPem), null, null, { checkServerIdentity: () => undefined });
    const stub = new Pods(mesh.cp.destination!.address, creds, { 'grpc.ssl_target_name_override': 'destination' }) as unknown as { watchPods(r: object): grpc.ClientReadableStream<unknown> };
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const call = stub.watchPods({});
      call.on('data', () => undefined);
      call.on('error', resolve);
    });
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err.details).toContain('client certificate from the mesh CA');
    (stub as unknown as grpc.Client).close();
  });
});

describe('stat', () => {
  it("counts web's inbound requests exactly: 30 sent, 6 failed, all over mTLS", async () => {
    const statuses = await Promise.all([...Array(30).keys()].map((i) => send(i % 5 === 0 ? '/fail' : '/ok')));
    expect(statuses.filter((s) => s === 500)).toHaveLength(6);
    let row: StatRow | undefined;
    await eventually(async () => {
      const { body } = await api<{ rows: StatRow[] }>('/api/v1/stat?resource=deploy/web&namespace=production&window=10s');
      row = body.rows[0];
      // rps * window covers every request once the scrape after the traffic is in.
      return row?.success !== null && row?.success !== undefined && Math.abs(row.success - 24 / 30) < 1e-9;
    }, 15_000, 'the stat to see all 30 requests');
    expect(row!.meshed).toEqual({ ready: 1, total: 1 });
    expect(row!.mtls).toBe(1);
    expect(row!.rps).toBeGreaterThan(0);
    expect(row!.latencyMs!.p50).toBeGreaterThan(0);
    expect(row!.latencyMs!.p99).toBeGreaterThanOrEqual(row!.latencyMs!.p50);
    expect(row!.tcpConnections).toBeGreaterThanOrEqual(1);
  });

  it('--from deploy/client: what client sent, by destination; --to deploy/web: by sender', async () => {
    let from: StatRow[] = [];
    // client's proxy is scraped on its own schedule: wait until its scrape after the traffic is in.
    await eventually(async () => {
      from = (await api<{ rows: StatRow[] }>('/api/v1/stat?resource=deploy&from=deploy/client&window=1m')).body.rows;
      return from.length === 1 && Math.abs(from[0]!.success! - 24 / 30) < 1e-9;
    }, 10_000, "client's outbound side to show the 30 requests");
    expect(from.map((r) => [r.name, r.tcpConnections])).toEqual([['web', null]]);
    const to = (await api<{ rows: StatRow[] }>('/api/v1/stat?resource=deploy&to=deploy/web&window=1m')).body.rows;
    expect(to.map((r) => r.name)).toEqual(['client']);
    expect(to[0]!.rps).toBeCloseTo(from[0]!.rps, 9);
  });

  it('shows idle deployments too, with their meshed pods', async () => {
    const { body } = await api<{ rows: StatRow[] }>('/api/v1/stat?resource=deploy&window=1m');
    expect(body.rows.map((r) => [r.name, r.meshed])).toEqual([['client', { ready: 1, total: 1 }], ['web', { ready: 1, total: 1 }]]);
  });

  it('takes an empty parameter as one not given (a form field left blank): the default window', async () => {
    const { status, body } = await api<{ window: string; rows: StatRow[] }>('/api/v1/stat?resource=deploy&window=&namespace=&from=&to=');
    expect(status).toBe(200);
    expect(body.window).toBe('1m');
    expect(body.rows.map((r) => r.name)).toEqual(['client', 'web']);
  });

  it.each([
    ['resource=dpl/web', 400, 'unknown resource kind "dpl"'],
    ['resource=deploy/web&window=1y', 400, 'window "1y" is not a duration'],
    ['resource=deploy/web&window=1h', 400, 'out of range'],
    ['resource=deploy/nothing&namespace=production', 404, 'deployment nothing in namespace production has no registered pod'],
    ['resource=deploy&colour=blue', 400, 'unknown parameter "colour"'],
    ['namespace=production', 400, 'parameter "resource" is required'],
  ])('refuses %s with %i and a reason', async (query, status, message) => {
    const { status: got, body } = await api<{ error: { code: string; message: string } }>(`/api/v1/stat?${query}`);
    expect(got).toBe(status);
    expect(body.error.message).toContain(message);
  });
});

describe('edges, routes and versions', () => {
  it('client -> web over mTLS, with both identities', async () => {
    await eventually(async () => (await api<{ rows: EdgeRow[] }>('/api/v1/edges?resource=deploy&window=1m')).body.rows.length > 0, 10_000, 'an edge');
    const { body } = await api<{ rows: EdgeRow[] }>('/api/v1/edges?resource=deploy&window=1m');
    expect(body.rows).toEqual([expect.objectContaining({
      src: 'client', dst: 'web', srcNamespace: 'production', dstNamespace: 'production', secured: true,
      clientId: 'spiffe://cluster.local/ns/production/sa/client', serverId: 'spiffe://cluster.local/ns/production/sa/web',
    })]);
  });

  it('per route, from the callers: deploy/web, svc/web and client --to web agree', async () => {
    const read = async (query: string) => (await api<{ rows: RouteRow[] }>(`/api/v1/routes?${query}&window=1m`)).body.rows;
    const [byDeploy, bySvc, byCaller] = await Promise.all([
      read('resource=deploy/web&namespace=production'), read('resource=svc/web&namespace=production'), read('resource=deploy/client&namespace=production&to=deploy/web'),
    ]);
    expect(byDeploy.map((r) => r.route)).toEqual(['GET /fail', 'GET /ok']);
    expect(bySvc).toEqual(byDeploy);
    expect(byCaller).toEqual(byDeploy);
    const fail = byDeploy[0]!;
    expect(fail.authority).toBe('web.production.svc.cluster.local:8080');
    expect(fail.effective.success).toBe(0);
    expect(byDeploy[1]!.effective.success).toBe(1);
    // No retries on these routes: every attempt is a request.
    expect(fail.actual.rps).toBeCloseTo(fail.effective.rps, 9);
  });

  it('--proxy-version-mismatch lists nothing when every proxy is the control plane\'s version', async () => {
    const { body } = await api<{ rows: StatRow[] }>('/api/v1/stat?resource=deploy&proxyVersionMismatch=true');
    expect(body.rows).toEqual([]);
    const pods = (await api<{ controlPlaneVersion: string; pods: Array<{ proxyVersion: string }> }>('/api/v1/pods')).body;
    expect(pods.pods.map((p) => p.proxyVersion)).toEqual([pods.controlPlaneVersion, pods.controlPlaneVersion]);
  });
});

describe('mesh viz stat', () => {
  const meshCli = (args: string[]) => new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(process.execPath, ['bin/mesh.js', 'viz', 'stat', ...args, '--viz-addr', viz.address], { cwd: join(import.meta.dirname, '../..') }, (err, out, errOut) => {
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, out, err: errOut });
    });
  });

  it('prints the table: a header and a row per deployment', async () => {
    const r = await meshCli(['deploy', '-n', 'production', '-t', '1m']);
    expect(r.err).toBe('');
    const [header, ...rows] = r.out.trimEnd().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'MESHED', 'SUCCESS', 'RPS', 'LATENCY_P50', 'LATENCY_P95', 'LATENCY_P99', 'TCP_CONN', 'MTLS']);
    expect(rows.map((r) => r.split(/\s+/)[0])).toEqual(['client', 'web']);
    expect(rows[1]).toMatch(/^web\s+1\/1\s+80\.00%\s+\d+\.\drps\s+\d+ms\s+\d+ms\s+\d+ms\s+\d+\s+100%$/);
  });

  it('--proxy-version-mismatch with no straggler says so, not that there is no traffic', async () => {
    const r = await meshCli(['--proxy-version-mismatch']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toBe('No proxy is older than the control plane: every pod runs its version, none needs a restart.\n');
  });

  it('says what is wrong with a bad kind, exit 2, before asking the viz', async () => {
    const r = await meshCli(['deployz']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown resource kind "deployz"');
  });

  it('names the address when the viz cannot be reached', async () => {
    const r = await new Promise<{ code: number; err: string }>((resolve) => {
      execFile(process.execPath, ['bin/mesh.js', 'viz', 'stat', 'deploy', '--viz-addr', '127.0.0.1:9'], { cwd: join(import.meta.dirname, '../..') }, (err, _out, errOut) => resolve({ code: (err as { code?: number } | null)?.code ?? 0, err: errOut }));
    });
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot reach the viz at 127.0.0.1:9');
  });
});
