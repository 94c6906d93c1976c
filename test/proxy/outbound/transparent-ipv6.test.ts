// A transparent proxy (`--transparent`, outbound on 127.0.0.1) also takes its outbound port on
// [::1], where an ip6tables REDIRECT delivers the app's IPv6 connections (mesh proxy-init --ipv6):
// a request arriving there is routed as one arriving on 127.0.0.1 is. Real sockets, in process.
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressBlock } from '../../helpers/address-block.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from '../../helpers/proxy-harness.ts';
import { StopFailures } from '../../helpers/teardown.ts';

const NET = await addressBlock();
const WEB = 'web.test.svc.cluster.local:8080';
const resolver = new TestResolver();
let app: App;
let proxy: RunningProxy;

beforeAll(async () => {
  app = await startApp(`${NET}.2`, (_req, res) => res.end('web'));
  resolver.setEndpoints(WEB, [app.address]);
  proxy = await startProxy(`${NET}.1`, resolver, { args: ['--transparent'] });
});
afterAll(async () => {
  const failures = new StopFailures();
  await failures.attempt('proxy', () => proxy?.close());
  await failures.attempt('app', () => app?.close());
  failures.throwIfAny('transparent IPv6 teardown');
});

describe('a transparent proxy on [::1]', () => {
  it('listens on the outbound port of 127.0.0.1 on [::1] as well, and serves what arrives there', async () => {
    const { outbound, outboundIpv6 } = proxy.proxy.address;
    expect(outbound).toMatchObject({ address: '127.0.0.1' });
    expect(outboundIpv6).toEqual({ address: '::1', family: 'IPv6', port: outbound.port });
    const res = await request(`http://[::1]:${outbound.port}/`, { headers: { host: WEB } });
    expect([res.statusCode, await res.body.text()]).toEqual([200, 'web']);
  });
});
