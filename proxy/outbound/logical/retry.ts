// The retry layer: re-sends a failed request on a retryable route while the retry budget allows,
// the body fits the replay buffer and the limit is not reached; a retry asks for another endpoint.
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { ProxyError } from '../../errors.ts';
import { headerValue, type Layer, type MeshRequest, type MeshResponse, type Service } from '../../http/message.ts';
import { RETRY_BUFFER_BYTES, ReplayableBody } from './replayable-body.ts';
import type { RetryBudget } from './retry-budget.ts';
import type { RetryPolicy } from './route-table.ts';

export interface RetryOptions {
  policy: RetryPolicy;
  /** Shared by every route of one logical target. */
  budget: RetryBudget;
  /** Called once per retry sent (metrics). */
  onRetry?: (req: MeshRequest) => void;
  logger?: Logger;
}

// Errors where another attempt (likely on another endpoint) can succeed.
const RETRYABLE_ERRORS = new Set(['CONNECT_FAILED', 'UPSTREAM_RESET', 'RESPONSE_TIMEOUT']);

export function grpcStatusOf(res: MeshResponse): number | undefined {
  const raw = headerValue(res.headers, 'grpc-status');
  const code = raw === undefined ? NaN : Number.parseInt(raw, 10);
  return Number.isInteger(code) ? code : undefined;
}

/** A failed attempt's body is read to its end (freeing the connection), up to a cap, then cut. */
function discard(res: MeshResponse): void {
  const body = res.body;
  if (!(body instanceof Readable)) return; // none, or read whole already
  let seen = 0;
  body.on('error', () => {});
  body.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > RETRY_BUFFER_BYTES) body.destroy();
  });
}

export function retryLayer(opts: RetryOptions): Layer {
  const { policy, budget } = opts;
  return (inner: Service): Service => async (req) => {
    budget.deposit(); // only original requests fund retries
    const body = req.body ? new ReplayableBody(req.body) : undefined;
    let attemptReq: MeshRequest = { ...req, body: body?.first ?? null };
    for (let retries = 0; ; retries++) {
      let res: MeshResponse | undefined;
      let error: unknown;
      try {
        res = await inner(attemptReq);
      } catch (err) {
        error = err;
      }
      const failed = res
        ? policy.shouldRetry(res.status, grpcStatusOf(res))
        : error instanceof ProxyError && RETRYABLE_ERRORS.has(error.code);
      const why = !failed
        ? undefined
        : retries >= policy.limit
          ? 'retry limit reached'
          : req.signal.aborted
            ? 'request cancelled or timed out'
            : body && !body.replayable()
              ? `request body not replayable (over ${RETRY_BUFFER_BYTES} bytes, or not yet fully read)`
              : !budget.withdraw()
                ? 'retry budget exhausted'
                : undefined;
      req.ctx.journey?.add('retry', attemptNote(retries + 1, res, error, failed, why));
      if (!failed || why) {
        if (failed) opts.logger?.debug({ request: req.ctx.id, route: req.ctx.route, why }, 'not retrying');
        if (res) return res;
        throw error;
      }
      if (res) discard(res);
      req.ctx.retries = retries + 1;
      req.ctx.avoidEndpoint = req.ctx.endpoint;
      opts.onRetry?.(req);
      attemptReq = { ...req, body: body ? body.replay() : null };
    }
  };
}

/** A tapped request's journey line for one attempt: `attempt 2 -> HTTP 503; retrying`. */
function attemptNote(attempt: number, res: MeshResponse | undefined, error: unknown, failed: boolean, why: string | undefined): string {
  const grpc = res ? grpcStatusOf(res) : undefined;
  const outcome = res ? `HTTP ${res.status}${grpc !== undefined ? ` grpc-status ${grpc}` : ''}` : error instanceof Error ? error.message : String(error);
  const next = failed ? (why ? `; not retrying: ${why}` : '; retrying') : res ? '' : '; not retryable';
  return `attempt ${attempt} -> ${outcome}${next}`;
}
