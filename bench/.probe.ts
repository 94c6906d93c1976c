import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { parsePrometheus, sumOf } from '../proxy/metrics/prom-text.ts';
import { runLoad } from './load.ts';
import { startTopology } from './two-proxy-topology.ts';
const t = await startTopology({ logDir: mkdtempSync(join(tmpdir(), 'probe-')) });
const scrape = async (u: string) => parsePrometheus(await (await request(`${u}/metrics`)).body.text());
try {
  for (let i = 0; i < 3; i++) {
    const r = await runLoad({ title: 'x', url: t.meshUrl, headers: t.meshHeaders, connections: 50, durationSeconds: 2 });
    await new Promise((res) => setTimeout(res, 1500));
    for (const [name, u] of Object.entries(t.adminUrl)) {
      const s = await scrape(u);
      console.log(i, name, 'client saw', r.requests, 'request_total', sumOf(s, 'request_total'), 'response_total', sumOf(s, 'response_total'), 'cancelled', sumOf(s, 'response_total', { error: 'CANCELLED' }), 'latency count', sumOf(s, 'response_latency_ms_count'), 'open conns', sumOf(s, 'tcp_open_connections'));
    }
  }
} finally { await t.stop(); }
