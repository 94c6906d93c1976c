// 100 MB bodies streamed both ways through two real `mesh proxy` processes: the bytes arrive
// intact and neither proxy's resident memory grows by anything like the body size.
import { Readable } from 'node:stream';
import { Client } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunks, startHttp1App } from '../helpers/apps.ts';
import { startAppBehindTwoProxies, type TwoProxies } from '../helpers/two-proxies.ts';
import { addressBlock } from '../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const AUTHORITY = 'bulk.test.svc.cluster.local:8080';
const SIZE = 100 * 1024 * 1024;
/**
 * Below the body size, which a proxy that buffered the body would hold all of. Not tighter: the
 * Buffers of a bulk transfer's reads are garbage V8 collects only once their external memory
 * has grown by tens of MB (its soft limit is 64 MB), so a streaming proxy's RSS rises too (0-34 MB
 * measured, six transfers, this file run alone three times).
 */
const MAX_GROWTH = 70 * 1024 * 1024;
let mesh: TwoProxies;
let client: Client;

beforeAll(async () => {
  mesh = await startAppBehindTwoProxies(startHttp1App, { mode: 'process', clientIp: `${NET}.11`, serverIp: `${NET}.12`, authority: AUTHORITY });
  client = new Client(mesh.proxyUrl);
  // Warm both proxies before taking the baseline: the first requests build stacks and pools, and
  // V8 sizes its young generation to the allocation rate of a bulk transfer (measured: a first
  // 100 MB transfer raises RSS by ~50 MB once, later 100-300 MB transfers by under 5 MB). A
  // proxy that buffered bodies would still grow by the body size on every measured transfer.
  await (await client.request({ path: '/count', method: 'POST', body: Readable.from(chunks(SIZE)), headers: { host: AUTHORITY } })).body.text();
  for await (const _ of (await client.request({ path: `/size/${SIZE}`, method: 'GET', headers: { host: AUTHORITY } })).body);
});
afterAll(async () => {
  await client?.close();
  await mesh?.close();
});

/** Runs `work` while sampling both proxies' RSS; returns the largest growth over the baseline. */
async function peakGrowth(work: () => Promise<void>): Promise<{ outbound: number; inbound: number }> {
  const base = { outbound: mesh.outbound.rss(), inbound: mesh.inbound.rss() };
  const peak = { ...base };
  const timer = setInterval(() => {
    peak.outbound = Math.max(peak.outbound, mesh.outbound.rss());
    peak.inbound = Math.max(peak.inbound, mesh.inbound.rss());
  }, 25);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return { outbound: peak.outbound - base.outbound, inbound: peak.inbound - base.inbound };
}

describe('100 MB bodies through two proxy processes', () => {
  it('uploads 100 MB streamed (chunked) without buffering it', async () => {
    let counted = 0;
    const growth = await peakGrowth(async () => {
      const res = await client.request({ path: '/count', method: 'POST', body: Readable.from(chunks(SIZE)), headers: { host: AUTHORITY } });
      counted = (JSON.parse(await res.body.text()) as { bytes: number }).bytes;
    });
    expect(counted).toBe(SIZE);
    expect(growth.outbound).toBeLessThan(MAX_GROWTH);
    expect(growth.inbound).toBeLessThan(MAX_GROWTH);
  });

  it('downloads 100 MB without buffering it', async () => {
    let received = 0;
    const growth = await peakGrowth(async () => {
      const res = await client.request({ path: `/size/${SIZE}`, method: 'GET', headers: { host: AUTHORITY } });
      for await (const c of res.body) received += (c as Buffer).length;
    });
    expect(received).toBe(SIZE);
    expect(growth.outbound).toBeLessThan(MAX_GROWTH);
    expect(growth.inbound).toBeLessThan(MAX_GROWTH);
  });
});
