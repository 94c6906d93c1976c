// A listener an operator puts on [::] (`--outbound-ip ::`, `--pod-ip ::`) takes both families, as
// any dual-stack socket does: IPv4 callers reach it too. Only the transparent proxy's own extra
// IPv6 outbound listener, beside one on 0.0.0.0, is IPv6 only (transparent-ipv6.test.ts). Real
// sockets, in process.
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addressBlock } from '../helpers/address-block.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from '../helpers/proxy-harness.ts';
import { StopFailures } from '../helpers/teardown.ts';

const NET = await addressBlock();
const WEB = 'web.test.svc.cluster.local:8080';
const resolver = new TestResolver();
let app: App;
let proxy: RunningProxy;

beforeAll(async () => {
  app = await startApp(`${NET}.2`, (_req, res) => res.end('web'));
  resolver.setEndpoints(WEB, [app.address]);
  proxy = await startProxy(`${NET}.1`, resolver, { args: ['--outbound-ip', '::'] });
});
afterAll(async () => {
  const failures = new StopFailures();
  await failures.attempt('proxy', () => proxy?.close());
  await failures.attempt('app', () => app?.close());
  failures.throwIfAny('any-address teardown');
});

it('--outbound-ip :: serves callers on IPv4 and on IPv6 alike', async () => {
  const { outbound, outboundIpv6 } = proxy.proxy.address;
  expect([outbound.address, outboundIpv6]).toEqual(['::', undefined]);
  for (const host of ['127.0.0.1', '[::1]', `${NET}.1`]) {
    const res = await request(`http://${host}:${outbound.port}/`, { headers: { host: WEB } });
    expect([host, res.statusCode, await res.body.text()]).toEqual([host, 200, 'web']);
  }
});
