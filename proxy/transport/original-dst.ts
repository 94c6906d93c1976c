// The address a redirected connection was really sent to, read with getsockopt(SO_ORIGINAL_DST):
// after an iptables REDIRECT the socket's own local address is the proxy's port, and only the
// kernel's connection tracking remembers where the app meant to go. Node has no getsockopt, so
// libc's is called through koffi (an FFI library whose npm package carries its prebuilt binaries).
import { createRequire } from 'node:module';
import { SocketAddress, type Socket } from 'node:net';
import { joinHostPort } from '../../api/host-port.ts';

const SOL_IP = 0;
const SO_ORIGINAL_DST = 80; // <linux/netfilter_ipv4.h>
const SOCKADDR_IN_BYTES = 16;
// ip6tables' REDIRECT is remembered the same way, asked at the IPv6 level (<linux/netfilter_ipv6/ip6_tables.h>).
const SOL_IPV6 = 41;
const IP6T_SO_ORIGINAL_DST = 80;
const SOCKADDR_IN6_BYTES = 28;
const AF_INET = 2;
const AF_INET6 = 10;

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
 * `ip:port` (`[v6]:port` for IPv6) the peer connected to before a REDIRECT, or undefined when the
 * connection was not redirected (it came to this port directly: explicit proxying) or the answer
 * cannot be read (not Linux, no file descriptor). Never throws: a connection without one is served
 * as before.
 */
export function originalDst(socket: Socket): string | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  const family = socket.remoteFamily;
  if (typeof fd !== 'number' || fd < 0 || process.platform !== 'linux' || (family !== 'IPv4' && family !== 'IPv6')) return undefined;
  const v6 = family === 'IPv6';
  const value = Buffer.alloc(v6 ? SOCKADDR_IN6_BYTES : SOCKADDR_IN_BYTES);
  const length = [value.length];
  let rc: number;
  try {
    rc = bind()(fd, v6 ? SOL_IPV6 : SOL_IP, v6 ? IP6T_SO_ORIGINAL_DST : SO_ORIGINAL_DST, value, length);
  } catch {
    return undefined; // no libc.so.6 or no koffi binary for this platform: no interception here
  }
  // -1: no connection-tracking entry (ENOENT), so no NAT happened to this connection.
  if (rc !== 0) return undefined;
  const dst = v6 ? ipv6Address(value, length[0]!) : ipv4Address(value, length[0]!);
  // Connection tracking also answers for connections nothing rewrote: then it is our own address.
  return dst === undefined || dst === joinHostPort(socket.localAddress ?? '', socket.localPort ?? 0) ? undefined : dst;
}

/** sockaddr_in: family (host order), port and address (network order). */
function ipv4Address(value: Buffer, length: number): string | undefined {
  if (length < 8 || value.readUInt16LE(0) !== AF_INET) return undefined;
  return `${value[4]}.${value[5]}.${value[6]}.${value[7]}:${value.readUInt16BE(2)}`;
}

/**
 * sockaddr_in6: family (host order), port (network order), flow info, then the 16-byte address.
 * Written by Node's own formatter (SocketAddress), the one that writes socket.localAddress
 * (`fd00::5`, `::ffff:10.0.0.1`), so the two compare; in brackets before its port.
 */
function ipv6Address(value: Buffer, length: number): string | undefined {
  if (length < 24 || value.readUInt16LE(0) !== AF_INET6) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(value.readUInt16BE(8 + i * 2).toString(16));
  return joinHostPort(new SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address, value.readUInt16BE(2));
}
