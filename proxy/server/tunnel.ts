// Joins two byte streams both ways (CONNECT, opaque TCP, WebSocket): backpressure through
// pipe(), half-close passed on, and one log line when either side breaks.
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { asProxyError } from '../errors.ts';
import type { ConnectionKind } from '../outbound/stack.ts';

/** Opens raw bytes to a target (`host:port` outbound, the app's port inbound). */
export type TunnelOpener = (target: string) => Promise<Duplex>;

export function joinTunnel(client: Duplex, upstream: Duplex, logger: Logger, what: string): void {
  // A side that went away while the other was being opened (a client that gave up while the
  // target's profile or connection was awaited) has already emitted 'close': nothing below would
  // ever end the other side, which would stay open for as long as its peer allows.
  if (client.destroyed || upstream.destroyed) {
    logger.debug({ tunnel: what }, `tunnel ${what}: one side closed before the tunnel was joined`);
    client.destroy();
    upstream.destroy();
    return;
  }
  let broken = false;
  const fail = (side: string) => (err: Error) => {
    if (broken) return;
    broken = true;
    logger.info({ tunnel: what, side, err: err.message }, `tunnel ${what}: ${side} side broke: ${err.message}`);
    client.destroy();
    upstream.destroy();
  };
  client.on('error', fail('client'));
  upstream.on('error', fail('upstream'));
  // When one side closes completely, nothing more can be said on the other.
  client.once('close', () => upstream.destroy());
  upstream.once('close', () => client.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
}

/**
 * Opens `target` and joins it to `client` (paused until then, so no byte is lost); a failed
 * open ends the client, logged with the proxy error's code. `what` names the tunnel in logs.
 */
export function openAndJoin(client: Socket, target: string, open: TunnelOpener, logger: Logger, what: string): void {
  open(target).then(
    (upstream) => {
      client.resume();
      joinTunnel(client, upstream, logger, what);
    },
    (err: unknown) => {
      const e = asProxyError(err, what);
      logger.warn({ tunnel: what, code: e.code, err: e.message }, `${what} failed: ${e.message}`);
      client.destroy();
    },
  );
}

/** What a connection of a known kind is carried by: a skipped port straight to its target, an opaque one through the mesh. */
export function kindOpener(kind: Exclude<ConnectionKind, 'detect'>, openers: { openDirect: TunnelOpener; openTunnel: TunnelOpener }): { open: TunnelOpener; why: string } {
  return kind === 'skip'
    ? { open: openers.openDirect, why: 'skipped port, straight to the target' }
    : { open: openers.openTunnel, why: 'opaque port, no protocol detection' };
}
