// Reads a viz API stream (tap, top) line by line, stops it on Ctrl-C, and reports an API error
// answered before the stream began.
import { apiError, vizFetch, VizClientError } from './client.ts';
import type { TapLine } from '../tap/fan-in.ts';

export type StreamLine = TapLine | { type: 'top'; rows: unknown[] };

/**
 * Calls `each` for every line until the stream ends or Ctrl-C; resolves with how it ended.
 * The API's refusal (bad filter, unknown pod, proxy not ready) throws VizClientError.
 */
export async function readStream(addr: string, path: string, params: Record<string, string | undefined>, each: (line: StreamLine) => void): Promise<'ended' | 'interrupted'> {
  const abort = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const res = await vizFetch(addr, path, params, abort.signal);
    if (res.status !== 200) {
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      throw new VizClientError('VIZ_REFUSED', apiError(body, res.status));
    }
    let partial = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        const lines = (partial + Buffer.from(chunk).toString('utf8')).split('\n');
        partial = lines.pop()!;
        for (const l of lines) if (l.trim()) each(JSON.parse(l) as StreamLine);
      }
    } catch (err) {
      if (!interrupted) throw new VizClientError('VIZ_UNREACHABLE', `the viz at ${addr} broke the stream: ${(err as Error).message}`);
    }
    return interrupted ? 'interrupted' : 'ended';
  } catch (err) {
    if (interrupted) return 'interrupted';
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
