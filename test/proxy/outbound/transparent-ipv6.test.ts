// A transparent proxy (`--transparent`) also takes its outbound port on IPv6, where an ip6tables
// REDIRECT delivers the app's IPv6 connections (mesh proxy-init --ipv6, to [::1]): on [::1] beside
// 127.0.0.1, on [::] (IPv6 only) beside `--outbound-ip 0.0.0.0`. A request arriving there is routed
// as one arriving on IPv4 is. Real sockets, in process.
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
let wide: RunningProxy;

beforeAll(async () => {
  app = await startApp(`${NET}.2`, (_req, res) => res.end('web'));
  resolver.setEndpoints(WEB, [app.address]);
  proxy = await startProxy(`${NET}.1`, resolver, { args: ['--transparent'] });
  wide = await startProxy(`${NET}.3`, resolver, { args: ['--transparent', '--outbound-ip', '0.0.0.0'] });
});
afterAll(async () => {
  const failures = new StopFailures();
  await failures.attempt('proxy', () => proxy?.close());
  await failures.attempt('wide proxy', () => wide?.close());
  await failures.attempt('app', () => app?.close());
  failures.throwIfAny('transparent IPv6 teardown');
});

describe('a transparent proxy on IPv6', () => {
  it('listens on the outbound port of 127.0.0.1 on [::1] as well, and serves what arrives there', async () => {
    const { outbound, outboundIpv6 } = proxy.proxy.address;
    expect(outbound).toMatchObject({ address: '127.0.0.1' });
    expect(outboundIpv6).toEqual({ address: '::1', family: 'IPv6', port: outbound.port });
    const res = await request(`http://[::1]:${outbound.port}/`, { headers: { host: WEB } });
    expect([res.statusCode, await res.body.text()]).toEqual([200, 'web']);
  });

  it('with --outbound-ip 0.0.0.0, listens on [::] (IPv6 only) on the same port, so [::1] reaches it too', async () => {
    const { outbound, outboundIpv6 } = wide.proxy.address;
    expect(outbound).toMatchObject({ address: '0.0.0.0' });
    expect(outboundIpv6).toEqual({ address: '::', family: 'IPv6', port: outbound.port });
    const v6 = await request(`http://[::1]:${outbound.port}/`, { headers: { host: WEB } });
    expect([v6.statusCode, await v6.body.text()]).toEqual([200, 'web']);
    // IPv4 callers still reach it on 0.0.0.0 (the [::] socket, IPv6 only, took no IPv4 port from it).
    const v4 = await request(`http://127.0.0.1:${outbound.port}/`, { headers: { host: WEB } });
    expect([v4.statusCode, await v4.body.text()]).toEqual([200, 'web']);
  });
});
