// The Destination service (GetEndpoints, GetProfile) as this server registers it with grpc-js.
import type * as grpc from '@grpc/grpc-js';
import { destinationProto } from '../../api/destination-proto.ts';
import { preEncoded } from './encoded-stream.ts';

/**
 * GetEndpoints' and GetProfile's messages reach grpc-js already encoded (their handlers,
 * endpoints-stream.ts and profile-stream.ts, encode each to catch a failure: encoded-stream.ts),
 * so nothing is encoded twice.
 */
export function destinationServiceDefinition(): grpc.ServiceDefinition {
  return preEncoded(destinationProto().Destination.service, ['GetEndpoints', 'GetProfile']);
}
