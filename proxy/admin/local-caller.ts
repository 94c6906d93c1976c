// Who may ask the proxy to shut down: processes of its own pod, nobody else.
import { isIP } from 'node:net';

/**
 * A local process that connects without binding a source address shows up as 127.0.0.1 (or
 * ::1): that is how the pod's own app or an operator's curl arrives. A peer bound to another
 * loopback address is another pod on this machine, and a non-loopback peer is off the machine.
 */
const LOCAL_SOURCES = new Set(['127.0.0.1', '::1']);

/** Why `peer` may not call POST /shutdown on an admin bound to `podHost`, or undefined if it may. */
export function shutdownRefusal(peer: string, podHost: string): string | undefined {
  const address = unmapped(peer);
  if (address === unmapped(podHost) || LOCAL_SOURCES.has(address)) return undefined;
  if (!isLoopback(address)) return `caller ${address} is not a loopback address (only the pod's own processes may shut the proxy down)`;
  return `caller ${address} is another pod's address, not this pod's (${podHost})`;
}

function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function isLoopback(address: string): boolean {
  return address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));
}
