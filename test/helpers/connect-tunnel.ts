// Opens an HTTP/1.1 CONNECT tunnel through a proxy's listener, for tests that then speak through it.
import { connect, type Socket } from 'node:net';

export interface Tunnel {
  socket: Socket;
  /** The proxy's response head, through its blank line (latin1). */
  head: string;
  /** Bytes that came in the same reads after the head. */
  rest: Buffer;
}

/**
 * Connects to `host:port`, asks `CONNECT target`, and resolves once the response head is in,
 * whatever its status (the caller checks it). Socket errors after that are swallowed: a test
 * sees them as bytes that never arrive.
 */
export function openTunnel(port: number, host: string, target: string): Promise<Tunnel> {
  const socket = connect(port, host);
  return new Promise((resolve, reject) => {
    let read = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      read = Buffer.concat([read, d]);
      const end = read.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve({ socket, head: read.subarray(0, end + 4).toString('latin1'), rest: read.subarray(end + 4) });
    };
    const onClose = (): void => reject(new Error(`CONNECT ${target}: closed before a response head; read ${JSON.stringify(read.toString('latin1'))}`));
    socket.on('error', reject);
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
  });
}
