// The tap server alone: its process's CPU per event written to a real tapper (bench/tap-reader.ts,
// its own process, over mTLS), for the tap servers of two trees in turns in one run. No proxy and
// no load: a timer makes `REQUESTS` reported requests a second (three events each, encoded as
// the tap layer encodes them), so what is measured is the server's write path and nothing else.
//   node bin/run.js bench/tap-server-cpu.ts /tree/before /tree/after   (REQUESTS=100 SECONDS=5 ROUNDS=3)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import pino from 'pino';
import { testPki } from '../test/helpers/pki.ts';

const trees = process.argv.slice(2).map((t) => resolve(t));
const REQUESTS = Number(process.env.REQUESTS ?? 100);
const SECONDS = Number(process.env.SECONDS ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const TICK_MS = 10;

const pki = await testPki();
const proxyCreds = await pki.credentialsFor('production/orders');
const viz = await pki.credentialsFor('mesh-viz/tap');
const { key, cert } = viz.current();
const reader = spawn(process.execPath, ['bin/run.js', 'bench/tap-reader.ts'], {
  env: { ...process.env, TAP_ADDRESSES: '127.0.0.1:1', TAP_KEY: key as string, TAP_CERT: cert as string, TAP_ANCHORS: pki.anchorPem },
  stdio: ['pipe', 'pipe', 'inherit'],
});
const lines = createInterface({ input: reader.stdout! })[Symbol.asyncIterator]();
async function ask(command: string): Promise<string> {
  reader.stdin!.write(`${command}\n`);
  return (await lines.next()).value as string;
}

/** A process's CPU seconds so far, from /proc (10 ms ticks). */
function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

let tapperUs = 0;
/** One window of `SECONDS`: this process's CPU per event, with `send` run for each request (and the tapper's, in `tapperUs`). */
async function window(send: (() => void) | undefined): Promise<number> {
  const before = process.cpuUsage();
  const tapperBefore = cpuSecondsOf(reader.pid!);
  const ticks = (SECONDS * 1000) / TICK_MS;
  const perTick = (REQUESTS * TICK_MS) / 1000;
  for (let i = 0; i < ticks; i++) {
    await new Promise((r) => setTimeout(r, TICK_MS));
    if (send) for (let k = 0; k < perTick; k++) send();
  }
  const used = process.cpuUsage(before);
  tapperUs = ((cpuSecondsOf(reader.pid!) - tapperBefore) * 1e6) / (SECONDS * REQUESTS * 3);
  return (used.user + used.system) / (SECONDS * REQUESTS * 3);
}

const results: Record<string, number[]> = {};
const tapper: Record<string, number[]> = {};
for (let round = 0; round < ROUNDS; round++) {
  for (const tree of trees) {
    const { TapHub } = await import(`${tree}/proxy/tap/hub.ts`);
    const { TapServer } = await import(`${tree}/proxy/tap/server.ts`);
    const { encodeRequestFields, encodeEventBody } = await import(`${tree}/api/tap-encode.ts`);
    const hub = new TapHub({ maxTaps: 4, maxRps: 1_000_000, maxLimit: 1e9, maxBacklog: 1e9 });
    const server = new TapServer({ hub, credentials: proxyCreds, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
    const port: number = await server.listen();
    // The window's CPU with nothing sent: the timer's own cost, taken off below.
    const idle = await window(undefined);
    if ((await ask(`open 127.0.0.1:${port}`)) !== 'opened') throw new Error('the tapper could not open its tap');
    const peer = { address: '10.0.0.1:8080', identity: 'spiffe://cluster.local/ns/production/sa/orders', pod: 'orders-1', deployment: 'orders', namespace: 'production', service: '' };
    let n = 0;
    const send = () => {
      const tap = hub.taps[0];
      if (!tap?.admit()) return;
      const fields = encodeRequestFields({ proxyDirection: 'INBOUND', source: { ...peer, address: '10.0.0.2:4000' }, destination: peer, tls: true, requestId: `r${n++}`, route: 'POST /orders' });
      tap.send(fields, encodeEventBody({ requestInit: { method: 'POST', scheme: 'http', authority: 'orders.production:8080', path: '/orders', protocol: 'HTTP/1.1', headers: [{ name: 'content-type', value: 'application/json' }] } }));
      tap.send(fields, encodeEventBody({ responseInit: { sinceRequestInitUs: 800, httpStatus: 201, headers: [] } }));
      const journey = [{ layer: 'authorize', note: 'Server orders-http admitted by production-callers', atUs: 40 }];
      tap.send(fields, encodeEventBody({ responseEnd: { sinceRequestInitUs: 900, sinceResponseInitUs: 100, responseBytes: 200, error: '', errorMessage: '', journey, journeyDropped: 0 } }));
      tap.ended();
    };
    const busy = await window(send);
    const got = JSON.parse(await ask('close')) as { events: number };
    await server.close();
    (results[tree] ??= []).push(busy - idle);
    (tapper[tree] ??= []).push(tapperUs);
    console.log(`${tree}: ${busy.toFixed(1)} us of CPU per event sent (a window sending none: ${idle.toFixed(1)}); the tapper ${tapperUs.toFixed(1)} us per event; ${got.events} received of ${SECONDS * REQUESTS * 3}`);
  }
}
for (const [tree, xs] of Object.entries(results)) {
  const sorted = [...xs].sort((a, b) => a - b);
  const t = [...tapper[tree]!].sort((a, b) => a - b);
  console.log(`${tree}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} us per event over the idle window, the tapper ${t[Math.floor(t.length / 2)]!.toFixed(1)} us per event; ${REQUESTS} requests/s (${REQUESTS * 3} events/s)`);
}
reader.kill();
process.exit(0);
