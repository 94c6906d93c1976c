// Destination.GetEndpoints: first the current set, then adds and removes as pods and Services
// change; `no_endpoints` whenever the set becomes empty.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EndpointUpdateMessage, GetDestinationMessage, EndpointMessage } from '../../api/destination-messages.ts';
import { destinationProto } from '../../api/destination-proto.ts';
import { endpointToWire } from '../../api/destination-wire.ts';
import type { Endpoint } from '../../api/destination-types.ts';
import { AuthorityError } from '../index/authority.ts';
import type { Discovery } from '../index/discovery.ts';
import type { EndpointView } from '../index/endpoint-view.ts';
import { EncodedStream, responseEncoder } from './encoded-stream.ts';
import { stopWhenEnded } from './stream-end.ts';

/**
 * Serves GetEndpoints (registered through destination-service.ts, which takes its messages
 * encoded). `toWire` is an endpoint's wire form (a parameter so a test can break it).
 */
export function endpointsHandler(discovery: Discovery, logger: Logger, toWire: (e: Endpoint) => EndpointMessage = endpointToWire) {
  const encode = responseEncoder<EndpointUpdateMessage>(destinationProto().Destination.service, 'GetEndpoints');
  return (call: grpc.ServerWritableStream<GetDestinationMessage, Buffer>) => {
    const { authority = '', contextNamespace = '' } = call.request;
    let watch: ReturnType<Discovery['watchEndpoints']> | undefined;
    let graceTimer: NodeJS.Timeout | undefined;
    const stop = () => {
      clearTimeout(graceTimer);
      watch?.stop();
    };
    // On a failure the proxy keeps its last endpoints, and asks again.
    const out = new EncodedStream<EndpointUpdateMessage>(call, {
      encode, logger,
      describe: () => ({ subject: `endpoints of ${authority} (asked from namespace "${contextNamespace}")`, logFields: { authority, contextNamespace } }),
    });
    let sent: Map<string, string> | undefined; // address -> fingerprint of what this caller holds
    const send = (view: EndpointView) => {
      const next = new Map(view.endpoints.map((e): [string, string] => [e.address, JSON.stringify(e)]));
      const written = out.send((): EndpointUpdateMessage[] => {
        if (view.endpoints.length === 0) return sent === undefined || sent.size > 0 ? [{ noEndpoints: { exists: view.exists } }] : [];
        const removed = [...(sent?.keys() ?? [])].filter((a) => !next.has(a));
        const added: Endpoint[] = view.endpoints.filter((e) => sent?.get(e.address) !== next.get(e.address));
        const messages: EndpointUpdateMessage[] = [];
        if (removed.length > 0) messages.push({ remove: { addresses: removed } });
        if (added.length > 0) messages.push({ add: { endpoints: added.map(toWire) } });
        return messages;
      });
      if (written) sent = next;
    };
    // Right after a restart, an empty set most likely means "not re-registered yet": say nothing
    // until a pod appears or the grace period ends, so the proxy keeps its last endpoints.
    let holding: EndpointView | undefined;
    const isHeld = (view: EndpointView) => sent === undefined && view.exists && view.endpoints.length === 0 && discovery.graceLeftMs() > 0;
    const onView = (view: EndpointView) => {
      if (isHeld(view)) holding = view;
      else send(view);
    };
    try {
      watch = discovery.watchEndpoints(authority, contextNamespace, onView);
    } catch (err) {
      if (!(err instanceof AuthorityError)) throw err;
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: err.message });
      return;
    }
    stopWhenEnded(call, stop, (err) => logger.debug({ err, authority }, 'endpoints stream failed'));
    onView(watch.current);
    if (holding) graceTimer = setTimeout(() => sent === undefined && holding && send(holding), discovery.graceLeftMs() + 10);
  };
}
