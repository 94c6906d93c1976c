// The tap layer against a fake inner service: what it reports when the upstream's body goes away.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { TapEvent } from '../../../api/tap-proto.ts';
import { tapService } from '../../../api/tap-service.ts';
import { TapHub } from '../../../proxy/tap/hub.ts';
import { tapLayer } from '../../../proxy/tap/layer.ts';
import { meshRequest, streamed } from '../../helpers/fake-request.ts';

/** The events as a tapper decodes them (the sink is handed their encoded bytes). */
const decode = Object.values(tapService().service)[0]!.responseDeserialize as (bytes: Buffer) => TapEvent;

describe('tap layer', () => {
  it('an upstream body destroyed without an error ends the client copy and the tap reports UPSTREAM_RESET', async () => {
    const hub = new TapHub();
    const events: TapEvent[] = [];
    hub.open({ limit: 10 }, { write: (e) => events.push(decode(e)), backlog: () => 0, end: () => {} });
    const upstream = new Readable({ read() {} });
    const service = tapLayer({ hub, direction: 'outbound', self: { podIp: '127.0.0.1' } })(async () => ({ status: 200, headers: {}, body: upstream }));

    const res = await service(meshRequest());
    const received: Buffer[] = [];
    const body = streamed(res.body);
    const ended = new Promise<Error | undefined>((resolve) => {
      body.on('data', (c: Buffer) => received.push(c));
      body.on('end', () => resolve(undefined));
      body.on('error', (err) => resolve(err));
    });
    upstream.push('partial');
    await new Promise((r) => setImmediate(r));
    upstream.destroy(); // the peer vanished: 'close' with neither 'end' nor 'error'

    const err = await ended;
    expect(err?.message).toMatch(/upstream closed its stream/);
    expect(Buffer.concat(received).toString()).toBe('partial');
    await expect.poll(() => events.find((e) => e.event === 'responseEnd')?.responseEnd).toMatchObject({ error: 'UPSTREAM_RESET', responseBytes: 7 });
  });

  it('a reported body keeps its backpressure: a client that does not read pauses the upstream; every byte is counted', async () => {
    const hub = new TapHub();
    const events: TapEvent[] = [];
    hub.open({ limit: 10 }, { write: (e) => events.push(decode(e)), backlog: () => 0, end: () => {} });
    let pushed = 0;
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const upstream = new Readable({
      read() {
        if (pushed >= 64) return void this.push(null);
        pushed++;
        this.push(chunk);
      },
    });
    const service = tapLayer({ hub, direction: 'outbound', self: { podIp: '127.0.0.1' } })(async () => ({ status: 200, headers: {}, body: upstream }));
    const res = await service(meshRequest());
    // Nobody reads the client's copy: the upstream must stop well short of its 64 chunks.
    await new Promise((r) => setTimeout(r, 100));
    expect(pushed).toBeLessThan(16);
    expect(upstream.isPaused()).toBe(true);
    let received = 0;
    for await (const c of res.body!) received += (c as Buffer).length;
    expect(received).toBe(64 * chunk.length);
    await expect.poll(() => events.find((e) => e.event === 'responseEnd')?.responseEnd).toMatchObject({ error: '', responseBytes: 64 * chunk.length });
  });
});

describe('tap layer: the destination namespace read from the authority', () => {
  it('a name says its namespace; an IP, bracketed or bare (with the dots of an embedded IPv4), names none', async () => {
    const seen: Record<string, string | undefined> = {};
    for (const authority of ['orders.production.svc.cluster.local:8080', '[::ffff:10.0.0.1]:8080', '::ffff:10.0.0.1', '10.0.0.1:8080']) {
      const hub = new TapHub();
      const events: TapEvent[] = [];
      hub.open({ limit: 10 }, { write: (e) => events.push(decode(e)), backlog: () => 0, end: () => {} });
      const service = tapLayer({ hub, direction: 'outbound', self: { podIp: '127.0.0.1' } })(async () => ({ status: 200, headers: {}, body: null }));
      await service(meshRequest({ authority }));
      await expect.poll(() => events.some((e) => e.event === 'requestInit')).toBe(true);
      const init = events.find((e) => e.event === 'requestInit')!;
      seen[authority] = init.destination?.namespace;
    }
    // The wire leaves an unknown namespace empty.
    expect(seen).toEqual({ 'orders.production.svc.cluster.local:8080': 'production', '[::ffff:10.0.0.1]:8080': '', '::ffff:10.0.0.1': '', '10.0.0.1:8080': '' });
  });
});
