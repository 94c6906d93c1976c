// The address a redirected connection was really sent to, read with getsockopt(SO_ORIGINAL_DST):
// after an iptables REDIRECT the socket's own local address is the proxy's port, and only the
// kernel's connection tracking remembers where the app meant to go. Node has no getsockopt, so
// libc's is called through koffi (an FFI library whose npm package carries its prebuilt binaries).
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

const SOL_IP = 0;
const SO_ORIGINAL_DST = 80; // <linux/netfilter_ipv4.h>
const SOCKADDR_IN_BYTES = 16;

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, length: number[]) => number;

/** libc's getsockopt, bound on first use: a proxy that never intercepts never loads the FFI library. */
let getsockopt: GetSockOpt | undefined;

function bind(): GetSockOpt {
  if (getsockopt) return getsockopt;
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const libc = koffi.load('libc.so.6');
  getsockopt = libc.func('int getsockopt(int fd, int level, int optname, _Out_ uint8_t *optval, _Inout_ uint32_t *optlen)') as GetSockOpt;
  return getsockopt;
}

/**
 * `ip:port` the peer connected to before a REDIRECT, or undefined when the connection was not
 * redirected (it came to this port directly: explicit proxying) or the answer cannot be read (not
 * IPv4, not Linux, no file descriptor). Never throws: a connection without one is served as before.
 */
export function originalDst(socket: Socket): string | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0 || process.platform !== 'linux' || socket.remoteFamily !== 'IPv4') return undefined;
  const value = Buffer.alloc(SOCKADDR_IN_BYTES);
  const length = [SOCKADDR_IN_BYTES];
  let rc: number;
  try {
    rc = bind()(fd, SOL_IP, SO_ORIGINAL_DST, value, length);
  } catch {
    return undefined; // no libc.so.6 or no koffi binary for this platform: no interception here
  }
  // -1: no connection-tracking entry (ENOENT), so no NAT happened to this connection.
  if (rc !== 0 || length[0]! < 8 || value.readUInt16LE(0) !== 2 /* AF_INET */) return undefined;
  // sockaddr_in: family (host order), port and address (network order).
  const dst = `${value[4]}.${value[5]}.${value[6]}.${value[7]}:${value.readUInt16BE(2)}`;
  // Connection tracking also answers for connections nothing rewrote: then it is our own address.
  return dst === `${socket.localAddress}:${socket.localPort}` ? undefined : dst;
}
