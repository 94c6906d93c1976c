// A meshed pod whose transparent proxy binds its outbound listener on every address
// (`mesh proxy --transparent --outbound-ip 0.0.0.0`), with IPv6 capture (`mesh proxy-init --ipv6`),
// in network namespaces this test creates (root; CI runs as root): ip6tables REDIRECT delivers the
// app's IPv6 connections to [::1], so the proxy must listen there too ([::], IPv6 only). The app's
// call to a dual-stack server's IPv6 address goes through its proxy, with mTLS, as its IPv4 call does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinHostPort } from '../../api/host-port.ts';
import { NetnsLab, ready } from '../helpers/netns.ts';
import { CLIENT_ID, startTransparentPair } from '../helpers/transparent-pair.ts';

const APP_UID = 1000;
const CLIENT_UID = 65534;
const V6 = { a: 'fd00:242::1', b: 'fd00:242::2' };

/** The server app: answers with the caller's identity (set only by the server's proxy, after mTLS). */
const HTTP_APP = (ip: string, port: number) => [
  process.execPath,
  '-e',
  `require('node:http').createServer((req, res) => res.end(JSON.stringify({ clientId: req.headers['l5d-client-id'] ?? null, url: req.url })))
     .listen(${port}, '${ip}', () => console.log('ready'));`,
];

describe('a transparent proxy on 0.0.0.0 with IPv6 capture', () => {
  let lab: NetnsLab;
  let pair: { close(): void } | undefined;
  let a: { ns: string; ip: string };
  let b: { ns: string; ip: string };
  const curl = (host: string, path: string) => lab.run(a.ns, ['curl', '-sS', '-g', '--max-time', '20', `http://${joinHostPort(host, 8080)}${path}`], { uid: CLIENT_UID });

  beforeAll(async () => {
    lab = NetnsLab.create(2);
    [a, b] = lab.pods as [typeof a, typeof b];
    for (const [ns, ip] of [[a.ns, V6.a], [b.ns, V6.b]] as const) lab.addIpv6(ns, ip);
    const app = lab.spawn(b.ns, HTTP_APP(b.ip, 8080), { uid: APP_UID });
    await ready(app, 'app');
    pair = await startTransparentPair(lab, { client: a, server: b, skipPort: 9999, appPort: 8080, ipv6: true, serverPodIps: [b.ip, V6.b], clientOutboundIp: '0.0.0.0' });
  }, 120_000);

  afterAll(() => {
    const leftovers = lab?.closeAndFindLeftovers() ?? [];
    pair?.close();
    expect(leftovers).toEqual([]);
  });

  it('takes the app\'s IPv6 call (redirected to [::1]) as it takes its IPv4 one, and sends both with mTLS', async () => {
    for (const [host, path] of [[b.ip, '/over-ipv4'], [V6.b, '/over-ipv6']] as const) {
      const r = await curl(host, path);
      expect(r.code, `${path}: ${r.err}`).toBe(0);
      expect(JSON.parse(r.out), path).toEqual({ clientId: CLIENT_ID, url: path });
    }
  }, 60_000);
});
