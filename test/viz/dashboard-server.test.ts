// The dashboard's server inside the viz, over real proxies: the page and its bundled assets with
// a Content-Security-Policy that allows no inline script, the viz API on the same origin, the
// live feed's first snapshot, tap with journeys, and refusals (a foreign Host, a POST without
// the page's header). Binding beyond loopback warns.
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningViz } from '../../viz/viz.ts';
import { eventually } from '../helpers/control-plane.ts';
import { startMiniMesh, startVizOver, type MiniMesh } from './mini-mesh.ts';
import { addressBlock } from '../helpers/address-block.ts';
import { serverDoc, yamlDocuments } from '../helpers/dev-resources.ts';

/** A Server for web's port with one authorization, and a Server whose port is not a port. */
const POLICY = yamlDocuments([
  serverDoc({ name: 'web-http', namespace: 'production', app: 'web', port: 8080, proxyProtocol: 'HTTP/1', version: 'v1beta1' }),
  {
    apiVersion: 'policy.linkerd.io/v1beta1',
    kind: 'ServerAuthorization',
    metadata: { name: 'web-allow-client', namespace: 'production' },
    spec: { server: { name: 'web-http' }, client: { meshTLS: { serviceAccounts: [{ name: 'client' }] } } },
  },
  serverDoc({ name: 'web-broken', namespace: 'production', app: 'web', port: 70000, version: 'v1beta1' }),
]);
let mesh: MiniMesh;
let viz: RunningViz;
let base: string;

beforeAll(async () => {
  mesh = await startMiniMesh(await addressBlock());
  viz = await startVizOver(mesh, { dashboard: { listen: '127.0.0.1:0' } });
  base = `http://${viz.dashboard!.address}`;
}, 40_000);

afterAll(async () => {
  await viz?.close();
  await mesh?.close();
});

/** A GET with a Host header of our choosing (fetch sets its own). */
function getWithHost(path: string, host: string): Promise<number> {
  const [h, p] = viz.dashboard!.address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host: h, port: Number(p), path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard server', () => {
  it('serves the page, its script and styles with a CSP that allows no inline script', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/assets/app.js">');
    expect(html).not.toMatch(/<script>|<script type="module">[^<]/); // no inline script
    const js = await fetch(`${base}/assets/app.js`);
    expect(js.headers.get('content-type')).toContain('javascript');
    expect((await js.text()).length).toBeGreaterThan(10_000);
    const css = await fetch(`${base}/assets/app.css`);
    expect(await css.text()).toContain('.uplot'); // uPlot's own styles, bundled
    expect((await fetch(`${base}/nothing-here`)).status).toBe(404);
  });

  it('answers the viz API on the same origin, strictly', async () => {
    const health = await (await fetch(`${base}/api/v1/health`)).json() as { identity: string };
    expect(health.identity).toBe('spiffe://cluster.local/ns/mesh-viz/sa/tap');
    const bad = await fetch(`${base}/api/v1/stat?resource=deploy&typo=1`);
    expect(bad.status).toBe(400);
  });

  it('streams a first snapshot of the mesh at once', async () => {
    await mesh.send('/ok');
    const res = await fetch(`${base}/dashboard/v1/live`, { headers: { accept: 'text/event-stream' } });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const started = Date.now();
    while (!text.includes('\n\ndata:') && !/event: snapshot\ndata: .*\n\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
    await reader.cancel();
    expect(Date.now() - started).toBeLessThan(5_000);
    const data = JSON.parse(/event: snapshot\ndata: (.*)\n/.exec(text)![1]!) as { pods: Array<{ name: string; identity: string }>; canSendCheckout: boolean };
    expect(data.pods.map((p) => p.name).sort()).toEqual(['client-0', 'web-0']);
    expect(data.canSendCheckout).toBe(false);
  });

  it('taps with journeys: each ended request carries what its layers decided', async () => {
    const controller = new AbortController();
    const res = await fetch(`${base}/api/v1/tap?resource=deploy/web&namespace=production&journey=true&limit=2`, { signal: controller.signal });
    expect(res.status).toBe(200);
    const sending = (async () => { for (let i = 0; i < 30 && !controller.signal.aborted; i++) { await mesh.send('/ok'); await new Promise((r) => setTimeout(r, 100)); } })();
    const text = await res.text();
    controller.abort();
    await sending;
    const ends = text.trim().split('\n').map((l) => JSON.parse(l) as { type: string; responseEnd?: { journey: Array<{ layer: string; note: string }> } }).filter((l) => l.responseEnd);
    expect(ends.length).toBeGreaterThan(0);
    const layers = ends[0]!.responseEnd!.journey.map((j) => j.layer);
    expect(layers).toContain('identity');
    expect(layers).toContain('app');
    const refused = await fetch(`${base}/api/v1/tap?resource=deploy/web&namespace=production&journey=maybe`);
    expect(refused.status).toBe(400);
  });

  it('lists what the destination holds: YAML, state with the field path, and each Server\'s authorizations', async () => {
    writeFileSync(join(mesh.cp.resourcesDir, 'policy.yaml'), POLICY);
    type Held = { kind: string; name: string; state: string; problems: string[]; yaml: string; authorizations: string[]; denials?: unknown[] };
    let held: Held[] = [];
    await eventually(async () => {
      held = ((await (await fetch(`${base}/api/v1/resources?namespace=production`)).json()) as { resources: Held[] }).resources;
      return held.some((r) => r.name === 'web-http');
    }, 10_000, 'the viz to see the new Server');
    const server = held.find((r) => r.kind === 'Server' && r.name === 'web-http')!;
    expect(server.state).toBe('applied');
    expect(server.authorizations).toEqual(['ServerAuthorization web-allow-client']);
    expect(server.yaml).toContain('proxyProtocol: HTTP/1');
    expect(server.denials).toEqual([]);
    const broken = held.find((r) => r.name === 'web-broken')!;
    expect(broken.state).toBe('refused');
    expect(broken.problems.join('\n')).toMatch(/spec\.port/);
    expect(held.find((r) => r.kind === 'Service' && r.name === 'web')!.state).toBe('applied');
  });

  it('answers only to loopback names (no DNS rebinding)', async () => {
    expect(await getWithHost('/', 'evil.example:8084')).toBe(421);
    expect(await getWithHost('/', `localhost:${viz.dashboard!.address.split(':')[1]}`)).toBe(200);
  });

  it('refuses a checkout POST without the page\'s header, and says when it has no front door', async () => {
    const foreign = await fetch(`${base}/dashboard/v1/checkout`, { method: 'POST', body: 'x' });
    expect(foreign.status).toBe(400);
    expect(((await foreign.json()) as { error: { message: string } }).error.message).toContain('x-mesh-dashboard');
    const none = await fetch(`${base}/dashboard/v1/checkout`, { method: 'POST', headers: { 'x-mesh-dashboard': '1' } });
    expect(none.status).toBe(404);
  });

  it('warns when told to listen beyond loopback', async () => {
    const wide = await startVizOver(mesh, { dashboard: { listen: '0.0.0.0:0' } });
    try {
      expect(wide.dashboard!.warning).toMatch(/beyond this machine's loopback/);
    } finally {
      await wide.close();
    }
    expect(viz.dashboard!.warning).toBeUndefined();
  });
});
