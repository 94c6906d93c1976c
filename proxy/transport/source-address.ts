// Which local address a connection to a peer is dialled from: the pod IP, so that the peer's
// inbound proxy sees which pod called (CIDR rules in policy, the probe exemption, logs).
import { isIP } from 'node:net';

/**
 * The address to bind before connecting to `host`, or undefined to let the kernel choose.
 * Binding is skipped where it could only fail: an unspecified pod IP (0.0.0.0, ::) names no
 * pod; an IPv4 source cannot reach an IPv6 host nor the reverse; and a loopback source
 * cannot reach a non-loopback host (the kernel refuses to route it).
 */
export function sourceAddressFor(podIp: string | undefined, host: string): string | undefined {
  if (!podIp) return undefined;
  const family = isIP(podIp);
  if (family === 0 || family !== isIP(host)) return undefined;
  if (isUnspecified(podIp)) return undefined;
  if (isLoopback(podIp) && !isLoopback(host)) return undefined;
  return podIp;
}

function isUnspecified(ip: string): boolean {
  return ip === '0.0.0.0' || /^[0:]+$/.test(ip);
}

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || /^[0:]+:0*1$/.test(ip);
}
