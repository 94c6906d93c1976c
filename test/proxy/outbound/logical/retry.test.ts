// Retry budget arithmetic (deterministic clock) and the retry layer against a fake inner service.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../../../proxy/errors.ts';
import type { MeshRequest, MeshResponse } from '../../../../proxy/http/message.ts';
import { retryLayer } from '../../../../proxy/outbound/logical/retry.ts';
import { RetryBudget } from '../../../../proxy/outbound/logical/retry-budget.ts';
import { meshRequest, readAll, response } from '../../../helpers/fake-request.ts';

function clock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const retry5xx = { limit: 3, shouldRetry: (s: number) => s >= 500 };

describe('retry budget', () => {
  it('allows the reserve plus retryRatio of deposits within ttl, and forgets old deposits', () => {
    const c = clock();
    const budget = new RetryBudget({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 }, c.now);
    expect(budget.available()).toBe(100); // 10/s * 10 s reserve
    for (let i = 0; i < 1000; i++) budget.deposit();
    expect(budget.available()).toBeCloseTo(300);
    let granted = 0;
    while (budget.withdraw()) granted++;
    expect(granted).toBe(300);
    expect(budget.withdraw()).toBe(false);
    // After ttl every deposit and withdrawal has left the window: only the reserve remains.
    c.advance(10_001);
    expect(budget.available()).toBe(100);
  });

  it('over 2,000 always-failing requests, retries stay within ratio * requests + floor', async () => {
    const c = clock();
    const budget = new RetryBudget({ retryRatio: 0.2, minRetriesPerSecond: 10, ttlMs: 10_000 }, c.now);
    let attempts = 0;
    const svc = retryLayer({ policy: retry5xx, budget })(async () => {
      attempts++;
      return response(503);
    });
    for (let i = 0; i < 2000; i++) {
      c.advance(1); // 2 s of traffic, all inside one ttl
      const res = await svc(meshRequest());
      expect(res.status).toBe(503);
    }
    const retries = attempts - 2000;
    expect(retries).toBeLessThanOrEqual(0.2 * 2000 + 10 * 10);
    expect(retries).toBeGreaterThanOrEqual(0.2 * 2000); // the budget is used, not wasted
  });
});

describe('retry layer', () => {
  it('retries a failure, replays the body, hints another endpoint and counts the retry', async () => {
    const seen: Array<{ body: string; avoid?: string; retries: number }> = [];
    let retried = 0;
    const svc = retryLayer({ policy: retry5xx, budget: new RetryBudget(), onRetry: () => retried++ })(async (req: MeshRequest) => {
      seen.push({ body: await readAll(req.body), avoid: req.ctx.avoidEndpoint, retries: req.ctx.retries });
      req.ctx.endpoint = `10.0.0.${seen.length}:80`;
      return seen.length < 3 ? response(503, 'nope') : response(200, 'ok');
    });
    const res = await svc(meshRequest({ method: 'PUT', body: Readable.from([Buffer.from('hello '), Buffer.from('world')]) }));
    expect(res.status).toBe(200);
    expect(await readAll(res.body)).toBe('ok');
    expect(seen).toEqual([
      { body: 'hello world', avoid: undefined, retries: 0 },
      { body: 'hello world', avoid: '10.0.0.1:80', retries: 1 },
      { body: 'hello world', avoid: '10.0.0.2:80', retries: 2 },
    ]);
    expect(retried).toBe(2);
  });

  it('stops at the limit and returns the last failure intact', async () => {
    let n = 0;
    const svc = retryLayer({ policy: { limit: 2, shouldRetry: () => true }, budget: new RetryBudget() })(async () => response(500, `attempt ${++n}`));
    const res = await svc(meshRequest());
    expect(n).toBe(3);
    expect(await readAll(res.body)).toBe('attempt 3');
  });

  it('does not retry a body over 64 KiB, and never buffers it', async () => {
    let n = 0;
    let received = 0;
    const svc = retryLayer({ policy: retry5xx, budget: new RetryBudget() })(async (req: MeshRequest) => {
      n++;
      received = (await readAll(req.body)).length;
      return response(503);
    });
    const big = Buffer.alloc(70 * 1024, 97);
    const res = await svc(meshRequest({ method: 'POST', body: Readable.from([big.subarray(0, 40_000), big.subarray(40_000)]) }));
    expect(res.status).toBe(503);
    expect(n).toBe(1);
    expect(received).toBe(big.length);
  });

  it('retries connection errors but not client cancellation or other errors', async () => {
    let n = 0;
    const flaky = retryLayer({ policy: retry5xx, budget: new RetryBudget() })(async () => {
      if (++n === 1) throw new ProxyError('CONNECT_FAILED', 'refused');
      return response(200);
    });
    expect((await flaky(meshRequest())).status).toBe(200);
    expect(n).toBe(2);

    const controller = new AbortController();
    let m = 0;
    const cancelled = retryLayer({ policy: retry5xx, budget: new RetryBudget() })(async (): Promise<MeshResponse> => {
      m++;
      controller.abort();
      return response(503);
    });
    expect((await cancelled(meshRequest({ signal: controller.signal }))).status).toBe(503);
    expect(m).toBe(1);

    const forbidden = retryLayer({ policy: retry5xx, budget: new RetryBudget() })(async () => {
      throw new ProxyError('FORBIDDEN', 'no');
    });
    await expect(forbidden(meshRequest())).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('retries on grpc-status in a trailers-only response', async () => {
    let n = 0;
    const svc = retryLayer({ policy: { limit: 1, shouldRetry: (_s, g) => g === 14 }, budget: new RetryBudget() })(async () =>
      ++n === 1 ? response(200, undefined, { 'grpc-status': '14' }) : response(200, undefined, { 'grpc-status': '0' }),
    );
    expect((await svc(meshRequest())).headers['grpc-status']).toBe('0');
    expect(n).toBe(2);
  });
});
