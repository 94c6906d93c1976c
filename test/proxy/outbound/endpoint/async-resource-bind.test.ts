// The proxy's AsyncResource.prototype.bind (each HTTP/2 request binds one): the binding Node
// makes, the resource's async scope around every call, without Node 20's deprecated
// `asyncResource` accessor, whose two util.deprecate wrappers cost ~11 us a request.
import { AsyncLocalStorage, AsyncResource, executionAsyncId } from 'node:async_hooks';
import { connect, createServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { H2Client } from '../../../../proxy/outbound/endpoint/h2-client.ts';

/** Node's own, before any HTTP/2 client of the proxy exists (each test file runs in a process of its own). */
const stock = AsyncResource.prototype.bind;

describe('AsyncResource.prototype.bind in a proxy', () => {
  it('is replaced once the proxy makes an HTTP/2 client, where Node\'s own adds the deprecated accessor', async () => {
    const nodeAddsIt = Object.getOwnPropertyDescriptor(stock.call(new AsyncResource('stock'), () => {}), 'asyncResource') !== undefined;
    const target = { key: 'k', address: '127.0.0.1:9', host: '127.0.0.1', port: 9, label: 'endpoint 127.0.0.1:9' };
    const client = new H2Client(target, { idleTimeoutMs: 1000, connectTimeoutMs: 1000, logger: pino({ level: 'silent' }), onConnection: () => {} });
    await client.close();
    expect(AsyncResource.prototype.bind === stock).toBe(!nodeAddsIt);
    const bound = new AsyncResource('lean').bind(() => {});
    expect(Object.getOwnPropertyDescriptor(bound, 'asyncResource')).toBeUndefined();
  });

  it('runs the function in the resource\'s scope, with the call\'s this and arguments, and keeps its length', () => {
    const resource = new AsyncResource('scope');
    const seen: unknown[] = [];
    const bound = resource.bind(function (this: unknown, a: number, b: number) {
      seen.push(executionAsyncId(), this, a + b);
      return 'returned';
    });
    const self = { name: 'caller' };
    expect(bound.call(self, 2, 3)).toBe('returned');
    expect(seen).toEqual([resource.asyncId(), self, 5]);
    expect(bound.length).toBe(2);
  });

  it('with a thisArg, calls the function on it', () => {
    const resource = new AsyncResource('this-arg');
    const target = { n: 41 };
    // Node's bind takes a thisArg; its TypeScript declaration does not say so.
    const bindTo = resource.bind as unknown as (fn: (this: { n: number }, add: number) => number[], thisArg: { n: number }) => (add: number) => number[];
    const bound = bindTo.call(resource, function (this: { n: number }, add: number) {
      return [executionAsyncId(), this.n + add];
    }, target);
    expect(bound(1)).toEqual([resource.asyncId(), 42]);
  });

  it('carries the AsyncLocalStorage of where it was bound, not of where it is called', () => {
    const als = new AsyncLocalStorage<string>();
    const bound = als.run('bound here', () => new AsyncResource('als').bind(() => als.getStore()));
    expect(als.run('called here', () => bound())).toBe('bound here');
  });

  it('refuses what is not a function with Node\'s own error', () => {
    expect(() => new AsyncResource('bad').bind(42 as unknown as () => void)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('node:http2 requests, which bind one each, still connect and answer', async () => {
    const server = createServer((req, res) => res.end(`hello ${req.url}`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const session = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      // Two requests before the session is connected (each queued behind 'connect' as a bound callback), one after.
      const get = (path: string) =>
        new Promise<string>((resolve, reject) => {
          let body = '';
          session.request({ ':path': path }).setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body)).on('error', reject);
        });
      expect(await Promise.all([get('/a'), get('/b')])).toEqual(['hello /a', 'hello /b']);
      expect(await get('/c')).toBe('hello /c');
    } finally {
      session.close();
      server.close();
    }
  });
});
