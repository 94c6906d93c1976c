// Timeout layers against a fake inner service: expiry error, upstream cancel, deadline, body coverage.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { onCancel } from '../../../../proxy/http/cancel.ts';
import type { MeshRequest, MeshResponse } from '../../../../proxy/http/message.ts';
import { timeoutLayer } from '../../../../proxy/outbound/logical/timeout.ts';
import { meshRequest, readAll, response, sleep } from '../../../helpers/fake-request.ts';

/** An inner service that answers after `ms` unless its signal aborts first. */
function slow(ms: number, seen: { aborted?: unknown }) {
  return (req: MeshRequest) =>
    new Promise<MeshResponse>((resolve, reject) => {
      const t = setTimeout(() => resolve(response(200, 'late')), ms);
      onCancel(req.signal, {
        onCancel: () => {
          seen.aborted = req.signal.reason;
          clearTimeout(t);
          reject(req.signal.reason);
        },
      });
    });
}

describe('timeout layer', () => {
  it('fails with RESPONSE_TIMEOUT after the timeout and aborts the upstream signal', async () => {
    const seen: { aborted?: unknown } = {};
    const svc = timeoutLayer({ ms: 50, coversBody: true, what: 'route "r" request timeout' })(slow(1000, seen));
    const started = Date.now();
    await expect(svc(meshRequest())).rejects.toMatchObject({ code: 'RESPONSE_TIMEOUT', message: expect.stringContaining('route "r" request timeout of 50 ms') });
    expect(Date.now() - started).toBeLessThan(500);
    expect(seen.aborted).toMatchObject({ code: 'RESPONSE_TIMEOUT' });
  });

  it('honours a sooner ctx.deadline (grpc-timeout)', async () => {
    const seen: { aborted?: unknown } = {};
    const svc = timeoutLayer({ ms: 5000, coversBody: true, what: 'x' })(slow(1000, seen));
    await expect(svc(meshRequest({ ctx: { deadline: Date.now() + 30 } }))).rejects.toMatchObject({
      code: 'RESPONSE_TIMEOUT',
      message: expect.stringContaining('grpc-timeout'),
    });
  });

  it('passes the client cancel down', async () => {
    const seen: { aborted?: unknown } = {};
    const client = new AbortController();
    const svc = timeoutLayer({ ms: 5000, coversBody: true, what: 'x' })(slow(1000, seen));
    const p = svc(meshRequest({ signal: client.signal }));
    client.abort(new Error('client went away'));
    await expect(p).rejects.toThrow('client went away');
    expect(seen.aborted).toBeInstanceOf(Error);
  });

  it('a whole-request timeout cuts a body that streams past it; a per-attempt one does not', async () => {
    const streaming = async (): Promise<MeshResponse> => {
      const body = new PassThrough();
      body.write('start;');
      setTimeout(() => body.end('end'), 150);
      return { status: 200, headers: {}, body };
    };
    const whole = await timeoutLayer({ ms: 60, coversBody: true, what: 'w' })(streaming)(meshRequest());
    await expect(readAll(whole.body)).rejects.toMatchObject({ code: 'RESPONSE_TIMEOUT' });
    const attempt = await timeoutLayer({ ms: 60, coversBody: false, what: 'a' })(streaming)(meshRequest());
    expect(await readAll(attempt.body)).toBe('start;end');
  });

  it('a response in time passes untouched, and the timer does not fire later', async () => {
    const svc = timeoutLayer({ ms: 50, coversBody: true, what: 'x' })(async () => response(200, 'ok'));
    const res = await svc(meshRequest());
    expect(await readAll(res.body)).toBe('ok');
    await sleep(80);
  });
});
