// The dashboard in a real browser (Debian's chromium, driven by playwright-core) over a running
// demo under a paced load: each page renders live without console errors, and each test leaves
// a screenshot in artifacts/dashboard/.
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import http2 from 'node:http2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runPaced } from '../../../bench/paced-load.ts';
import { launchBrowser, type Browser, type Tab } from './browser.ts';
import { DASHBOARD, INGRESS, NET, root, startDemo, type Demo } from './demo.ts';

/** Sets payments' failure rate (its /config takes HTTP/2 with prior knowledge). */
function paymentsFailureRate(rate: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${NET}.5:8080`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': '/config' });
    req.on('response', (h) => (h[':status'] === 200 ? resolve() : reject(new Error(`payments /config answered ${h[':status']}`))));
    req.on('error', reject);
    req.on('close', () => session.close());
    req.resume();
    req.end(JSON.stringify({ failureRate: rate }));
  });
}

/** Sends raw bytes to the front door (a path no well-behaved client would send) and reads the answer. */
function rawRequest(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const [host, port] = INGRESS.replace('http://', '').split(':');
    // Written, not ended: the answer comes back before the connection closes (Connection: close).
    const socket = connect(Number(port), host!, () => socket.write(text));
    let answer = '';
    socket.on('data', (d) => (answer += d));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
  });
}

let demo: Demo;
let browser: Browser;
let loading: Promise<unknown>;

beforeAll(async () => {
  demo = await startDemo();
  browser = await launchBrowser();
  // A paced load through the front door for the whole suite: 10 checkouts a second.
  loading = runPaced({
    title: 'dashboard', url: `${INGRESS}/checkout`, method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ item: 'book', quantity: 1 }), rate: 10, durationSeconds: 60, connections: 10,
  });
  await new Promise((r) => setTimeout(r, 12_000)); // two scrapes into the load
}, 240_000);

afterEach(async () => {
  await browser?.closeTabs();
});

afterAll(async () => {
  await browser?.close();
  await loading?.catch(() => {});
  demo?.stop();
});

describe('overview', () => {
  it('shows the four workloads with RPS above zero, live, without console errors', async () => {
    const tab = await browser.open(`${DASHBOARD}/#/overview`);
    const workloads = ['checkout', 'orders-stable', 'orders-canary', 'payments'];
    for (const name of workloads) {
      const row = tab.page.locator(`tr[data-deployment="${name}"]`);
      await row.waitFor({ timeout: 15_000 });
    }
    // The feed updates the page without a reload; wait until every row has traffic.
    await tab.page.waitForFunction((names) => names.every((n) => Number(document.querySelector(`tr[data-deployment="${n}"]`)?.getAttribute('data-rps')) > 0), workloads, { timeout: 20_000 });
    for (const name of workloads) {
      expect(await tab.page.locator(`tr[data-deployment="${name}"] td`).nth(3).textContent()).toMatch(/^\d+\.\drps$/);
    }
    await tab.page.locator('.sparkline canvas').first().waitFor();
    await tab.screenshot('overview');
    expect(tab.problems).toEqual([]);
  });

  it('is in the table npm start prints, and mesh viz dashboard finds it', async () => {
    expect(demo.output()).toContain(`dashboard        ${DASHBOARD}`);
    const out = await new Promise<string>((resolve) => {
      execFile(process.execPath, ['bin/mesh.js', 'viz', 'dashboard'], { cwd: root, env: demo.env }, (_err, stdout) => resolve(stdout));
    });
    expect(out).toContain(`Dashboard: ${DASHBOARD} (open it in a browser)`);
  });

  it('answers with a Content-Security-Policy that allows no inline script', async () => {
    const res = await fetch(`${DASHBOARD}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("connect-src 'self'");
  });
});

describe('topology', () => {
  it("shows the rogue's refused calls as a red dashed edge and a lock on each mTLS edge, both identities on hover", async () => {
    const tab = await browser.open(`${DASHBOARD}/#/topology`);
    const denied = tab.page.locator('g.edge[data-src="rogue"][data-denied="true"]');
    await denied.first().waitFor({ timeout: 20_000 });
    expect(await denied.evaluateAll((edges) => edges.map((e) => e.getAttribute('data-dst')))).toEqual(expect.arrayContaining([expect.stringMatching(/^orders-/)]));
    const dash = await denied.first().locator('path.edge-line').evaluate((p) => getComputedStyle(p).strokeDasharray);
    expect(dash).not.toBe('none');
    await tab.page.locator('g.edge[data-src="ingress"][data-dst="checkout"]').waitFor();
    const locks = tab.page.locator('g.edge[data-mtls="true"] g.lock');
    expect(await locks.count()).toBeGreaterThanOrEqual(4); // ingress->checkout, checkout->orders-*, orders-*->payments
    const hover = await tab.page.locator('g.edge[data-src="checkout"][data-dst="orders-stable"] g.lock > title').textContent();
    expect(hover).toContain('spiffe://cluster.local/ns/production/sa/checkout');
    expect(hover).toContain('spiffe://cluster.local/ns/production/sa/orders');
    // The ingress sits on the left: no node starts further left.
    const xs = await tab.page.locator('g.node').evaluateAll((nodes) => nodes.map((n) => [n.getAttribute('data-deployment'), n.getBoundingClientRect().x] as const));
    const ingressX = xs.find(([n]) => n === 'ingress')![1];
    expect(Math.min(...xs.map(([, x]) => x))).toBe(ingressX);
    await tab.screenshot('topology');
    expect(tab.problems).toEqual([]);
  });
});

describe('tap', () => {
  it('shows rows within 2 s of Start, rows open to their headers, Stop stops', async () => {
    const tab = await browser.open(`${DASHBOARD}/#/tap`);
    await tab.page.locator('#tap-start').waitFor();
    await tab.page.selectOption('select[name="resource"]', 'deploy/checkout');
    const started = Date.now();
    await tab.page.click('#tap-start');
    await tab.page.locator('tr.tap-row').first().waitFor({ timeout: 2_000 });
    expect(Date.now() - started).toBeLessThan(2_000);
    await tab.page.locator('tr.tap-row').first().click();
    await tab.page.locator('td.headers').first().waitFor();
    expect(await tab.page.locator('td.headers').first().textContent()).toContain('request headers');
    await tab.screenshot('tap');
    await tab.page.click('#tap-stop');
    await tab.page.locator('#tap-start:not([disabled])').waitFor();
    expect(tab.problems).toEqual([]);
  });

  it('shows a hostile path and header as text: no element made, no script run', async () => {
    const tab = await browser.open(`${DASHBOARD}/#/tap`);
    await tab.page.locator('#tap-start').waitFor();
    await tab.page.selectOption('select[name="resource"]', 'deploy/ingress');
    await tab.page.fill('input[name="path"]', '/<img');
    await tab.page.click('#tap-start');
    // The ingress's proxy reports a request only if its tap was open when the request began, and
    // nothing on the page says when that is (the stream's start line comes before the viz opens
    // the proxies' taps): so the request goes again, up to ten times, until its row shows.
    const row = tab.page.locator('tr.tap-row', { hasText: '/<img%20src=x%20onerror=alert(1)>' });
    let shown = false;
    for (let i = 0; i < 10 && !shown; i++) {
      // Spaces cannot travel in a request line (nor in HTTP/2's :path), so they go percent-encoded.
      const answer = await rawRequest('GET /<img%20src=x%20onerror=alert(1)> HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nx-note: <img src=x onerror=alert(2)><script>alert(3)</script>\r\nConnection: close\r\n\r\n');
      expect(answer).toMatch(/^HTTP\/1\.1 \d{3}/);
      shown = await row.first().waitFor({ timeout: 3_000 }).then(() => true, () => false);
    }
    expect(shown, 'no row for the hostile request among ten sent').toBe(true);
    await row.first().click();
    const headers = tab.page.locator('td.headers').first();
    await headers.waitFor();
    expect(await headers.textContent()).toContain('/<img src=x onerror=alert(1)>'); // the decoded path, as text
    expect(await headers.textContent()).toContain('<img src=x onerror=alert(2)><script>alert(3)</script>');
    expect(await tab.page.locator('main img, main script').count()).toBe(0);
    await tab.screenshot('tap-xss');
    expect(tab.dialogs).toEqual([]);
    expect(tab.problems).toEqual([]);
  });
});

describe('journey', () => {
  /**
   * Opens the journey page and sends checkouts from it, at most `tries`, until `shows` says the
   * journey on screen is the one the test asks for: a proxy reports a request only if its tap was
   * open when the request began, so one checkout may not be seen whole. The tab, and whether one was.
   */
  async function sendCheckoutsUntil(tries: number, shows: (tab: Tab) => Promise<boolean>): Promise<{ tab: Tab; found: boolean }> {
    const tab = await browser.open(`${DASHBOARD}/#/journey`);
    await tab.page.locator('#send-checkout:not([disabled])').waitFor({ timeout: 15_000 });
    for (let i = 0; i < tries; i++) {
      await tab.page.click('#send-checkout');
      await tab.page.locator('#sent-status').waitFor({ timeout: 15_000 });
      if (await shows(tab)) return { tab, found: true };
    }
    return { tab, found: false };
  }

  it('shows a checkout sent from the page hop by hop, at least three hops, with each layer', async () => {
    // Six hops, each ended: a hop's layers come with its end, which may reach the page after the
    // checkout's answer does.
    const { tab, found: whole } = await sendCheckoutsUntil(5, (t) =>
      t.page.waitForFunction(() => Number(document.querySelector('.waterfall')?.getAttribute('data-hops')) >= 6 &&
        document.querySelectorAll('.hop[data-ended="false"]').length === 0, undefined, { timeout: 10_000 }).then(() => true, () => false));
    expect(whole, 'no checkout among five was seen at all six hops').toBe(true);
    const pods = await tab.page.locator('.hop').evaluateAll((hops) => hops.map((h) => `${h.getAttribute('data-pod')} ${h.getAttribute('data-direction')}`));
    expect(pods).toEqual(expect.arrayContaining([
      expect.stringMatching(/ingress OUTBOUND$/), expect.stringMatching(/checkout-0 INBOUND$/), expect.stringMatching(/orders-(stable|canary)-\d+ INBOUND$/),
      expect.stringMatching(/payments-0 INBOUND$/),
    ]));
    const layers = await tab.page.locator('.hop li.entry').evaluateAll((entries) => entries.map((e) => e.getAttribute('data-layer')));
    for (const layer of ['route', 'balancer', 'tls', 'identity', 'policy', 'app']) expect(layers).toContain(layer);
    await tab.screenshot('journey');
    expect(tab.problems).toEqual([]);
  });

  it('with payments failing half the time, shows the retry attempts', async () => {
    await paymentsFailureRate(0.5);
    try {
      const { tab, found: retried } = await sendCheckoutsUntil(12, async (t) => {
        // Until the last hop (orders' outbound, which ends after every attempt) has its layers. A
        // checkout whose journey never reaches it (one that failed before orders called payments)
        // is not the one asked for: the next click tries again; twelve without a retry still fail.
        const complete = await t.page.waitForFunction(() => document.querySelectorAll('.hop li.entry').length > 0 &&
          [...document.querySelectorAll('.hop')].some((h) => h.getAttribute('data-direction') === 'OUTBOUND' && /orders/.test(h.getAttribute('data-pod') ?? '') && h.querySelector('li.entry')), undefined, { timeout: 15_000 }).then(() => true, () => false);
        if (!complete) return false;
        const attempts = await t.page.locator('.hop li.entry[data-layer="retry"]').count();
        const paymentsHops = await t.page.locator('.hop[data-pod$="payments-0"][data-direction="INBOUND"]').count();
        return attempts >= 2 && paymentsHops >= 2;
      });
      expect(retried, 'no checkout among twelve was retried with payments failing 50%').toBe(true);
      const notes = await tab.page.locator('.hop li.entry[data-layer="retry"]').allTextContents();
      expect(notes.join('\n')).toMatch(/attempt 2/);
      await tab.screenshot('journey-retries');
      expect(tab.problems).toEqual([]);
    } finally {
      await paymentsFailureRate(0.2);
    }
  }, 240_000); // up to twelve checkouts, each waited for up to 15 s
});

describe('every other page', () => {
  it('renders a deployment (pods, edges, routes, authz, top) without console errors', async () => {
    const tab = await browser.open(`${DASHBOARD}/#/deploy/production/orders-stable`);
    await tab.page.locator('tr[data-pod="orders-stable-0"]').waitFor({ timeout: 15_000 });
    await tab.page.locator('table.routes tbody tr').first().waitFor({ timeout: 15_000 });
    await tab.page.locator('table.top tbody tr').first().waitFor({ timeout: 15_000 });
    await tab.screenshot('deployment');
    expect(tab.problems).toEqual([]);
  });

  it("renders the resources with their state, and orders' Server with its authorization and the rogue's refusals", async () => {
    const tab = await browser.open(`${DASHBOARD}/#/resources`);
    const server = tab.page.locator('.server-facts[data-server="orders-grpc"]');
    await server.waitFor({ timeout: 15_000 });
    await tab.page.waitForFunction(() => /unauthorized/.test(document.querySelector('.server-facts[data-server="orders-grpc"]')?.textContent ?? ''), undefined, { timeout: 15_000 });
    expect(await server.textContent()).toContain('ServerAuthorization orders-grpc-allow-checkout');
    // The lesson's ServiceProfile carries a warning with its field path.
    const warned = tab.page.locator('tr.resource-row[data-state="warnings"]');
    expect(await warned.first().textContent()).toMatch(/retryBudget/);
    await tab.page.locator('tr.resource-row[data-kind="Server"][data-name="orders-grpc"]').click();
    expect(await tab.page.locator('pre.yaml').first().textContent()).toContain('proxyProtocol: gRPC');
    await tab.screenshot('resources');
    expect(tab.problems).toEqual([]);
  });
});
