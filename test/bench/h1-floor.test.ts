// bench/h1-floor.ts, the floor the mesh's HTTP/1 figures are read against, really forwards: a
// floor that failed fast, or dropped bodies, would read cheaper than it is. Two real processes,
// real mTLS between them (certificates from the test PKI), a real app, undici as the client; the
// forwarding checks run against a second pair too, sending with `--client lean` (the proxy's own
// HTTP/1 pool), and a third that also serves with `--server lean` (bench/h1-lean-server.ts: Node's
// parser on the socket instead of node:http), which must forward the same, as must a fourth with
// that server's parser fed by 'data' events (`--server lean-data`). With `proxy-gc`, as
// bench/h1-floor-setup.sh runs it, it must have the V8 settings a proxy has.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttp1App, type Http1App } from '../helpers/apps.ts';
import { testPki } from '../helpers/pki.ts';
import { SCAVENGE_TRACE, tasksPerScavenge } from '../helpers/scavenge-trace.ts';

const HOST = '127.0.0.1';
let app: Http1App;
let dir: string;
const sides: ChildProcess[] = [];
/**
 * The pairs of sides, by the flags both sides run with: undici's Pool sending (the floor's default;
 * its output is traced, for the V8 checks), the proxy's own pool, that pool behind the lean server,
 * and that server's parser fed by 'data' events.
 */
const PAIRS = {
  undici: [],
  lean: ['--client', 'lean'],
  'lean-server': ['--server', 'lean', '--client', 'lean'],
  'lean-data': ['--server', 'lean-data', '--client', 'lean'],
} as const satisfies Record<string, readonly string[]>;
type PairName = keyof typeof PAIRS;
/** Each pair's ports: side a's, where a test sends, and side b's, where side a sends over mTLS. */
const pairs = {} as Record<PairName, { entry: number; sideB: number }>;
let foreign: { key: string; cert: string };

/** A port free at this moment (the floor takes its ports on the command line, as peer-bench gives them). */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Each side's output so far: V8's trace of each wasm function it compiles, and of its scavenges, go there too. */
const outputs: string[] = [];

/** Starts one side and waits for its "listening" line; `traced`: its output goes to `outputs`. */
async function startSide(args: string[], traced: boolean): Promise<void> {
  // The traces name the compiler of each wasm function (undici's llhttp parser), Liftoff or
  // TurboFan, and the tasks of each scavenge.
  const child = spawn(process.execPath, ['--trace-wasm-compilation-times', ...SCAVENGE_TRACE, 'bin/run.js', 'bench/h1-floor.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  sides.push(child);
  const index = traced ? outputs.push('') - 1 : -1;
  let output = '';
  if (traced) child.stdout!.on('data', (c: Buffer) => (outputs[index] += c));
  child.stderr!.on('data', (c: Buffer) => (output += c));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      output += c;
      if (output.includes('h1-floor ')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`h1-floor ${args[0]} exited with ${code}: ${output}`)));
  });
}

beforeAll(async () => {
  app = await startHttp1App(HOST);
  const pki = await testPki();
  // Side a checks side b by the name ../shared/peer-bench's certificates carry.
  const [a, b] = await Promise.all([pki.credentialsFor('default/a'), pki.credentialsFor('default/b', { dnsNames: ['sidecar-b.mesh.local'] })]);
  dir = mkdtempSync(join(tmpdir(), 'h1-floor-'));
  writeFileSync(join(dir, 'ca.pem'), pki.anchorPem);
  for (const [name, creds] of [['a', a], ['b', b]] as const) {
    writeFileSync(join(dir, `${name}.crt`), String(creds.current().cert));
    writeFileSync(join(dir, `${name}.key`), String(creds.current().key));
  }
  const other = await (await testPki()).credentialsFor('default/a');
  foreign = { key: String(other.current().key), cert: String(other.current().cert) };
  for (const [name, flags] of Object.entries(PAIRS) as Array<[PairName, readonly string[]]>) {
    const [entry, sideB] = [await freePort(), await freePort()];
    const traced = name === 'undici';
    await startSide(['b', 'proxy-gc', ...flags, '--listen', `${HOST}:${sideB}`, '--app', `${HOST}:${app.port}`, '--certs', dir], traced);
    await startSide(['a', 'proxy-gc', ...flags, '--listen', `${HOST}:${entry}`, '--peer', `${HOST}:${sideB}`, '--certs', dir], traced);
    pairs[name] = { entry, sideB };
  }
}, 90_000);

afterAll(async () => {
  for (const child of sides) if (child.exitCode === null) child.kill('SIGTERM');
  await Promise.all(sides.map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)));
  await app?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Sends raw bytes to a side (then its FIN, with `end`) and collects what comes back until the side closes the connection. */
async function exchangeRaw(port: number, bytes: string, end = false): Promise<string> {
  const socket = netConnect(port, HOST);
  let got = '';
  socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
  if (end) socket.end(bytes);
  else socket.write(bytes);
  await once(socket, 'close');
  return got;
}

describe.each(Object.keys(PAIRS) as PairName[])('bench/h1-floor.ts, pair %s', (pair) => {
  it('carries a request and its response through both sides, headers end to end, hop-by-hop dropped', async () => {
    const { entry } = pairs[pair];
    const res = await request(`http://${HOST}:${entry}/headers`, { headers: { 'x-trace': 'one', 'proxy-connection': 'keep-alive' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-multi']).toEqual(['one', 'two']);
    const seen = (await res.body.json()) as { raw: string[]; method: string };
    const names = seen.raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(seen.raw[names.indexOf('x-trace') * 2 + 1]).toBe('one');
    expect(names).not.toContain('proxy-connection');
  });

  it('streams a request body and a large response body whole', async () => {
    const { entry } = pairs[pair];
    // Bytes that differ along the body: a server that handed on a read buffer it then reused would show.
    const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
    const echoed = await request(`http://${HOST}:${entry}/echo`, { method: 'POST', body });
    expect(echoed.statusCode).toBe(200);
    expect(Buffer.compare(Buffer.from(await echoed.body.arrayBuffer()), body)).toBe(0);
    const big = await request(`http://${HOST}:${entry}/size/2000000`);
    expect((await big.body.arrayBuffer()).byteLength).toBe(2_000_000);
  });

  it('streams a chunked request body of many pieces, and keeps the connection for the next request', async () => {
    const { entry } = pairs[pair];
    const piece = Buffer.alloc(50_000, 3);
    const pieces = Readable.from((function* () {
      for (let i = 0; i < 20; i++) yield piece;
    })());
    const counted = await request(`http://${HOST}:${entry}/count`, { method: 'POST', body: pieces });
    expect(counted.statusCode).toBe(200);
    expect(await counted.body.json()).toMatchObject({ bytes: 1_000_000, method: 'POST' });
    // Raw, on one connection: a body large enough to fill the side's buffers (it pauses reading),
    // then requests in turn, each answered whole, a HEAD among them with no body.
    const socket = netConnect(entry, HOST);
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
    const until = async (text: string, count: number) => {
      while (got.split(text).length - 1 < count) await once(socket, 'data');
    };
    socket.write('POST /count HTTP/1.1\r\nhost: app\r\ncontent-length: 1000000\r\n\r\n');
    socket.write(Buffer.alloc(1_000_000, 5));
    await until('"bytes":1000000', 1);
    socket.write('GET /first HTTP/1.1\r\nhost: app\r\n\r\n');
    await until('hello GET /first', 1);
    socket.write('HEAD /size/10 HTTP/1.1\r\nhost: app\r\n\r\nGET /second HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n');
    await once(socket, 'close');
    expect(got).toContain('hello GET /second');
    const heads = got.split('HTTP/1.1 ').slice(1);
    expect(heads.map((h) => h.slice(0, 3))).toEqual(['200', '200', '200', '200']);
    expect(heads[2]).toMatch(/content-length: 10\r\n/i);
    expect(heads[2]!.endsWith('\r\n\r\n')).toBe(true); // the HEAD's answer has no body
  });

  it('passes the app status through, and fails the body when the app is cut mid-body', async () => {
    const { entry } = pairs[pair];
    const notFound = await request(`http://${HOST}:${entry}/status/404`);
    expect(notFound.statusCode).toBe(404);
    expect(await notFound.body.text()).toBe('status 404');
    const reset = await request(`http://${HOST}:${entry}/reset`);
    expect(reset.statusCode).toBe(200);
    await expect(reset.body.text()).rejects.toThrow();
  });
});

describe('bench/h1-floor.ts', () => {

  it('with proxy-gc, both sides parse HTTP/1 as a proxy does: V8 never tiers undici\'s wasm parser up to its optimizing compiler (bin/mesh.js\'s --liftoff-only)', async () => {
    // A few hundred responses are more than V8 needs to tier the parser up when it may (~200).
    const { entry } = pairs.undici;
    for (let i = 0; i < 400; i++) await (await request(`http://${HOST}:${entry}/size/100`)).body.arrayBuffer();
    expect(outputs).toHaveLength(2);
    for (const output of outputs) {
      // llhttp's parser is one large wasm function (tens of kB; its optimizing compile is the
      // ~35 MB spike bin/mesh.js's comment tells of). Small wasm functions that loading the
      // TypeScript compiles are not the request path's, and are left out.
      const large = (compiler: string) => output.split('\n').filter((l) => l.includes(`using ${compiler},`) && Number(/bodysize (\d+)/.exec(l)?.[1]) >= 10_000);
      expect(large('Liftoff').length).toBeGreaterThan(0); // traced, and compiled by the baseline compiler
      expect(large('TurboFan')).toEqual([]);
    }
  }, 30_000);

  it("with proxy-gc, both sides scavenge on the main thread alone, as a proxy does (bin/proxy-v8-flags.js's --no-parallel-scavenge)", async () => {
    // Each request leaves ~15 kB of objects in each side's 1 MB young generation: 800 of them
    // scavenge both sides several times over. (Large bodies would not: their bytes live outside the heap.)
    const { entry } = pairs.undici;
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 200; i++) await (await request(`http://${HOST}:${entry}/size/100`)).body.arrayBuffer();
    }));
    // Counted from the side's "listening" line: loading the TypeScript before the flags are set
    // scavenges with V8's helpers, as any Node process does.
    for (const output of outputs) {
      const tasks = tasksPerScavenge(output.slice(output.indexOf('h1-floor ')));
      expect(tasks.length).toBeGreaterThan(2);
      expect(Math.max(...tasks)).toBe(1);
    }
  }, 30_000);

  it('the lean server answers what it does not serve, what is not HTTP, HTTP/1.0 and a half-closed request, and closes the connection', async () => {
    const { entry } = pairs['lean-server'];
    expect(await exchangeRaw(entry, 'CONNECT app:443 HTTP/1.1\r\nhost: app:443\r\n\r\n')).toMatch(/^HTTP\/1\.1 501 /);
    expect(await exchangeRaw(entry, 'GET / HTTP/1.1\r\nhost: app\r\nbad header\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(await exchangeRaw(entry, `GET / HTTP/1.1\r\nhost: app\r\nx-big: ${'y'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
    // HTTP/1.0 without keep-alive: answered, then closed by the server.
    expect(await exchangeRaw(entry, 'GET /old HTTP/1.0\r\nhost: app\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 [^]*hello GET \/old$/);
    // A client that sends its FIN after its request still gets the answer, then the server closes.
    expect(await exchangeRaw(entry, 'GET /fin HTTP/1.1\r\nhost: app\r\n\r\n', true)).toMatch(/^HTTP\/1\.1 200 [^]*hello GET \/fin$/);
  });

  it('side b refuses a client whose certificate is from another anchor', async () => {
    const socket = tlsConnect({ host: HOST, port: pairs.undici.sideB, ...foreign, rejectUnauthorized: false, servername: 'sidecar-b.mesh.local' });
    const outcome = await new Promise<string>((resolve) => {
      socket.once('error', (err) => resolve(`error: ${err.message}`));
      socket.once('secureConnect', () => {
        socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
        socket.once('data', (d) => resolve(`answered: ${String(d).slice(0, 20)}`));
        socket.once('close', () => resolve('closed'));
      });
    });
    expect(outcome).not.toMatch(/^answered/);
  });
});
