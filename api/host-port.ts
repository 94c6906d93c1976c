// `host:port` split and joined in one place. An IPv6 host is written in brackets ([fd00::5]:8086),
// so the port is what follows the last ':' outside them; a split host never keeps its brackets.
import { isIPv6 } from 'node:net';
import { codedError } from './errors.ts';

/** An address that is not `host:port`; the message names where it came from and what is wrong. */
export class HostPortError extends codedError('BAD_HOST_PORT') {
  /** What is wrong, without the address: `no port`, `the port "99999" is not a number from 0 to 65535`. */
  reason = '';
}

export interface HostPort {
  /** Without brackets: `127.0.0.1`, `fd00::5`, `orders.production`. */
  host: string;
  /** 0 to 65535 (0: a listener picks a free port). */
  port: number;
}

/**
 * `127.0.0.1:8080`, `[fd00::5]:8080`, `name:8080` -> host and port. Also `fd00::5:8080`, an IPv6
 * address without brackets followed by the port: what a manifest's `$(POD_IP):8080` becomes in an
 * IPv6 pod, where nothing can add the brackets (the part after the last ':' is then the port).
 * `what` names the address in the error: `--addr`, `MESH_DESTINATION_ADDR`, `endpoint of orders`.
 */
export function splitHostPort(text: string, what: string): HostPort {
  const bad = (why: string) => Object.assign(new HostPortError(`${what} "${text}" is not host:port (${why}), such as 127.0.0.1:8080 or [fd00::5]:8080`), { reason: why });
  const colon = text.lastIndexOf(':');
  if (colon < 0) throw bad('no port');
  const portText = text.slice(colon + 1);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw bad(`the port "${portText}" is not a number from 0 to 65535`);
  let host = text.slice(0, colon);
  if (host.startsWith('[') || host.endsWith(']')) {
    if (!host.startsWith('[') || !host.endsWith(']') || !isIPv6(host.slice(1, -1))) throw bad(`"${host}" is not an IPv6 address in brackets`);
    host = host.slice(1, -1);
  } else if (host.includes(':') && !isIPv6(host)) {
    throw bad(`"${host}" is neither a host name nor an IPv6 address`);
  }
  if (host === '' || /\s/.test(host)) throw bad(host === '' ? 'no host' : 'a space in the host');
  return { host, port: Number(portText) };
}

/** host and port -> `host:port`, an IPv6 host in brackets. */
export function joinHostPort(host: string, port: number | string): string {
  return `${bracketedHost(host)}:${port}`;
}

/** A host as a URL writes it when no port follows: an IPv6 address in brackets. */
export function bracketedHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The host of an address the mesh wrote itself: `ip:port`, `[v6]:port`, or an address with no
 * port (`10.0.0.5`, `fd00::5`, `[fd00::5]`); never throws. A bare IPv6 address keeps all of its
 * groups: `fd00::5:4143` is one address, since a port after an IPv6 address is written after `]`.
 */
export function hostOfAddress(address: string): string {
  // No regex: this runs per request (the ingress's Host, tap), per caller (authorization).
  if (address.charCodeAt(0) === 0x5b /* [ */) {
    const end = address.indexOf(']');
    if (end > 1 && isPortOrNothing(address, end + 1)) return address.slice(1, end);
  }
  const colon = address.indexOf(':');
  return colon >= 0 && colon === address.lastIndexOf(':') ? address.slice(0, colon) : address;
}

/** Whether `text` from `from` on is empty or `:` and one or more digits. */
function isPortOrNothing(text: string, from: number): boolean {
  if (from === text.length) return true;
  if (text.charCodeAt(from) !== 0x3a /* : */ || from + 1 === text.length) return false;
  for (let i = from + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
