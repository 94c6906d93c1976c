// One request on an HTTP/2 session: body and trailers up, response and trailers down,
// cancellation as RST_STREAM(CANCEL), and a reset before the response noticed even when Node
// reports it as a quiet close.
import http2, { type ClientHttp2Stream } from 'node:http2';
import { ProxyError } from '../../errors.ts';
import { offCancel, onCancel, type CancelHook } from '../../http/cancel.ts';
import { forward } from '../../http/forward.ts';
import { endToEndHeaders } from '../../http/hop-by-hop.ts';
import type { HeaderMap, MeshRequest, MeshResponse } from '../../http/message.ts';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } = http2.constants;

export interface StreamHooks {
  /** The stream closed (the session's open-stream count goes down). */
  onClose: () => void;
  /** Sends the request again after REFUSED_STREAM; absent for a request already retried. */
  retryRefused?: () => Promise<MeshResponse>;
}

export function exchange(stream: ClientHttp2Stream, req: MeshRequest, label: string, hooks: StreamHooks): Promise<MeshResponse> {
  return new Promise((resolve, reject) => {
    let responded = false;
    let failure: Error | undefined;
    let resolveTrailers: (t: HeaderMap | undefined) => void = () => {};
    const cancel = (): void => {
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    };
    // An HTTP/1 client's requests share its connection's signal: a cancel hook, not a listener.
    const hook: CancelHook = { onCancel: cancel };
    onCancel(req.signal, hook);

    if (req.body) {
      const source = req.body;
      source.on('error', cancel);
      forward(source, stream);
      const trailersOf = req.trailers;
      // The stream was opened with waitForTrailers: it stays open until trailers (maybe none) go.
      if (trailersOf) {
        stream.on('wantTrailers', () => {
          trailersOf.then((t) => {
            // A stream closed meanwhile (a cancel, a reset) is not destroyed yet, but sendTrailers
            // throws on it, and here that would be an unhandled rejection: the end of the process.
            if (!stream.destroyed && !stream.closed) stream.sendTrailers(t ?? {});
          }, cancel);
        });
      }
    }

    stream.on('response', (raw, flags) => {
      if (responded) return;
      responded = true;
      const endOfStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      // Trailers-only (gRPC errors) or an empty body: nothing to stream, but drain so the stream closes.
      if (endOfStream) stream.resume();
      const trailers = new Promise<HeaderMap | undefined>((r) => (resolveTrailers = r));
      resolve({ status: Number(raw[':status']), headers: endToEndHeaders(raw), body: endOfStream ? null : stream, trailers });
    });
    stream.on('trailers', (raw) => resolveTrailers(endToEndHeaders(raw)));
    // Always listened to, so a bad stream cannot kill the process. Before a response, 'close'
    // decides what happened (it may retry a refused stream); after, the body's reader sees it.
    stream.on('error', (err) => {
      if (!responded) failure = err;
    });
    // 'wantTrailers', 'close' and an 'error' come once at most: `on`, no `once` wrapper.
    stream.on('close', () => {
      hooks.onClose();
      offCancel(req.signal, hook);
      resolveTrailers(undefined);
      // A reset with NO_ERROR or CANCEL closes the stream without an 'error': a missing
      // response has to be noticed here.
      if (responded) return;
      responded = true;
      const refused = stream.rstCode === NGHTTP2_REFUSED_STREAM;
      // A refused stream was not processed: without a body already spent, it may go again.
      if (refused && hooks.retryRefused && req.body === null && !req.signal.aborted) {
        hooks.retryRefused().then(resolve, reject);
        return;
      }
      const why = req.signal.aborted
        ? 'request cancelled by the client'
        : refused
          ? 'stream refused by the server'
          : failure
            ? failure.message
            : `stream reset (code ${stream.rstCode ?? 'none'}) before the response`;
      reject(new ProxyError('UPSTREAM_RESET', `${label}: ${why}`, { cause: failure }));
    });
  });
}
