// The balancer against fake endpoint services: latency-aware choice, weights, failure accrual
// with probing back, fail-fast when all are out, the retry's avoid hint, live endpoint changes.
import { describe, expect, it } from 'vitest';
import { DEFAULT_FAILURE_ACCRUAL, type Endpoint, type EndpointSet, type FailureAccrualPolicy } from '../../../../api/destination-types.ts';
import { Watched } from '../../../../proxy/discovery/watched.ts';
import type { MeshResponse, Service } from '../../../../proxy/http/message.ts';
import { createBalancer } from '../../../../proxy/outbound/concrete/balancer.ts';
import { meshRequest, response, sleep } from '../../../helpers/fake-request.ts';

const ep = (address: string, weight = 1): Endpoint => ({ address, weight, labels: {} });

/** A Service that opted into circuit breaking, with these thresholds. */
const breaker = (opts: Partial<FailureAccrualPolicy>) => () => ({ ...DEFAULT_FAILURE_ACCRUAL, ...opts });

function endpointsOf(...eps: Endpoint[]) {
  return new Watched<EndpointSet>({ kind: 'endpoints', endpoints: eps });
}

async function drive(svc: Service, total: number, concurrency: number): Promise<Array<MeshResponse | Error>> {
  const out: Array<MeshResponse | Error> = [];
  let sent = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (sent < total) {
        sent++;
        out.push(await svc(meshRequest()).catch((e: Error) => e));
      }
    }),
  );
  return out;
}

describe('balancer', () => {
  it('sends most traffic to the fast endpoint (peak EWMA, power of two choices)', async () => {
    const hits: Record<string, number> = { fast: 0, slow: 0 };
    const svc = createBalancer(endpointsOf(ep('fast'), ep('slow')), (e) => async () => {
      hits[e.address]!++;
      await sleep(e.address === 'fast' ? 1 : 100);
      return response(200);
    }, { authority: 'svc' });
    await drive(svc, 300, 8);
    expect(hits.fast! / 300).toBeGreaterThanOrEqual(0.8);
  });

  it('respects weights when latencies are equal', async () => {
    const hits: Record<string, number> = { a: 0, b: 0 };
    let t = 0;
    const svc = createBalancer(endpointsOf(ep('a', 4), ep('b', 1)), (e) => async () => {
      hits[e.address]!++;
      t += 1; // every request takes "1 ms" on the injected clock
      return response(200);
    }, { authority: 'svc', now: () => t });
    await drive(svc, 500, 1);
    expect(hits.a!).toBeGreaterThan(hits.b!);
  });

  it('takes out an endpoint after consecutive failures, probes it back after backoff, and returns it when healed', async () => {
    let t = 0;
    let healed = false;
    const hits: Record<string, number> = { bad: 0, good: 0 };
    const svc = createBalancer(endpointsOf(ep('bad'), ep('good')), (e) => async () => {
      hits[e.address]!++;
      return e.address === 'bad' && !healed ? response(500) : response(200);
    }, { authority: 'svc', now: () => t, failureAccrual: breaker({ consecutiveFailures: 3, minBackoffMs: 1000, jitter: 0 }) });
    for (let i = 0; i < 200; i++) await svc(meshRequest());
    expect(hits.bad).toBe(3); // out after exactly three failures in a row
    t += 1001;
    for (let i = 0; i < 50; i++) await svc(meshRequest());
    expect(hits.bad).toBe(4); // one probe, failed: out again with doubled backoff
    t += 1500;
    for (let i = 0; i < 50; i++) await svc(meshRequest());
    expect(hits.bad).toBe(4); // still backing off (2 s)
    healed = true;
    t += 600;
    hits.bad = 0;
    for (let i = 0; i < 400; i++) await svc(meshRequest());
    expect(hits.bad).toBeGreaterThan(50); // probe succeeded: back in rotation
  });

  it('keeps an endpoint that answers about the request (403, PERMISSION_DENIED), takes out one that answers UNAVAILABLE', async () => {
    const grpc = (status: number) => response(200, undefined, { 'content-type': 'application/grpc', 'grpc-status': String(status) });
    const answered = async (answer: () => MeshResponse) => {
      let hits = 0;
      const svc = createBalancer(endpointsOf(ep('only')), () => async () => {
        hits++;
        return answer();
      }, { authority: 'svc', failureAccrual: breaker({ consecutiveFailures: 3, minBackoffMs: 60_000, jitter: 0 }) });
      const results = await drive(svc, 20, 1);
      return { hits, errors: results.filter((r) => r instanceof Error).length };
    };
    expect(await answered(() => grpc(7))).toEqual({ hits: 20, errors: 0 }); // a policy refusal is an answer
    expect(await answered(() => response(403))).toEqual({ hits: 20, errors: 0 });
    expect(await answered(() => grpc(14))).toEqual({ hits: 3, errors: 17 }); // a server fault: out after three
  });

  it('without the Service\'s circuit breaker, keeps an endpoint that answers 503 every time; takes out one that cannot be reached', async () => {
    let t = 0;
    const hits: Record<string, number> = { failing: 0, good: 0 };
    let policy: FailureAccrualPolicy | undefined;
    const svc = createBalancer(endpointsOf(ep('failing'), ep('good')), (e) => async () => {
      hits[e.address]!++;
      return e.address === 'failing' ? response(503) : response(200);
    }, { authority: 'svc', now: () => t, failureAccrual: () => policy });
    for (let i = 0; i < 200; i++) await svc(meshRequest());
    // A failed answer is the app's, not the endpoint's reachability: Linkerd's default keeps it.
    expect(hits.failing).toBeGreaterThan(50);
    // The Service opts in (its profile changes): the next failures count, from the same history.
    policy = { ...DEFAULT_FAILURE_ACCRUAL, consecutiveFailures: 3, minBackoffMs: 60_000, jitter: 0 };
    hits.failing = 0;
    for (let i = 0; i < 200; i++) await svc(meshRequest());
    expect(hits.failing).toBe(3);

    // An endpoint that cannot be reached leaves after Linkerd's seven errors in a row, breaker or not.
    let refusedHits = 0;
    const refusing = createBalancer(endpointsOf(ep('refusing'), ep('good')), (e) => async () => {
      if (e.address === 'good') return response(200);
      refusedHits++;
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    }, { authority: 'svc', now: () => t, failureAccrual: () => undefined });
    const results = await drive(refusing, 200, 1);
    expect(refusedHits).toBe(DEFAULT_FAILURE_ACCRUAL.consecutiveFailures);
    expect(results.filter((r) => r instanceof Error)).toHaveLength(DEFAULT_FAILURE_ACCRUAL.consecutiveFailures);
    t += DEFAULT_FAILURE_ACCRUAL.maxBackoffMs; // past any backoff: one probe goes
    await drive(refusing, 50, 1);
    expect(refusedHits).toBe(DEFAULT_FAILURE_ACCRUAL.consecutiveFailures + 1);
  });

  it('fails fast with UNAVAILABLE when every endpoint is out, NO_ENDPOINTS when there are none', async () => {
    const svc = createBalancer(endpointsOf(ep('a'), ep('b')), () => async () => response(503), {
      authority: 'orders:8080',
      failureAccrual: breaker({ consecutiveFailures: 2 }),
    });
    for (let i = 0; i < 4; i++) await svc(meshRequest());
    await expect(svc(meshRequest())).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('orders:8080') });
    const empty = createBalancer(endpointsOf(), () => async () => response(200), { authority: 'x' });
    await expect(empty(meshRequest())).rejects.toMatchObject({ code: 'NO_ENDPOINTS' });
  });

  it('honours the avoid hint, records the chosen endpoint, and follows endpoint changes live', async () => {
    const eps = endpointsOf(ep('a'), ep('b'));
    const svc = createBalancer(eps, (e) => async () => response(200, e.address), { authority: 'svc' });
    for (let i = 0; i < 20; i++) {
      const req = meshRequest({ ctx: { avoidEndpoint: 'a' } });
      await svc(req);
      expect(req.ctx.endpoint).toBe('b');
    }
    eps.set({ kind: 'endpoints', endpoints: [ep('c')] });
    const req = meshRequest({ ctx: { avoidEndpoint: 'c' } }); // no other choice: still served
    await svc(req);
    expect(req.ctx.endpoint).toBe('c');
  });

  it('wraps endpoint errors with the endpoint address', async () => {
    const svc = createBalancer(endpointsOf(ep('10.0.0.1:80')), () => async () => {
      throw new Error('socket hang up');
    }, { authority: 'svc' });
    await expect(svc(meshRequest())).rejects.toMatchObject({ code: 'UPSTREAM_RESET', message: 'endpoint 10.0.0.1:80: socket hang up' });
  });
});
