// The network questions `mesh check` asks: does anything accept TCP at an address, does a TLS
// server there prove a given SPIFFE id with a chain to our trust anchors, does an HTTP server answer.
import net from 'node:net';
import tls from 'node:tls';
import { spiffeIdOfPeer } from '../../api/spiffe.ts';
import { splitHostPort } from '../../api/host-port.ts';

/** How long one probe may take: generous, so a loaded machine does not fail a healthy check. */
export const PROBE_TIMEOUT_MS = 3000;

/** The address's parts, or (as the probe's answer) why it is not an address. */
function split(address: string): { host: string; port: number } | string {
  try {
    return splitHostPort(address, 'address');
  } catch (err) {
    return (err as Error).message;
  }
}

/** Why a connection failed, in words; `undefined` when it connected. */
function explain(err: NodeJS.ErrnoException, address: string): string {
  if (err.code === 'ECONNREFUSED') return `nothing accepts connections on ${address} (connection refused)`;
  if (err.code === 'ETIMEDOUT') return `no answer from ${address} within ${PROBE_TIMEOUT_MS} ms`;
  if (err.code === 'EADDRNOTAVAIL') return `${address} is not an address of this machine`;
  return `${address}: ${err.code ?? err.message}`;
}

/** Resolves `undefined` once something accepts TCP at `address`, else the reason it did not. */
export function tcpReach(address: string): Promise<string | undefined> {
  const target = split(address);
  if (typeof target === 'string') return Promise.resolve(target);
  const { host, port } = target;
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(PROBE_TIMEOUT_MS, () => {
      socket.destroy();
      resolve(explain(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }), address));
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err) => resolve(explain(err, address)));
  });
}

/**
 * A TLS handshake with `address` that must present `expected` (a SPIFFE id) on a chain to
 * `anchorsPem`. Resolves `undefined` when it does, else what went wrong.
 */
export function tlsIdentity(address: string, anchorsPem: string, expected: string): Promise<string | undefined> {
  const target = split(address);
  if (typeof target === 'string') return Promise.resolve(target);
  const { host, port } = target;
  return new Promise((resolve) => {
    let presented: string | undefined;
    const socket = tls.connect({
      host, port, ca: anchorsPem, ALPNProtocols: ['h2'],
      // The chain is checked against the anchors by TLS; the name to check is the SPIFFE id.
      checkServerIdentity: (_host, cert) => {
        presented = spiffeIdOfPeer(cert.subjectaltname);
        return presented === expected ? undefined : new Error(`presents "${presented ?? 'no SPIFFE id'}", expected "${expected}"`);
      },
    });
    socket.setTimeout(PROBE_TIMEOUT_MS, () => {
      socket.destroy();
      resolve(`no TLS handshake with ${address} within ${PROBE_TIMEOUT_MS} ms`);
    });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (err.code?.startsWith('ERR_TLS_CERT_ALTNAME') || /presents "/.test(err.message)) return resolve(`${address} ${err.message}`);
      if (err.code && /CERT|SIGNATURE|ISSUER|SELF_SIGNED/.test(err.code)) {
        return resolve(`${address} presents a certificate that does not chain to the trust anchors (${err.code})`);
      }
      resolve(explain(err, address));
    });
  });
}

/** GET `url`; resolves with the status and body, or rejects with a reason in words. */
export async function httpGet(url: string): Promise<{ status: number; body: string; date: string | null }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return { status: res.status, body: await res.text(), date: res.headers.get('date') };
  } catch (err) {
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
    const address = new URL(url).host;
    if (cause?.code) throw new Error(explain(cause, address));
    if ((err as Error).name === 'TimeoutError') throw new Error(`no answer from ${url} within ${PROBE_TIMEOUT_MS} ms`);
    throw new Error(`${url}: ${(err as Error).message}`);
  }
}
