// A tap (or top) stream from the viz API, read with fetch as NDJSON so that a refusal (a 400
// naming the bad filter, a 404 for an unknown deployment) reaches the page with its message.
// The viz taps the proxies with its own identity; the browser only reads the merged lines.

/** Opens `/api/v1/<kind>?params`; calls onLine(line) for each line. Returns stop(). */
export function openStream(kind, params, onLine) {
  const abort = new AbortController();
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ''));
  (async () => {
    const res = await fetch(`/api/v1/${kind}?${query}`, { headers: { accept: 'application/x-ndjson' }, signal: abort.signal });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      onLine({ type: 'error', pod: '', message: body.error?.message ?? `the viz answered ${res.status}` });
      onLine({ type: 'closed' });
      return;
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffered += value;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      const at = performance.now();
      for (const line of lines) if (line) onLine({ ...JSON.parse(line), receivedAt: at });
    }
    onLine({ type: 'closed' });
  })().catch((err) => {
    if (abort.signal.aborted) return;
    onLine({ type: 'error', pod: '', message: `the stream broke: ${err.message}` });
    onLine({ type: 'closed' });
  });
  return () => abort.abort();
}

/** Folds tap events into requests, keyed by pod and the proxy's request id. */
export class RequestTable {
  constructor(max = 200) {
    this.max = max;
    this.byKey = new Map();
    /** Cumulative drops per pod as each proxy reports them, plus the viz's own. */
    this.droppedByPod = new Map();
    this.vizDropped = 0;
  }

  add(line) {
    if (line.type === 'end') {
      this.vizDropped = Math.max(this.vizDropped, line.dropped ?? 0);
      return undefined;
    }
    if (line.type !== 'event') return undefined;
    if (line.dropped) this.droppedByPod.set(line.pod, Math.max(this.droppedByPod.get(line.pod) ?? 0, Number(line.dropped)));
    const key = `${line.pod}|${line.requestId}`;
    let r = this.byKey.get(key);
    if (!r) {
      r = { key, pod: line.pod, direction: line.proxyDirection, source: line.source, destination: line.destination, tls: line.tls, route: line.route };
      this.byKey.set(key, r);
      if (this.byKey.size > this.max) this.byKey.delete(this.byKey.keys().next().value);
    }
    if (line.requestInit) {
      Object.assign(r, { startedAt: line.receivedAt, method: line.requestInit.method, authority: line.requestInit.authority, path: line.requestInit.path, requestHeaders: line.requestInit.headers ?? [] });
      r.requestId = (r.requestHeaders.find((h) => h.name === 'x-request-id') ?? {}).value;
    }
    if (line.responseInit) Object.assign(r, { status: line.responseInit.httpStatus, latencyUs: Number(line.responseInit.sinceRequestInitUs), responseHeaders: line.responseInit.headers ?? [] });
    if (line.responseEnd) {
      const e = line.responseEnd;
      Object.assign(r, { durationUs: Number(e.sinceRequestInitUs), grpcStatus: e.grpcStatus?.code, error: e.error, errorMessage: e.errorMessage, journey: e.journey ?? [], journeyDropped: e.journeyDropped ?? 0, ended: true });
      r.destination = line.destination; // outbound: the endpoint of the latest attempt
    }
    return r;
  }

  /** Newest first. */
  rows() {
    return [...this.byKey.values()].reverse();
  }

  dropped() {
    let n = this.vizDropped;
    for (const d of this.droppedByPod.values()) n += d;
    return n;
  }
}

/**
 * Every tapped request of this page's life, whichever page tapped it, for the Journey page: a
 * request picked on the Tap page shows there with the hops that tap saw.
 */
export const seenRequests = new RequestTable(2000);
