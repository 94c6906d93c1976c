// Tap through the viz over real proxies: events from a selected pod within 2 s, in Linkerd's
// line format; a filter that matches nothing says so when the tap ends; a malformed filter, an
// unknown pod and a proxy killed mid-tap each give a clear error, and nothing hangs.
import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sidecarEnvironment } from '../../examples/orders-checkout/runner/mesh-commands.ts';
import type { RunningViz } from '../../viz/viz.ts';
import { eventually, spawnProxy, type ChildProxy } from '../helpers/control-plane.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { startMiniMesh, startVizOver, type MiniMesh } from './mini-mesh.ts';

const NET = await addressBlock();
const root = join(import.meta.dirname, '../..');
let mesh: MiniMesh;
let viz: RunningViz;

beforeAll(async () => {
  mesh = await startMiniMesh(NET);
  viz = await startVizOver(mesh);
}, 40_000);

afterAll(async () => {
  await viz?.close();
  await mesh?.close();
});

/** `mesh viz tap ...` as a user runs it; resolves when it exits. */
function tapCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/mesh.js', 'viz', 'tap', ...args, '--viz-addr', viz.address], { cwd: root, timeout: 30_000 }, (err, out, errOut) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: errOut });
    });
  });
}

/** Sends a request every 100 ms until `done` settles. */
async function trafficUntil<T>(done: Promise<T>, path = '/ok'): Promise<T> {
  let over = false;
  void done.finally(() => (over = true));
  while (!over) {
    await mesh.send(path);
    await new Promise((r) => setTimeout(r, 100));
  }
  return done;
}

describe('mesh viz tap', () => {
  it("prints the client's outbound requests to web within 2 s, in Linkerd's format", async () => {
    const started = Date.now();
    const r = await trafficUntil(tapCli(['deploy/client', '-n', 'production', '--to', 'deploy/web', '--path', '/ok', '--limit', '2']));
    expect(r.code, r.err).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    const lines = r.out.trim().split('\n');
    const id = /^req id=(\S+) /.exec(lines[0]!)?.[1];
    expect(lines[0]).toMatch(new RegExp(`^req id=\\S+ proxy=out src=\\S+ dst=${NET}\\.2:\\d+ tls=true :method=GET :authority=web\\.production\\.svc\\.cluster\\.local:8080 :path=/ok$`));
    const own = lines.filter((l) => l.includes(`id=${id} `));
    expect(own[1]).toMatch(/^rsp id=\S+ proxy=out src=\S+ dst=\S+ tls=true :status=200 latency=\d+µs$/);
    expect(own[2]).toMatch(/^end id=\S+ proxy=out src=\S+ dst=\S+ tls=true duration=\d+µs response-length=2B$/);
    expect(r.err).toMatch(/tap ended: 2 requests reported in \d+s from 1 proxy/);
  });

  it('shows the first events of a tap within 2 s of the request', async () => {
    const res = await fetch(`http://${viz.address}/api/v1/tap?resource=deploy/web&namespace=production`);
    const reader = res.body!.getReader();
    let text = '';
    const starts = () => text.split('"requestInit"').length - 1;
    const readUntil = async (count: number) => {
      while (starts() < count) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the tap ended after ${starts()} requests`);
        text += Buffer.from(value).toString();
      }
    };
    // The tap is open on the proxy once a first request shows in it (no fixed sleep: a loaded
    // machine may take longer to open it); then one more request is timed.
    await trafficUntil(readUntil(1));
    const seen = starts();
    const sent = Date.now();
    await mesh.send('/ok');
    await readUntil(seen + 1);
    expect(Date.now() - sent).toBeLessThan(2_000);
    await reader.cancel();
  });

  it('speaks SSE to a browser (an EventSource), the same lines as events', async () => {
    const res = await fetch(`http://${viz.address}/api/v1/tap?resource=deploy/web&namespace=production&path=/never&duration=1`, { headers: { accept: 'text/event-stream' } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(text).toMatch(/^event: start\ndata: \{"type":"start","pods":\["production\/web-0"\]/);
    expect(text).toMatch(/event: end\ndata: \{"type":"end".*"message":"no request matched the filter in \ds \(1 proxy tapped\)"\}\n\n$/);
  });

  it('says so when the filter matched nothing by the end (--duration written as Linkerd writes it, 2s)', async () => {
    const r = await tapCli(['deploy/web', '-n', 'production', '--path', '/never-called', '--duration', '2s']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/tap ended: no request matched the filter in \ds \(1 proxy tapped\)/);
  });

  it.each([
    [['deploy/web', '--method', 'G ET'], '--method must be an HTTP method'],
    [['deploy/web', '--path', 'orders'], '--path must start with "/"'],
    [['deploy/web', '--to', 'svc/web'], '--to must be deploy/NAME, po/NAME or ns/NAME'],
    [['deploy/web', '--max-rps', 'lots'], '--max-rps must be a whole number from 0 to 10000, got "lots"'],
    [['deploy/web', '--max-rps', '0x10'], '--max-rps must be a whole number from 0 to 10000, got "0x10"'],
    [['deploy/web', '--limit', '1e3'], '--limit must be a whole number from 0 to 1000000, got "1e3"'],
    [['deploy/web', '--limit', ' 5'], '--limit must be a whole number from 0 to 1000000, got " 5"'],
    [['deploy/web', '--duration', '0x10'], '--duration must be seconds from 0 to 3600, in plain digits such as 10 or 2.5 (an "s" after them is allowed), got "0x10"'],
    [['deploy/web', '--duration', '1e1s'], '--duration must be seconds from 0 to 3600, in plain digits such as 10 or 2.5 (an "s" after them is allowed), got "1e1s"'],
    [['dpl/web'], 'unknown resource kind "dpl"'],
  ])('refuses a malformed filter %j with exit 2', async (args, message) => {
    const r = await tapCli(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
  });

  it('refuses a count in another spelling than plain digits over the API too (400, naming the flag)', async () => {
    for (const [param, flag, max] of [['limit', '--limit', 1_000_000], ['maxRps', '--max-rps', 10_000]] as const) {
      for (const bad of ['1e3', '0x10', '2.0']) {
        const res = await fetch(`http://${viz.address}/api/v1/tap?resource=deploy/web&namespace=production&${param}=${bad}`);
        expect(res.status).toBe(400);
        expect(await res.text()).toContain(`${flag} must be a whole number from 0 to ${max}, got \\"${bad}\\"`);
      }
    }
  });

  it('takes an empty parameter as one not given (a form field left blank): the defaults, not a 400', async () => {
    const res = await fetch(`http://${viz.address}/api/v1/tap?resource=deploy/web&namespace=production&path=/never&limit=&maxRps=&method=&authority=&to=&journey=&duration=1`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/"type":"end".*no request matched the filter in \ds/);
    // Blank everywhere, duration included: a tap until the client leaves, as with no duration at all.
    const controller = new AbortController();
    const open = await fetch(`http://${viz.address}/api/v1/tap?resource=deploy/web&namespace=production&duration=&limit=`, { signal: controller.signal });
    expect(open.status).toBe(200);
    const reader = open.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('"type":"start"');
    controller.abort();
  });

  it('names a pod that does not exist', async () => {
    const r = await tapCli(['po/ghost-0', '-n', 'production']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('pod ghost-0 in namespace production has no pod with a proxy registered with the destination');
  });
});

describe('a proxy that vanishes mid-tap', () => {
  let child: ChildProxy;

  it('ends the tap with an error naming the pod, without hanging', async () => {
    const ip = `${NET}.3`;
    child = await spawnProxy({
      ...sidecarEnvironment({
        pod: { name: 'doomed-0', namespace: 'production', deployment: 'doomed', labels: { app: 'doomed' }, ip, ports: [] },
        serviceAccount: 'doomed', identity: 'spiffe://cluster.local/ns/production/sa/doomed',
        identityAddr: mesh.cp.identity!.addr, destinationAddr: mesh.cp.destination!.address,
        trustAnchorsFile: mesh.cp.anchorsFile, tokenFile: mesh.cp.tokenFile('production', 'doomed'),
      }),
    });
    await eventually(async () => {
      const res = await fetch(`http://${viz.address}/api/v1/pods`);
      return ((await res.json()) as { pods: Array<{ name: string; ready: boolean }> }).pods.some((p) => p.name === 'doomed-0' && p.ready);
    }, 20_000, 'the viz to see doomed-0 ready');
    // The proxy says when the viz's tap reached it: only then is the tap open to be cut.
    let proxyLog = '';
    child.child.stdout!.on('data', (d: Buffer) => (proxyLog += d.toString()));
    const tap = spawn(process.execPath, ['bin/mesh.js', 'viz', 'tap', 'po/doomed-0', '-n', 'production', '--viz-addr', viz.address], { cwd: root });
    let err = '';
    tap.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => tap.on('close', (code) => resolve(code)));
    await eventually(() => proxyLog.includes('"msg":"tap opened"'), 20_000, "doomed-0's proxy to log the viz's tap as opened");
    child.child.kill('SIGKILL');
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000))]);
    if (code === 'hung') tap.kill('SIGKILL');
    expect(code).toBe(1);
    expect(err).toContain(`tap of production/doomed-0 at ${NET}.3:4190 ended: the proxy cannot be reached or went away`);
  }, 40_000);

  afterAll(() => {
    try { child?.child.kill('SIGKILL'); } catch { /* gone */ }
  });
});

describe('top', () => {
  it('folds tap into rows with counts and latencies', async () => {
    const done = fetch(`http://${viz.address}/api/v1/top?resource=deploy/web&namespace=production&duration=2`).then((r) => r.text());
    const text = await trafficUntil(done);
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; rows?: Array<{ source: string; destination: string; method: string; path: string; count: number; successes: number }>; message?: string });
    const last = lines.filter((l) => l.type === 'top').at(-1)!;
    const row = last.rows!.find((r) => r.path === '/ok')!;
    // The caller is named from the registered pods: web's proxy knows it only by address.
    expect(row).toMatchObject({ source: 'client-0', destination: 'web-0', method: 'GET' });
    expect(row.count).toBeGreaterThan(0);
    expect(row.successes).toBe(row.count);
    expect(lines.at(-1)!.type).toBe('end');
  });
});
