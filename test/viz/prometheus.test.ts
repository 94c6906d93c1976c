// `mesh viz serve --prometheus URL` against a real Prometheus (Debian's `prometheus` package),
// started here with the configuration `mesh viz prometheus-config` prints: it finds the proxies
// through the viz's service discovery, and the viz's stat from Prometheus agrees with the stat
// the viz computes from its own scrapes.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusMetrics } from '../../viz/metrics/prometheus-source.ts';
import type { StatRow } from '../../viz/query/stat.ts';
import { startViz, type RunningViz } from '../../viz/viz.ts';
import { eventually } from '../helpers/control-plane.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { ADMIN_PORT, startMiniMesh, startVizOver, TAP_PORT, type MiniMesh } from './mini-mesh.ts';

const NET = await addressBlock();
const PROMETHEUS = `${NET}.251:9090`;
const VIZ = `${NET}.252:8085`;
const root = join(import.meta.dirname, '../..');

let mesh: MiniMesh;
let fromPrometheus: RunningViz;
let fromScrapes: RunningViz;
let prometheus: ChildProcess;
let prometheusLog = '';
const dir = mkdtempSync(join(tmpdir(), 'viz-prometheus-'));

async function stat(viz: RunningViz, query: string): Promise<StatRow[]> {
  const res = await fetch(`http://${viz.address}/api/v1/stat?${query}`);
  const body = (await res.json()) as { rows: StatRow[]; error?: { message: string } };
  if (res.status !== 200) throw new Error(body.error?.message);
  return body.rows;
}

beforeAll(async () => {
  mesh = await startMiniMesh(NET);
  const common = {
    destinationAddr: mesh.cp.destination!.address, credentials: mesh.vizCredentials, trustDomain: 'cluster.local',
    scrapeIntervalMs: 1_000, adminPort: ADMIN_PORT, tapPort: TAP_PORT, logger: pino({ level: 'silent' }),
  };
  fromPrometheus = await startViz({ ...common, listen: VIZ, prometheus: new PrometheusMetrics(new URL(`http://${PROMETHEUS}`)) });
  fromScrapes = await startViz({ ...common, listen: '127.0.0.1:0' });
  // The configuration exactly as the command prints it.
  const config = execFileSync(process.execPath, ['bin/mesh.js', 'viz', 'prometheus-config', '--viz-addr', VIZ, '--scrape-interval', '1s'], { cwd: root, encoding: 'utf8' });
  writeFileSync(join(dir, 'prometheus.yml'), config);
  prometheus = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--web.listen-address=${PROMETHEUS}`, `--storage.tsdb.path=${join(dir, 'data')}`,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  prometheus.on('error', (err) => (prometheusLog += `cannot run prometheus (apt-get install prometheus): ${err.message}\n`));
  prometheus.stdout!.on('data', (d) => (prometheusLog += d));
  prometheus.stderr!.on('data', (d) => (prometheusLog += d));
  await eventually(async () => {
    if (prometheus.exitCode !== null) throw new Error(`prometheus exited:\n${prometheusLog}`);
    const res = await fetch(`http://${PROMETHEUS}/api/v1/targets?state=active`);
    const body = (await res.json()) as { data: { activeTargets: Array<{ health: string }> } };
    return body.data.activeTargets.length === 2 && body.data.activeTargets.every((t) => t.health === 'up');
  }, 30_000, `Prometheus to find and scrape both proxies\n${prometheusLog}`);
}, 60_000);

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  await fromPrometheus?.close();
  await fromScrapes?.close();
  await mesh?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the viz over Prometheus', () => {
  it('lists the targets Prometheus scrapes, labelled with namespace, deployment and pod', async () => {
    const res = await fetch(`http://${VIZ}/api/v1/prometheus-targets`);
    const groups = (await res.json()) as Array<{ targets: string[]; labels: Record<string, string> }>;
    expect(groups.map((g) => [g.targets[0], g.labels.deployment, g.labels.pod]).sort()).toEqual([
      [`${NET}.1:4191`, 'client', 'client-0'],
      [`${NET}.2:4191`, 'web', 'web-0'],
    ]);
  });

  it('answers stat with the success rate and mTLS share of the requests sent', async () => {
    // Prometheus' rate() counts growth between samples: a series' first sample is its start, so
    // the series must exist (and be scraped once) before the requests that are measured.
    await Promise.all([mesh.send('/ok'), mesh.send('/fail')]);
    await eventually(async () => {
      const res = await fetch(`http://${PROMETHEUS}/api/v1/query?query=${encodeURIComponent('count(response_total{direction="inbound",deployment="web"})')}`);
      return ((await res.json()) as { data: { result: unknown[] } }).data.result.length > 0;
    }, 15_000, 'Prometheus to hold web\'s response series');
    await new Promise((r) => setTimeout(r, 2_000));
    const statuses = await Promise.all([...Array(40).keys()].map((i) => mesh.send(i % 4 === 0 ? '/fail' : '/ok')));
    expect(statuses.filter((s) => s === 500)).toHaveLength(10);
    let prom: StatRow | undefined;
    let own: StatRow | undefined;
    let last = '';
    await eventually(async () => {
      [prom] = await stat(fromPrometheus, 'resource=deploy/web&namespace=production&window=30s');
      [own] = await stat(fromScrapes, 'resource=deploy/web&namespace=production&window=30s');
      last = JSON.stringify({ prom, own });
      return prom?.success !== null && prom?.success !== undefined && Math.abs(prom.success - 0.75) < 0.01 && own?.success !== null;
    }, 30_000, 'both vizzes to see the 40 requests').catch((err) => {
      throw new Error(`${(err as Error).message}; last answers: ${last}`);
    });
    expect(prom!.mtls).toBeCloseTo(1, 2);
    expect(prom!.meshed).toEqual({ ready: 1, total: 1 });
    expect(prom!.rps).toBeGreaterThan(0);
    // 40 requests in a 30 s window; Prometheus extrapolates to the window's edges, so about.
    expect(prom!.rps * 30).toBeGreaterThan(30);
    expect(prom!.rps * 30).toBeLessThan(55);
    expect(own!.success).not.toBeNull();
    expect(prom!.latencyMs!.p50).toBeGreaterThan(0);
  });

  it('says which Prometheus failed and why when it cannot be reached', async () => {
    const gone = await startVizOver(mesh, { prometheus: new PrometheusMetrics(new URL('http://127.0.0.1:9')) }, { untilReady: false });
    try {
      const res = await fetch(`http://${gone.address}/api/v1/stat?resource=deploy`);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: { message: string } }).error.message).toContain('Prometheus at http://127.0.0.1:9/');
    } finally {
      await gone.close();
    }
  });
});
