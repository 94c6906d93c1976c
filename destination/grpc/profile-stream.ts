// Destination.GetProfile: the profile now, then again whenever it changes.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { GetDestinationMessage, ProfileUpdateMessage } from '../../api/destination-messages.ts';
import { destinationProto } from '../../api/destination-proto.ts';
import type { Profile } from '../../api/destination-types.ts';
import { profileToWire } from '../../api/destination-wire.ts';
import { AuthorityError } from '../index/authority.ts';
import type { Discovery } from '../index/discovery.ts';
import { EncodedStream, responseEncoder } from './encoded-stream.ts';
import { stopWhenEnded } from './stream-end.ts';

/**
 * Serves GetProfile (registered through destination-service.ts, which takes its messages
 * encoded). `toWire` is the profile's wire form (a parameter so a test can break it).
 */
export function profileHandler(discovery: Discovery, logger: Logger, toWire: (p: Profile) => ProfileUpdateMessage = profileToWire) {
  const encode = responseEncoder<ProfileUpdateMessage>(destinationProto().Destination.service, 'GetProfile');
  return (call: grpc.ServerWritableStream<GetDestinationMessage, Buffer>) => {
    const { authority = '', contextNamespace = '' } = call.request;
    let watch: ReturnType<Discovery['watchProfile']>;
    let last: Profile | undefined;
    const out = new EncodedStream<ProfileUpdateMessage>(call, {
      encode, logger,
      describe: () => ({
        subject: `profile of ${last?.fqdn || authority} (asked as "${authority}" from namespace "${contextNamespace}")`,
        logFields: { authority, contextNamespace, service: last?.fqdn },
      }),
    });
    // The proxy keeps its last profile when this stream ends, and asks again.
    const send = (p: Profile): void => {
      last = p;
      out.send(() => [toWire(p)]);
    };
    try {
      watch = discovery.watchProfile(authority, contextNamespace, send);
    } catch (err) {
      if (!(err instanceof AuthorityError)) throw err;
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: err.message });
      return;
    }
    stopWhenEnded(call, () => watch.stop(), (err) => logger.debug({ err, authority }, 'profile stream failed'));
    send(watch.current);
  };
}
