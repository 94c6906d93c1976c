// The mutating admission webhook: HTTPS, POST /inject with an AdmissionReview, answered with the
// JSONPatch that adds the sidecar. Bad requests get a precise 4xx; injection problems never block.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { joinHostPort } from '../api/host-port.ts';
import type { Logger } from '../api/log.ts';
import { admissionResponse, parseAdmissionReview } from './admission.ts';
import { InjectorError } from './errors.ts';
import { inject } from './inject.ts';
import { diff } from './json-patch.ts';
import type { InjectOptions } from './options.ts';

export interface WebhookOptions {
  cert: string | Buffer;
  key: string | Buffer;
  host: string;
  port: number;
  inject: InjectOptions;
  logger: Logger;
  /**
   * A namespace's annotations from the API server (a cluster), asked per review; unset: the
   * inject options' own `namespaceAnnotations`. A lookup that fails never blocks the pod: the
   * pod's own annotation decides, and the answer carries a warning.
   */
  lookupNamespace?: (namespace: string) => Promise<Record<string, string> | undefined>;
  /**
   * How long a namespace lookup may take (default 5 s): well inside the API server's 10 s
   * webhook timeout, past which it admits the pod uninjected and nobody is told why.
   */
  lookupTimeoutMs?: number;
  /** Largest AdmissionReview accepted; objects in etcd stop at ~1.5 MiB, the review wraps one or two. */
  maxBodyBytes?: number;
}

export interface Webhook {
  url: string;
  address: AddressInfo;
  close(): Promise<void>;
}

export async function startWebhook(options: WebhookOptions): Promise<Webhook> {
  const limit = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const server: Server = createServer({ cert: options.cert, key: options.key, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res, options, limit).catch((err: unknown) => {
      options.logger.error({ err }, 'webhook handler failed');
      if (!res.headersSent) send(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // The API server gives a webhook 10 s by default; a slow client must not hold a socket for longer.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.on('tlsClientError', (err) => options.logger.debug({ err }, 'TLS handshake with a client failed'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `https://${joinHostPort(address.address, address.port)}/inject`,
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: WebhookOptions, limit: number): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (req.method === 'GET' && (path === '/ready' || path === '/live')) return send(res, 200, { status: 'ok' });
  try {
    if (path !== '/inject') throw new InjectorError('NOT_FOUND', `no such path ${path}; AdmissionReviews go to POST /inject`);
    if (req.method !== 'POST') throw new InjectorError('METHOD_NOT_ALLOWED', `${req.method} ${path}: only POST is accepted`);
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') throw new InjectorError('UNSUPPORTED_MEDIA_TYPE', `content-type "${type}": expected application/json`);
    const review = parseAdmissionReview(await readBody(req, limit));
    send(res, 200, await admit(review, options));
  } catch (err) {
    if (!(err instanceof InjectorError)) throw err;
    options.logger.warn({ code: err.code, method: req.method, path, peer: req.socket.remoteAddress }, `rejected request: ${err.message}`);
    if (err.code === 'METHOD_NOT_ALLOWED') res.setHeader('allow', 'POST');
    // The body may not have been read: close the connection rather than drain an oversized one.
    if (err.code === 'BODY_TOO_LARGE') res.setHeader('connection', 'close');
    send(res, err.httpStatus, { error: err.message, code: err.code });
  }
}

/** Runs injection for one review; a workload that cannot be injected is admitted untouched with a warning. */
async function admit(review: ReturnType<typeof parseAdmissionReview>, options: WebhookOptions): Promise<object> {
  const log = options.logger.child({ uid: review.uid, kind: review.kind, namespace: review.namespace, name: review.name });
  if (review.object === null || (review.operation !== 'CREATE' && review.operation !== 'UPDATE')) {
    return admissionResponse(review.apiVersion, review.uid, [], []);
  }
  const lookupWarnings: string[] = [];
  let injectOptions = options.inject;
  if (options.lookupNamespace) {
    let annotations: Record<string, string> | undefined;
    try {
      const ms = options.lookupTimeoutMs ?? 5_000;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the API server did not answer within ${ms} ms`)), ms)));
      annotations = await Promise.race([options.lookupNamespace(review.namespace), late]).finally(() => clearTimeout(timer));
    } catch (err) {
      const message = `namespace ${review.namespace}: its annotations could not be read (${(err as Error).message}); only the pod's own decide`;
      log.warn({ err }, message);
      lookupWarnings.push(message);
    }
    injectOptions = { ...options.inject, namespaceAnnotations: (ns) => (ns === review.namespace ? annotations : undefined) };
  }
  try {
    const { object, reports } = inject(review.object, injectOptions, review.namespace);
    const warnings = [...lookupWarnings, ...reports.flatMap((r) => r.warnings)];
    for (const r of reports) log.info({ resource: r.resource, injected: r.injected, reason: r.reason, warnings: r.warnings }, r.injected ? 'injected' : `skipped: ${r.reason}`);
    return admissionResponse(review.apiVersion, review.uid, diff(review.object, object), warnings);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.error({ err }, `not injected: ${message}`);
    return admissionResponse(review.apiVersion, review.uid, [], [`not injected: ${message}`]);
  }
}

/**
 * Reads the body up to `limit` bytes; JSON needs the whole review, so the bound is what keeps it
 * safe. A body over the limit is drained and discarded (up to 4x the limit) so the client can read
 * the 413; beyond that, or when Content-Length already says so, the 413 goes out at once.
 */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const tooLarge = () => new InjectorError('BODY_TOO_LARGE', `body exceeds the limit of ${limit} bytes`);
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit * 4) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > limit * 4) {
        req.removeAllListeners('data');
        req.pause();
        reject(tooLarge());
      }
    });
    req.once('end', () => (size > limit ? reject(tooLarge()) : resolve(Buffer.concat(chunks).toString('utf8'))));
    // The client vanished mid-body: its mistake, not the webhook's (a warning, not a stack trace).
    req.once('error', (cause) => reject(new InjectorError('BODY_INCOMPLETE', `body ended after ${size}${Number.isFinite(declared) ? ` of ${declared}` : ''} bytes: ${cause.message}`, { cause })));
  });
}

function send(res: ServerResponse, status: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
