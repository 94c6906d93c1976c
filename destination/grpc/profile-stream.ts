// Destination.GetProfile: the profile now, then again whenever it changes.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { GetDestinationMessage, ProfileUpdateMessage } from '../../api/destination-messages.ts';
import { profileToWire } from '../../api/destination-wire.ts';
import { AuthorityError } from '../index/authority.ts';
import type { Discovery } from '../index/discovery.ts';
import { stopWhenEnded } from './stream-end.ts';

export function profileHandler(discovery: Discovery, logger: Logger) {
  return (call: grpc.ServerWritableStream<GetDestinationMessage, ProfileUpdateMessage>) => {
    const { authority = '', contextNamespace = '' } = call.request;
    let watch;
    try {
      watch = discovery.watchProfile(authority, contextNamespace, (p) => call.write(profileToWire(p)));
    } catch (err) {
      if (!(err instanceof AuthorityError)) throw err;
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: err.message });
      return;
    }
    call.write(profileToWire(watch.current));
    const stop = () => watch.stop();
    stopWhenEnded(call, stop, (err) => logger.debug({ err, authority }, 'profile stream failed'));
  };
}
