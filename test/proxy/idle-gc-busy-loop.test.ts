// The proxy's idle GC (proxy/idle-gc.ts) in this process, with no HTTP request at all while bytes
// stream through a real TCP relay (what an opaque tunnel, a WebSocket or a long gRPC stream is to
// the proxy: traffic with no request begun) and the heap grows: no full GC while the relay is
// busy; once it stops, one comes (so the first check could have failed).
import { createServer, connect, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { afterAll, expect, it } from 'vitest';
import { IdleGc } from '../../proxy/idle-gc.ts';

const INTERVAL_MS = 200;
const servers: Server[] = [];
const sockets: Socket[] = [];
afterAll(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});

async function listening(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

it('no full GC while a tunnel carries bytes without a request, however the heap grows; one once it stops', async () => {
  const sinkPort = await listening(createServer((s) => sockets.push(s.resume())));
  const relayPort = await listening(
    createServer((inbound) => {
      const outbound = connect(sinkPort, '127.0.0.1');
      sockets.push(inbound, outbound);
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    }),
  );
  const client = connect(relayPort, '127.0.0.1');
  sockets.push(client);
  const chunk = Buffer.alloc(16 * 1024);
  let pumping = true;
  const pump = () => {
    while (pumping && client.write(chunk));
  };
  client.on('connect', pump).on('drain', pump);

  const collections: unknown[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void (JSON.parse(line).msg === 'quiet: full GC' && collections.push(line)) });
  const idle = new IdleGc({ intervalMs: INTERVAL_MS, requestsStarted: () => 0, logger });
  // Heap that lives a while, as a stream's buffers and state do: it grows by far more than the
  // 4 MB of committed heap that makes a window worth collecting.
  const held: number[][] = [];
  const grow = setInterval(() => held.push(new Array(32_768).fill(held.length)), 20);
  idle.start();
  try {
    // Ten checks' worth of windows while the relay streams (more on a slow machine: counted, not timed).
    let windows = 0;
    while (windows < 10) {
      await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
      windows++;
    }
    expect(collections).toEqual([]);
    pumping = false;
    clearInterval(grow);
    held.length = 0;
    await expect.poll(() => collections.length, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0);
  } finally {
    pumping = false;
    clearInterval(grow);
    idle.stop();
  }
}, 60_000);
