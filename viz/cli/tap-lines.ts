// Tap events as `linkerd viz tap` prints them, one line each:
//   req id=… proxy=out src=… dst=… tls=true :method=POST :authority=… :path=…
//   rsp id=… proxy=out src=… dst=… tls=true :status=201 latency=…µs
//   end id=… proxy=out src=… dst=… tls=true duration=…µs response-length=…B
// -o wide adds where each end is in resource terms (src_res=deploy/x src_ns=…).
import type { TapPeer } from '../../api/tap-proto.ts';
import type { TapLine } from '../tap/fan-in.ts';

type EventLine = Extract<TapLine, { type: 'event' }>;

const where = (p: Partial<TapPeer> | null | undefined): string => p?.address || p?.pod || '-';

function resourceOf(p: Partial<TapPeer> | null | undefined): string {
  if (p?.deployment) return `deploy/${p.deployment}`;
  if (p?.pod) return `pod/${p.pod}`;
  return '-';
}

export function tapLine(e: EventLine, wide = false): string {
  // Linkerd pads `in` so that the columns after it line up with `out`.
  const common = `id=${e.requestId} proxy=${e.proxyDirection === 'INBOUND' ? 'in ' : 'out'} src=${where(e.source)} dst=${where(e.destination)} tls=${e.tls}`;
  const extra = wide ? ` src_res=${resourceOf(e.source)} src_ns=${e.source?.namespace || '-'} dst_res=${resourceOf(e.destination)} dst_ns=${e.destination?.namespace || '-'}` : '';
  switch (e.event) {
    case 'requestInit':
      return `req ${common} :method=${e.requestInit.method} :authority=${e.requestInit.authority} :path=${e.requestInit.path}${extra}`;
    case 'responseInit':
      return `rsp ${common} :status=${e.responseInit.httpStatus} latency=${e.responseInit.sinceRequestInitUs}µs${extra}`;
    case 'responseEnd': {
      const end = e.responseEnd;
      const grpc = end.grpcStatus ? ` grpc-status=${end.grpcStatus.code}` : '';
      const error = end.error ? ` error=${end.error}` : '';
      return `end ${common}${grpc}${error} duration=${end.sinceResponseInitUs}µs response-length=${end.responseBytes}B${extra}`;
    }
  }
}

/** `532µs` under a millisecond, else `12ms`, as Linkerd's top prints latencies. */
export function micros(us: number): string {
  return us < 1000 ? `${Math.round(us)}µs` : `${Math.round(us / 1000)}ms`;
}
