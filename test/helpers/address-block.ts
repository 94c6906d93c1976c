// A loopback /24 of its own for each test file that binds fixed ports or pod addresses, so two
// runs of the same tests at once (two worktrees on one machine) never meet on an address.
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';

/**
 * Where a block is claimed: its `.0` (no test or demo uses it as a pod address), on a port above
 * Linux's ephemeral range (32768-60999), so no port-0 listener anywhere can be handed it.
 */
const CLAIM_HOST = 0;
const CLAIM_PORT = 65535;
const ATTEMPTS = 50;

/**
 * A free `127.N.M` (N in 64-254: clear of 127.0.x, where the demo's pods and the control plane
 * live), claimed for the life of this process. Proxies keep the mesh's standard ports (4140,
 * 4143, 4190, 4191) and the control plane its own (8080, 8086, 8085) on their addresses, as the
 * demo does, so tests cannot always use port 0; they use addresses in their own block instead.
 *
 * "Free" means no other process claimed it: the claim is a listener on `127.N.M.0:65535`, and a
 * second claim of the same block fails to bind (EADDRINUSE), so that caller tries another block.
 * The listener closes when the process exits (it does not keep the process alive), which frees
 * the block. Every test that binds a fixed address takes its addresses from here; one call per
 * file (the block's 254 addresses are the file's to share out).
 */
export async function addressBlock(): Promise<string> {
  const taken: string[] = [];
  for (let i = 0; i < ATTEMPTS; i++) {
    const net = `127.${randomInt(64, 255)}.${randomInt(0, 256)}`;
    if (await claim(`${net}.${CLAIM_HOST}`)) return net;
    taken.push(net);
  }
  throw new Error(`addressBlock: no free loopback /24 after ${ATTEMPTS} tries (taken: ${taken.join(', ')})`);
}

/** Listens on host:CLAIM_PORT for the rest of the process; false if someone holds it already. */
function claim(host: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(new Error(`addressBlock: cannot bind ${host}:${CLAIM_PORT}: ${err.message}`, { cause: err }))));
    server.listen({ host, port: CLAIM_PORT, exclusive: true }, () => {
      server.unref();
      resolve(true);
    });
  });
}
