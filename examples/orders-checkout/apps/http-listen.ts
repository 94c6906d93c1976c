// How a demo app's HTTP/1 server starts and stops: on the pod address, and closed with its
// keep-alive connections (else close() waits for every idle client to leave).
import type { Server } from 'node:http';

/** Listens on `host:port` (0: any free port) and resolves with the port it got. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as { port: number }).port));
  });
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
}
