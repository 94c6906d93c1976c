// The request id an app passes on to the services it calls (`x-request-id`, as Envoy and most
// tracing set-ups name it), so one request can be followed across every hop: a mesh cannot join
// an app's inbound request to its outbound calls by itself, the app has to carry the id along.
import { randomUUID } from 'node:crypto';

/** Longest id passed on; longer or odd ones are dropped, since the header comes from outside. */
const MAX_ID = 64;
const ID = /^[A-Za-z0-9._:-]+$/;

/** The caller's request id when it is a sane one, else none. */
export function requestIdOf(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && value.length <= MAX_ID && ID.test(value) ? value : undefined;
}

/** A fresh id for a request that starts here (the traffic generator's). */
export function newRequestId(): string {
  return randomUUID();
}
