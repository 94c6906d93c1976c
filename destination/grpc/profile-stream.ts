// Destination.GetProfile: the profile now, then again whenever it changes.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { GetDestinationMessage, ProfileUpdateMessage } from '../../api/destination-messages.ts';
import { destinationProto } from '../../api/destination-proto.ts';
import type { Profile } from '../../api/destination-types.ts';
import { profileToWire } from '../../api/destination-wire.ts';
import { AuthorityError } from '../index/authority.ts';
import type { Discovery } from '../index/discovery.ts';
import { stopWhenEnded } from './stream-end.ts';

/**
 * `toWire` is the profile's wire form (a parameter so a test can break it). Each message is also
 * checked with the serializer grpc-js writes with: a message it cannot encode would otherwise end
 * the stream with a bare INTERNAL "Error serializing response" and no line in the log. Profiles
 * change seldom, so encoding one twice costs nothing that matters.
 */
export function profileHandler(discovery: Discovery, logger: Logger, toWire: (p: Profile) => ProfileUpdateMessage = profileToWire) {
  const serialize = destinationProto().Destination.service['GetProfile']!.responseSerialize;
  return (call: grpc.ServerWritableStream<GetDestinationMessage, ProfileUpdateMessage>) => {
    const { authority = '', contextNamespace = '' } = call.request;
    let failed = false;
    let watch: ReturnType<Discovery['watchProfile']> | undefined;
    // Called from the discovery's refresh too, beside every other watcher: it must never throw.
    const send = (p: Profile): void => {
      if (failed) return;
      let message: ProfileUpdateMessage;
      try {
        message = toWire(p);
        serialize(message);
      } catch (err) {
        // This stream ends (the proxy keeps its last profile and asks again); the others go on.
        failed = true;
        watch?.stop();
        const what = `profile of ${p.fqdn || authority} (asked as "${authority}" from namespace "${contextNamespace}") could not be encoded: ${(err as Error).message}`;
        logger.error({ err, authority, contextNamespace, service: p.fqdn }, `${what}; ending this profile stream`);
        call.emit('error', { code: grpc.status.INTERNAL, details: what });
        return;
      }
      call.write(message);
    };
    try {
      watch = discovery.watchProfile(authority, contextNamespace, send);
    } catch (err) {
      if (!(err instanceof AuthorityError)) throw err;
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: err.message });
      return;
    }
    const w = watch;
    stopWhenEnded(call, () => w.stop(), (err) => logger.debug({ err, authority }, 'profile stream failed'));
    send(w.current);
  };
}
