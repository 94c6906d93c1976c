// Destination.GetEndpoints: first the current set, then adds and removes as pods and Services
// change; `no_endpoints` whenever the set becomes empty.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EndpointUpdateMessage, GetDestinationMessage } from '../../api/destination-messages.ts';
import { endpointToWire } from '../../api/destination-wire.ts';
import type { Endpoint } from '../../api/destination-types.ts';
import { AuthorityError } from '../index/authority.ts';
import type { Discovery } from '../index/discovery.ts';
import type { EndpointView } from '../index/endpoint-view.ts';
import { stopWhenEnded } from './stream-end.ts';

export function endpointsHandler(discovery: Discovery, logger: Logger) {
  return (call: grpc.ServerWritableStream<GetDestinationMessage, EndpointUpdateMessage>) => {
    const { authority = '', contextNamespace = '' } = call.request;
    let sent: Map<string, string> | undefined; // address -> fingerprint of what this caller holds
    const send = (view: EndpointView) => {
      const next = new Map(view.endpoints.map((e): [string, string] => [e.address, JSON.stringify(e)]));
      if (view.endpoints.length === 0) {
        if (sent === undefined || sent.size > 0) call.write({ noEndpoints: { exists: view.exists } });
        sent = next;
        return;
      }
      const removed = [...(sent?.keys() ?? [])].filter((a) => !next.has(a));
      const added: Endpoint[] = view.endpoints.filter((e) => sent?.get(e.address) !== next.get(e.address));
      if (removed.length > 0) call.write({ remove: { addresses: removed } });
      if (added.length > 0) call.write({ add: { endpoints: added.map(endpointToWire) } });
      sent = next;
    };
    // Right after a restart, an empty set most likely means "not re-registered yet": say nothing
    // until a pod appears or the grace period ends, so the proxy keeps its last endpoints.
    let holding: EndpointView | undefined;
    const isHeld = (view: EndpointView) => sent === undefined && view.exists && view.endpoints.length === 0 && discovery.graceLeftMs() > 0;
    const onView = (view: EndpointView) => {
      if (isHeld(view)) holding = view;
      else send(view);
    };
    let watch;
    try {
      watch = discovery.watchEndpoints(authority, contextNamespace, onView);
    } catch (err) {
      if (!(err instanceof AuthorityError)) throw err;
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: err.message });
      return;
    }
    onView(watch.current);
    const graceTimer = holding ? setTimeout(() => sent === undefined && holding && send(holding), discovery.graceLeftMs() + 10) : undefined;
    const stop = () => {
      clearTimeout(graceTimer);
      watch.stop();
    };
    stopWhenEnded(call, stop, (err) => logger.debug({ err, authority }, 'endpoints stream failed'));
  };
}
