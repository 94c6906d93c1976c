// Checks, before anything starts, that every address the demo binds is free and local, and
// says what to do when one is not: a clear message instead of a process dying with EADDRINUSE.
import net from 'node:net';
import { codedError } from '../../../api/errors.ts';
import { splitHostPort } from '../../../api/host-port.ts';

export class PortProblem extends codedError('PORT_UNAVAILABLE') {}

/** Binds and closes at once: undefined when `host:port` could be listened on, else the error. */
export function tryBind(host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** `owners` maps `host:port` to what will listen there, for the message. */
export async function checkAddressesFree(owners: Map<string, string>): Promise<void> {
  const problems: string[] = [];
  for (const [address, owner] of owners) {
    const { host, port } = splitHostPort(address, `the address for ${owner}`);
    const err = await tryBind(host, port);
    if (!err) continue;
    if (err.code === 'EADDRINUSE') {
      problems.push(`${address} (for ${owner}) is already in use. Is the demo already running? ` +
        `See who holds it: ss -ltnp 'sport = :${port}'  (or: lsof -iTCP:${port} -sTCP:LISTEN)`);
    } else if (err.code === 'EADDRNOTAVAIL') {
      problems.push(`${host} (for ${owner}) is not an address of this machine. Linux routes all of 127.0.0.0/8 ` +
        `to loopback; on macOS add it first: sudo ifconfig lo0 alias ${host} up`);
    } else if (err.code === 'EACCES') {
      problems.push(`${address} (for ${owner}): permission denied (${err.message})`);
    } else {
      problems.push(`${address} (for ${owner}): ${err.message}`);
    }
  }
  if (problems.length) throw new PortProblem(`cannot start the demo:\n  - ${problems.join('\n  - ')}`);
}

/** Resolves once `address` accepts TCP connections; rejects at the deadline. */
export async function waitForTcp(address: string, deadline: number, isDead: () => boolean): Promise<void> {
  const { host, port } = splitHostPort(address, 'address');
  while (Date.now() < deadline && !isDead()) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
      // A connect nobody answers (a filtered address) must not outlive the deadline.
      socket.setTimeout(1000, () => { socket.destroy(); resolve(false); });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(isDead() ? 'exited before it was ready' : `not accepting connections on ${address}`);
}

/** Resolves once `url` answers 200; rejects at the deadline. */
export async function waitForHttp200(url: string, deadline: number, isDead: () => boolean): Promise<void> {
  let last = 'no answer';
  while (Date.now() < deadline && !isDead()) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `answered ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(isDead() ? 'exited before it was ready' : `${url} not ready (${last})`);
}
