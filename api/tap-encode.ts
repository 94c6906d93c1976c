// The tap server's encoder for TapEvent: protobufjs's `encode` straight from the plain event
// object, enums mapped to their numbers here. proto-loader's serializer first copies every event
// into message instances (`fromObject`), about half of its cost per event; the bytes are the same
// (test/api/tap-encode.test.ts checks them against proto-loader's).
import protobuf from 'protobufjs';
import { protoPath } from './locate.ts';
import type { TapEventOut } from './tap-proto.ts';

const DIRECTION = { DIRECTION_UNSPECIFIED: 0, INBOUND: 1, OUTBOUND: 2 } as const;
const REASON = { REASON_UNSPECIFIED: 0, LIMIT: 1, DURATION: 2, SHUTDOWN: 3 } as const;

let tapEventType: protobuf.Type | undefined;

/** One TapEvent as its wire bytes. */
export function encodeTapEvent(event: TapEventOut): Buffer {
  tapEventType ??= protobuf.loadSync(protoPath('tap')).lookupType('mesh.tap.v1.TapEvent');
  const wire: Record<string, unknown> = { ...event, proxyDirection: DIRECTION[event.proxyDirection] };
  if (event.tapEnd) wire.tapEnd = { ...event.tapEnd, reason: REASON[event.tapEnd.reason] };
  return tapEventType.encode(wire).finish() as Buffer;
}
