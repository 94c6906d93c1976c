// Connection metrics on real sockets: opens, closes (with errno), the open gauge, and bytes.
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ProxyMetrics } from '../../../proxy/metrics/index.ts';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePrometheus } from '../../../api/prom-text.ts';
import { sumOf } from '../../../api/prom-samples.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

const HOST = `${NET}.2`;
const servers: net.Server[] = [];
afterEach(() => servers.splice(0).forEach((s) => s.close()));

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return (server.address() as net.AddressInfo).port;
}

const scrape = async (m: ProxyMetrics) => parsePrometheus(await m.text());
const closed = (s: net.Socket) => new Promise((r) => s.once('close', r));

describe('trackConnection', () => {
  it('counts opens, bytes while open and after close, and the open gauge', async () => {
    const metrics = new ProxyMetrics();
    const accepted: net.Socket[] = [];
    const port = await listen(
      net.createServer((socket) => {
        metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: false, identity: 'spiffe://cluster.local/ns/p/sa/web' });
        metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: false }); // a second report is ignored
        accepted.push(socket);
        socket.on('data', (d) => socket.write(d)); // echo
      }),
    );
    const client = net.connect(port, HOST);
    await new Promise((r) => client.once('connect', r));
    metrics.trackConnection(client, { direction: 'outbound', peer: 'dst', tls: false, authority: 'Echo.Example:80' });
    client.write(Buffer.alloc(1000, 1));
    let echoed = 0;
    await new Promise<void>((r) => client.on('data', (d) => (echoed += d.length) === 1000 && r()));

    const inbound = { direction: 'inbound', peer: 'src', tls: 'false', client_id: 'spiffe://cluster.local/ns/p/sa/web' };
    const outbound = { direction: 'outbound', peer: 'dst', authority: 'echo.example:80' };
    let s = await scrape(metrics);
    expect(sumOf(s, 'tcp_open_total', inbound)).toBe(1);
    expect(sumOf(s, 'tcp_open_total', outbound)).toBe(1);
    expect(sumOf(s, 'tcp_open_connections')).toBe(2);
    expect(sumOf(s, 'tcp_read_bytes_total', inbound)).toBe(1000); // live sockets count at scrape time
    expect(sumOf(s, 'tcp_write_bytes_total', outbound)).toBe(1000);
    expect(sumOf(s, 'tcp_close_total')).toBe(0);

    client.end();
    await Promise.all([closed(client), closed(accepted[0]!)]);
    s = await scrape(metrics);
    expect(sumOf(s, 'tcp_open_connections')).toBe(0);
    expect(sumOf(s, 'tcp_close_total', { ...inbound, errno: null })).toBe(1);
    expect(sumOf(s, 'tcp_close_total', { ...outbound, errno: null })).toBe(1);
    expect(sumOf(s, 'tcp_read_bytes_total', inbound)).toBe(1000); // kept after close
    expect(sumOf(s, 'tcp_read_bytes_total', outbound)).toBe(1000);
  });

  it('labels a close caused by a reset with its errno', async () => {
    const metrics = new ProxyMetrics();
    let accepted!: net.Socket;
    const gotIt = new Promise<void>((r) => {
      void listen(
        net.createServer((socket) => {
          metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: false });
          accepted = socket;
          r();
        }),
      ).then((port) => {
        const client = net.connect(port, HOST);
        client.once('connect', () => setTimeout(() => client.resetAndDestroy(), 20));
      });
    });
    await gotIt;
    await closed(accepted);
    const s = await scrape(metrics);
    expect(sumOf(s, 'tcp_close_total', { direction: 'inbound', errno: 'ECONNRESET' })).toBe(1);
    expect(sumOf(s, 'tcp_open_connections')).toBe(0);
  });

  it('labels TLS connections tls="true"', async () => {
    const metrics = new ProxyMetrics();
    const { key, cert } = selfSigned('echo.example');
    const server = tls.createServer({ key, cert }, (socket) => {
      metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: true });
      socket.end('hi');
    });
    const port = await listen(server);
    const client = tls.connect({ host: HOST, port, ca: cert, servername: 'echo.example' });
    client.resume();
    await closed(client);
    await expect.poll(async () => sumOf(await scrape(metrics), 'tcp_close_total', { tls: 'true' })).toBe(1);
    // A TLS socket counts application bytes, not TLS records.
    expect(sumOf(await scrape(metrics), 'tcp_write_bytes_total', { tls: 'true' })).toBe(2);
  });

  it('closes the books on a raw socket that a TLSSocket wrapped (as the inbound listener does)', async () => {
    const metrics = new ProxyMetrics();
    const { key, cert } = selfSigned('wrapped.example');
    let raw!: net.Socket;
    const port = await listen(
      net.createServer((socket) => {
        raw = socket;
        const secure = new tls.TLSSocket(socket, { isServer: true, key, cert });
        secure.on('error', () => {});
        secure.once('secure', () => {
          metrics.trackConnection(socket, { direction: 'inbound', peer: 'src', tls: true });
          secure.end('hello');
        });
      }),
    );
    const client = tls.connect({ host: HOST, port, ca: cert, servername: 'wrapped.example' });
    client.resume();
    await closed(client);
    await expect.poll(async () => sumOf(await scrape(metrics), 'tcp_close_total', { tls: 'true' })).toBe(1);
    const s = await scrape(metrics);
    expect(sumOf(s, 'tcp_open_connections')).toBe(0);
    expect(raw.destroyed).toBe(true);
    expect(sumOf(s, 'tcp_write_bytes_total', { tls: 'true' })).toBeGreaterThan(5); // the raw socket counts TLS records
  });
});

/** A throwaway self-signed certificate, made by openssl so this test needs nothing of the identity code. */
function selfSigned(name: string): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tcp-metrics-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}
