// Test harness for the destination: a copy of a fixture folder, a test PKI, a real destination
// server over TLS on a host the test gives (in its own addressBlock()), and real clients (DestinationClient, or raw stubs for the CLI view).
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { startDestination, type DestinationServer } from '../../destination/server.ts';
import { DestinationClient, type DestinationClientOptions } from '../../proxy/discovery/destination-client.ts';
import type { PodInfo } from '../../api/destination-types.ts';
import type { Watched } from '../../proxy/discovery/watched.ts';
import { testPki, type TestPki } from '../helpers/pki.ts';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const SERVER_IDENTITY = 'spiffe://cluster.local/ns/mesh-system/sa/destination';

export interface Harness {
  dir: string;
  pki: TestPki;
  server: DestinationServer;
  /** Starts (again) the destination on the same address, e.g. after `server.close()`. */
  restart(): Promise<DestinationServer>;
  client(identity: string, options?: Partial<DestinationClientOptions>): Promise<DestinationClient>;
  close(): Promise<void>;
}

export const quietLogger = () => pino({ level: process.env['MESH_TEST_LOG'] ?? 'silent' });

export async function startHarness(fixture: string, host: string, registrationGraceMs = 0): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'mesh-destination-'));
  cpSync(join(FIXTURES, fixture), dir, { recursive: true });
  const pki = await testPki();
  const serverCreds = await pki.credentialsFor(SERVER_IDENTITY);
  const material = serverCreds.current();
  const start = (addr: string, graceMs = 0) =>
    startDestination({
      registrationGraceMs: graceMs,
      resourcesDir: dir,
      addr,
      tls: { key: material.key as string, cert: material.cert as string, ca: pki.anchorPem },
      logger: quietLogger(),
    });
  const clients: DestinationClient[] = [];
  const h: Harness = {
    dir,
    pki,
    server: await start(`${host}:0`),
    restart: async () => {
      h.server = await start(h.server.address, registrationGraceMs);
      return h.server;
    },
    client: async (identity, options = {}) => {
      const c = new DestinationClient({
        addr: h.server.address,
        credentials: await pki.credentialsFor(identity),
        serverIdentity: SERVER_IDENTITY,
        backoff: { minMs: 50, maxMs: 400 },
        logger: quietLogger(),
        ...options,
      });
      clients.push(c);
      return c;
    },
    close: async () => {
      for (const c of clients) c.close();
      await h.server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/**
 * The harness of a whole test file: started before its first test and closed after its last (the
 * hooks are registered here, so call it at the top of the file). Its fields read the running
 * harness, so they are there inside tests, and `server` follows a restart.
 */
export function harnessForFile(fixture: string, host: string, registrationGraceMs = 0): Harness {
  let running: Harness | undefined;
  beforeAll(async () => {
    running = await startHarness(fixture, host, registrationGraceMs);
  });
  afterAll(() => running?.close());
  const now = (): Harness => {
    if (!running) throw new Error(`the ${fixture} harness is used before its file's tests began`);
    return running;
  };
  return {
    get dir() { return now().dir; },
    get pki() { return now().pki; },
    get server() { return now().server; },
    restart: () => now().restart(),
    client: (identity, options) => now().client(identity, options),
    close: () => now().close(),
  };
}

export function pod(name: string, ip: string, labels: Record<string, string>, namespace = 'production'): PodInfo {
  return { name, namespace, labels, ip, ports: [{ name: 'http', port: 8080 }, { name: 'grpc', port: 9090 }] };
}

/** Resolves with the first value of `cell` (current or future) that satisfies `test`. */
export function until<T>(cell: Watched<T>, test: (v: T) => boolean, timeoutMs = 5_000, what = 'value'): Promise<T> {
  return new Promise((resolve, reject) => {
    const now = cell.get();
    if (now !== undefined && test(now)) return resolve(now);
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(cell.get())}`));
    }, timeoutMs);
    const unsubscribe = cell.subscribe((v) => {
      if (!test(v)) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(v);
    });
  });
}

export const addresses = (set: { kind: string; endpoints?: Array<{ address: string }> } | undefined) =>
  set?.kind === 'endpoints' ? set.endpoints!.map((e) => e.address).sort() : [];

/** Polls `test` until it holds. */
export async function waitFor(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
