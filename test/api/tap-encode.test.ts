// The tap server's own TapEvent encoder writes the bytes proto-loader's serializer writes, and
// a tap client decodes them back to the same events.
import { describe, expect, it } from 'vitest';
import { encodeEventBody, encodeRequestFields, encodeTapEvent, joinTapEvent } from '../../api/tap-encode.ts';
import type { TapEventOut } from '../../api/tap-proto.ts';
import { tapService } from '../../api/tap-service.ts';

const observe = Object.values(tapService().service)[0]!;
const peers = {
  source: { address: '127.0.0.1:40000', identity: 'spiffe://cluster.local/ns/bench/sa/client', pod: 'client-0', deployment: 'client', namespace: 'bench' },
  destination: { address: '127.0.0.2:4143', namespace: 'bench', service: 'bench.bench.svc.cluster.local:8080' },
};

const events: Array<[string, TapEventOut]> = [
  ['request_init with headers', { proxyDirection: 'OUTBOUND', ...peers, tls: true, requestId: 'p-1', route: 'GET /x', dropped: 0, requestInit: { method: 'GET', scheme: 'http', authority: 'a:80', path: '/x?y=1', protocol: 'http/1.1', headers: [{ name: 'authorization', value: '[redacted]' }, { name: 'x-ü', value: 'ünïcode' }] } }],
  ['response_init, inbound, no tls', { proxyDirection: 'INBOUND', source: {}, destination: {}, tls: false, requestId: 'p-2', route: '', dropped: 12345678901, responseInit: { sinceRequestInitUs: 1234, httpStatus: 503, headers: [] } }],
  ['response_end with gRPC status and journey', { proxyDirection: 'OUTBOUND', ...peers, tls: true, requestId: 'p-3', route: '', dropped: 7, responseEnd: { sinceRequestInitUs: 99, sinceResponseInitUs: 0, responseBytes: 2 ** 40, grpcStatus: { code: 0 }, error: '', errorMessage: '', journey: [{ layer: 'route', note: 'default', atUs: 3 }], journeyDropped: 1 } }],
  ['response_end without gRPC status, an error', { proxyDirection: 'INBOUND', ...peers, tls: false, requestId: 'p-4', route: '', dropped: 0, responseEnd: { sinceRequestInitUs: 5, sinceResponseInitUs: 1, responseBytes: 0, error: 'CANCELLED', errorMessage: 'the client went away', journey: [], journeyDropped: 0 } }],
  ['tap_end', { proxyDirection: 'DIRECTION_UNSPECIFIED', source: {}, destination: {}, tls: false, requestId: '', route: '', dropped: 3, tapEnd: { reason: 'SHUTDOWN', matched: 10, dropped: 3, message: 'proxy shutting down' } }],
];

describe('encodeTapEvent', () => {
  it.each(events)('%s: the same bytes as proto-loader, decoded back to the same event', (_name, event) => {
    const ours = encodeTapEvent(event);
    expect(Buffer.compare(ours, observe.responseSerialize(event))).toBe(0);
    expect(observe.responseDeserialize(ours)).toEqual(observe.responseDeserialize(observe.responseSerialize(event)));
  });

  it('leaves the event it was given untouched (it may go to several taps)', () => {
    const event = structuredClone(events[4]![1]);
    encodeTapEvent(event);
    expect(event).toEqual(events[4]![1]);
  });

  it.each(events.filter(([, e]) => !e.tapEnd))('%s: from its parts (shared fields, own part, dropped), decoded to the same event', (_name, event) => {
    const { proxyDirection, source, destination, tls, requestId, route, dropped, requestInit, responseInit, responseEnd } = event;
    const joined = joinTapEvent(encodeRequestFields({ proxyDirection, source, destination, tls, requestId, route }), encodeEventBody({ requestInit, responseInit, responseEnd }), dropped);
    expect(observe.responseDeserialize(joined)).toEqual(observe.responseDeserialize(observe.responseSerialize(event)));
  });
});
