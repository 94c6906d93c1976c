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
 * The Destination service as this server registers it: GetProfile's messages reach grpc-js
 * already encoded (profileHandler encodes each itself, to catch a failure), so its serializer
 * passes the bytes through and nothing is encoded twice.
 */
export function destinationServiceDefinition(): grpc.ServiceDefinition {
  const service = destinationProto().Destination.service;
  return { ...service, GetProfile: { ...service['GetProfile']!, responseSerialize: (bytes: Buffer) => bytes } };
}

/**
 * Serves GetProfile (registered through `destinationServiceDefinition`). `toWire` is the
 * profile's wire form (a parameter so a test can break it). Each message is encoded here, with
 * the serializer grpc-js would use: a message it cannot encode would otherwise end the stream
 * with a bare INTERNAL "Error serializing response" and no line in the log.
 */
export function profileHandler(discovery: Discovery, logger: Logger, toWire: (p: Profile) => ProfileUpdateMessage = profileToWire) {
  const encode = destinationProto().Destination.service['GetProfile']!.responseSerialize;
  return (call: grpc.ServerWritableStream<GetDestinationMessage, Buffer>) => {
    const { authority = '', contextNamespace = '' } = call.request;
    let failed = false;
    let watch: ReturnType<Discovery['watchProfile']> | undefined;
    // Called from the discovery's refresh too, beside every other watcher: it must never throw.
    const send = (p: Profile): void => {
      if (failed) return;
      let bytes: Buffer;
      try {
        bytes = encode(toWire(p));
      } catch (err) {
        // This stream ends (the proxy keeps its last profile and asks again); the others go on.
        failed = true;
        watch?.stop();
        const what = `profile of ${p.fqdn || authority} (asked as "${authority}" from namespace "${contextNamespace}") could not be encoded: ${(err as Error).message}`;
        logger.error({ err, authority, contextNamespace, service: p.fqdn }, `${what}; ending this profile stream`);
        call.emit('error', { code: grpc.status.INTERNAL, details: what });
        return;
      }
      call.write(bytes);
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
