// How the learner on the host reaches the front door, the viz and the dashboard of a `--netns` demo,
// whose addresses exist only inside its namespaces: as `kubectl port-forward` does, through a
// channel that is not the network. The runner on the host listens on 127.0.0.1 (TCP) and hands each
// connection to a Unix socket in the state folder; the runner inside the node's namespace accepts
// there and dials the address in the namespace. A Unix socket belongs to no network namespace, so
// nothing else crosses: no route, no veth to the host.
import net from 'node:net';
import { rmSync } from 'node:fs';
import { NetnsError } from './network.ts';
import { splitHostPort } from '../../../../api/host-port.ts';

export interface Forward {
  /** What the learner dials on the host (127.0.0.1:8000). */
  hostAddr: string;
  /** The Unix socket between the two runners. */
  socket: string;
  /** What it reaches inside the namespace (10.244.0.1:8000). */
  target: string;
}

/** Joins two sockets; either side closing or failing ends both. */
function join(a: net.Socket, b: net.Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}

function listen(server: net.Server, where: net.ListenOptions, what: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new NetnsError(`cannot listen on ${what}: ${err.code === 'EADDRINUSE' ? 'the address is in use (another demo? ss -ltnp shows who holds it)' : err.message}`, { cause: err })));
    server.listen(where, () => resolve(server));
  });
}

const hostPort = (addr: string) => splitHostPort(addr, 'forwarded address');

/** The host's side: TCP on `hostAddr` (loopback only) to the Unix socket. */
export function forwardFromHost(f: Forward): Promise<net.Server> {
  const server = net.createServer((client) => join(client, net.connect({ path: f.socket })));
  return listen(server, hostPort(f.hostAddr), f.hostAddr);
}

/** The namespace's side: the Unix socket to TCP on `target`. */
export function forwardIntoNamespace(f: Forward): Promise<net.Server> {
  rmSync(f.socket, { force: true });
  const server = net.createServer((client) => join(client, net.connect(hostPort(f.target))));
  return listen(server, { path: f.socket }, f.socket);
}

/**
 * Inside the node's namespace, the same host addresses (its own loopback) to the targets: so that
 * `ip netns exec <node> mesh load` (and every command that reads pods.json's addresses and also
 * dials pods' proxies) works there as on the host.
 */
export function forwardOnNodeLoopback(f: Forward): Promise<net.Server> {
  const server = net.createServer((client) => join(client, net.connect(hostPort(f.target))));
  return listen(server, hostPort(f.hostAddr), `${f.hostAddr} in the node's namespace`);
}

export function closeAll(servers: net.Server[]): Promise<void> {
  return Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
}
