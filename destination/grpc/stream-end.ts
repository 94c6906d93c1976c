// A watch lives exactly as long as the stream that asked for it: however the stream ends
// (the caller cancels, the stream closes, or it breaks), the watch is stopped.
import type * as grpc from '@grpc/grpc-js';

/** Runs `stop` when `call` ends; a broken stream is also handed to `onError` (for a debug line). */
export function stopWhenEnded<Req, Res>(call: grpc.ServerWritableStream<Req, Res>, stop: () => void, onError?: (err: Error) => void): void {
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('error', (err: Error) => {
    stop();
    onError?.(err);
  });
}
