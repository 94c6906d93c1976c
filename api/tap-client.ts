// A typed client for one proxy's tap (api/tap.proto): opens `Observe` over mTLS with the
// viz's certificate and hands back the events as an async iterable. The viz fans these in.
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { spiffeIdOfPeer } from './spiffe.ts';
import type { ObserveRequest, TapEvent } from './tap-proto.ts';
import { tapService } from './tap-service.ts';

export interface TapClientOptions {
  /** The proxy's tap address, `ip:port`. */
  address: string;
  /** The tapper's key and certificate chain (PEM): the viz's identity, or the proxy refuses. */
  key: string | Buffer;
  cert: string | Buffer;
  /** Trust anchors (PEM) the proxy's certificate must chain to. */
  trustAnchorsPem: string | Buffer;
  /** When set, the proxy must present exactly this SPIFFE id (the pod's, from discovery). */
  proxyIdentity?: string;
  /** Absolute deadline (ms, `Date.now()` clock) for the whole tap; the call then ends DEADLINE_EXCEEDED. */
  deadline?: number;
}

export interface OpenTap {
  /** Resolves once the proxy has accepted the tap (its response headers came); rejects if the call fails first. */
  opened: Promise<void>;
  /** The events, in order; ends when the proxy ends the tap or `cancel()` is called, throws a grpc `ServiceError` on failure. */
  events: AsyncIterable<TapEvent>;
  /** Stops the tap (the proxy frees its slot); the iterator then ends with CANCELLED. */
  cancel(): void;
  /** Closes the connection (after cancel, or when done). */
  close(): void;
}

/** Opens one tap on one proxy. Errors (PERMISSION_DENIED, RESOURCE_EXHAUSTED, ...) surface from `events`. */
export function openTap(opts: TapClientOptions, request: ObserveRequest): OpenTap {
  const { Client } = tapService();
  const creds = grpc.credentials.createSsl(Buffer.from(opts.trustAnchorsPem), Buffer.from(opts.key), Buffer.from(opts.cert), {
    // The chain is checked against the anchors by TLS; the name check is replaced by the identity
    // check, since proxies' certificates carry SPIFFE ids, not host names.
    checkServerIdentity: (_host: string, cert: PeerCertificate) => {
      if (opts.proxyIdentity === undefined) return undefined;
      const presented = spiffeIdOfPeer(cert.subjectaltname);
      return presented === opts.proxyIdentity ? undefined : new Error(`tap at ${opts.address} presented "${presented ?? 'no SPIFFE id'}", expected "${opts.proxyIdentity}"`);
    },
  });
  // SNI cannot carry an IP address; the name is never checked (above), any will do.
  const client = new Client(opts.address, creds, { 'grpc.ssl_target_name_override': 'localhost' });
  const call = (client as unknown as { observe(req: ObserveRequest, options: grpc.CallOptions): grpc.ClientReadableStream<TapEvent> }).observe(
    request,
    opts.deadline === undefined ? {} : { deadline: opts.deadline },
  );
  // Errors reach the reader through `events`. This listener keeps an unread stream's error
  // (after cancel, or before anyone iterates) from being an uncaught exception, and holds it
  // for a reader that starts only after the call failed (one that awaited `opened` first).
  let failure: grpc.ServiceError | undefined;
  call.on('error', (err: grpc.ServiceError) => {
    failure ??= err;
  });
  const opened = new Promise<void>((resolve, reject) => {
    call.once('metadata', () => resolve());
    call.once('error', reject);
  });
  opened.catch(() => {}); // the same error reaches the reader through `events`
  let cancelled = false;
  async function* events(): AsyncGenerator<TapEvent> {
    try {
      for await (const event of call as AsyncIterable<TapEvent>) yield event;
    } catch (err) {
      failure = err as grpc.ServiceError;
    }
    // A tap we stopped ourselves just ends.
    if (failure && !(cancelled && failure.code === grpc.status.CANCELLED)) throw failure;
  }
  return {
    opened,
    events: events(),
    cancel: () => {
      cancelled = true;
      call.cancel();
    },
    close: () => client.close(),
  };
}
