// The tap server's encoder for TapEvent: protobufjs's `encode` straight from plain objects, enums
// mapped to their numbers here (proto-loader's serializer first copies every event into message
// instances, about half of its cost per event).
//
// A tapped request's three events share most of their fields (direction, both peers, tls, id,
// route), so those are encoded once per request and each event adds only its own part. That
// relies on a rule of the protobuf encoding: serialized messages concatenated are one message
// with the fields of both (each field here is in one part only), and a parser takes fields in
// any order. test/api/tap-encode.test.ts decodes what comes out with proto-loader's decoder.
import protobuf from 'protobufjs';
import { protoType } from './proto-codec.ts';
import type { TapEventOut } from './tap-proto.ts';

const DIRECTION = { DIRECTION_UNSPECIFIED: 0, INBOUND: 1, OUTBOUND: 2 } as const;
const REASON = { REASON_UNSPECIFIED: 0, LIMIT: 1, DURATION: 2, SHUTDOWN: 3 } as const;

/** The fields every event of one request shares. */
export type TapRequestFields = Pick<TapEventOut, 'proxyDirection' | 'source' | 'destination' | 'tls' | 'requestId' | 'route'>;
/** What one event says of its request: exactly one of the three. */
export type TapEventBody = Pick<TapEventOut, 'requestInit' | 'responseInit' | 'responseEnd'>;

let tapEventType: protobuf.Type | undefined;

function tapEvent(): protobuf.Type {
  return (tapEventType ??= protoType('tap', 'mesh.tap.v1.TapEvent'));
}

/** One whole TapEvent as its wire bytes (a tap's last event, `tap_end`; tests). */
export function encodeTapEvent(event: TapEventOut): Buffer {
  const wire: Record<string, unknown> = { ...event, proxyDirection: DIRECTION[event.proxyDirection] };
  if (event.tapEnd) wire.tapEnd = { ...event.tapEnd, reason: REASON[event.tapEnd.reason] };
  return tapEvent().encode(wire).finish() as Buffer;
}

/** The shared fields of one request's events, encoded once for all of them. */
export function encodeRequestFields(fields: TapRequestFields): Buffer {
  const { source, destination, tls, requestId, route } = fields;
  return tapEvent().encode({ proxyDirection: DIRECTION[fields.proxyDirection], source, destination, tls, requestId, route }).finish() as Buffer;
}

/** One event's own part, encoded once for every tap that gets the same. */
export function encodeEventBody(body: TapEventBody): Buffer {
  return tapEvent().encode(body).finish() as Buffer;
}

/** TapEvent's `dropped` (field 7, a varint) as its key byte: (7 << 3) | wire type 0. */
const DROPPED_KEY = (7 << 3) | 0;

/** A whole event from its parts, with the tap's own count of dropped requests. */
export function joinTapEvent(fields: Buffer, body: Buffer, dropped: number): Buffer {
  const droppedField = protobuf.Writer.create().uint32(DROPPED_KEY).uint64(dropped).finish();
  return Buffer.concat([fields, body, droppedField]);
}
