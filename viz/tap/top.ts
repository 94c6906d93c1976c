// `top`: tap events folded into a table of the busiest calls (source, destination, method,
// path) with counts, best, worst and last latency and success rate, as Linkerd's top shows.
import type { TapLine } from './fan-in.ts';

export interface TopRow {
  source: string;
  destination: string;
  method: string;
  path: string;
  count: number;
  bestUs: number;
  worstUs: number;
  lastUs: number;
  successes: number;
  failures: number;
}

/** Rows kept at most, and requests in flight remembered at most (a request whose end never comes is forgotten). */
const MAX_ROWS = 500;
const MAX_OPEN = 10_000;

type EventLine = Extract<TapLine, { type: 'event' }>;

const peerName = (p: { pod?: string; deployment?: string; address?: string } | null | undefined): string =>
  p?.pod || p?.deployment || p?.address || '-';

export class TopTable {
  private readonly open = new Map<string, { source: string; destination: string; method: string; path: string; status?: number }>();
  private readonly rows = new Map<string, TopRow>();

  add(line: EventLine): void {
    const id = `${line.pod}\u0000${line.requestId}`;
    if (line.event === 'requestInit') {
      if (this.open.size >= MAX_OPEN) this.open.delete(this.open.keys().next().value!);
      const path = line.requestInit.path.split('?')[0]!;
      this.open.set(id, { source: peerName(line.source), destination: peerName(line.destination), method: line.requestInit.method, path });
      return;
    }
    if (line.event === 'responseInit') {
      const req = this.open.get(id);
      if (req) req.status = line.responseInit.httpStatus;
      return;
    }
    if (line.event !== 'responseEnd') return;
    const req = this.open.get(id);
    if (!req) return;
    this.open.delete(id);
    // The destination may be known only now (outbound: the endpoint is chosen after the request starts).
    const destination = req.destination === '-' ? peerName(line.destination) : req.destination;
    const key = `${req.source}\u0000${destination}\u0000${req.method}\u0000${req.path}`;
    let row = this.rows.get(key);
    if (!row) {
      if (this.rows.size >= MAX_ROWS) return;
      row = { source: req.source, destination, method: req.method, path: req.path, count: 0, bestUs: Infinity, worstUs: 0, lastUs: 0, successes: 0, failures: 0 };
      this.rows.set(key, row);
    }
    const us = line.responseEnd.sinceRequestInitUs;
    row.count++;
    row.bestUs = Math.min(row.bestUs, us);
    row.worstUs = Math.max(row.worstUs, us);
    row.lastUs = us;
    // Linkerd's classification: a 5xx, a gRPC status other than OK, or no response at all.
    const failed = line.responseEnd.error !== '' || (req.status ?? 0) >= 500 || (line.responseEnd.grpcStatus !== null && line.responseEnd.grpcStatus.code !== 0);
    if (failed) row.failures++;
    else row.successes++;
  }

  /** Busiest first. */
  snapshot(): TopRow[] {
    return [...this.rows.values()].sort((a, b) => b.count - a.count || a.path.localeCompare(b.path));
  }
}
