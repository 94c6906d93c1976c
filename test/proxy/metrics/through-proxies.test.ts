// After exactly N requests of known statuses through two proxies, both proxies' golden metrics
// say exactly that (request_total, response_total by status and classification, latency count).
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp1App } from '../../helpers/apps.ts';
import { startAppBehindTwoProxies, type TwoProxies } from '../../helpers/two-proxies.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const AUTHORITY = 'counted.test.svc.cluster.local:8080';
let mesh: TwoProxies;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startHttp1App, { clientIp: `${NET}.19`, serverIp: `${NET}.20`, authority: AUTHORITY });
});
afterAll(async () => {
  await mesh?.close();
});

/** Sum of a metric's samples whose labels include every `want` pair. */
function sum(text: string, name: string, want: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labels = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(want).every(([k, v]) => labels.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('golden metrics on both proxies', () => {
  it('count exactly the requests sent, by status and classification', async () => {
    const client = new Client(mesh.proxyUrl);
    const plan = [...Array(4).fill('/ok'), '/status/500', '/status/500', '/status/404'];
    for (const path of plan) {
      const res = await client.request({ path, method: 'GET', headers: { host: AUTHORITY } });
      await res.body.text();
    }
    await client.close();
    for (const [which, direction] of [
      ['outbound', 'outbound'],
      ['inbound', 'inbound'],
    ] as const) {
      const text = await mesh[which].metrics();
      const d = { direction };
      expect(sum(text, 'request_total', d), `${which} request_total`).toBe(7);
      expect(sum(text, 'response_total', { ...d, status_code: '200', classification: 'success' }), `${which} 200s`).toBe(4);
      expect(sum(text, 'response_total', { ...d, status_code: '500', classification: 'failure' }), `${which} 500s`).toBe(2);
      expect(sum(text, 'response_total', { ...d, status_code: '404', classification: 'success' }), `${which} 404s`).toBe(1);
      expect(sum(text, 'response_latency_ms_count', d), `${which} latency count`).toBe(7);
    }
  });
});
