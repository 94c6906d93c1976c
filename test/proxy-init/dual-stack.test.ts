// A dual-stack pod, intercepted for real in network namespaces this test creates (root; CI runs as
// root), with either family as its primary: the server pod has a pod IP and an address of the
// other family, `mesh proxy-init --ipv6` writes rules for both families, and its proxy
// (`--pod-ips`, as the injector sets it from status.podIPs) listens inbound on both. A caller over
// the other family, from outside the mesh or from a meshed pod, reaches the app through the
// server's proxy, never around it (a meshed one with mTLS: discovery knows the pod by either
// address); a skipped port is skipped over that family too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinHostPort } from '../../api/host-port.ts';
import { NetnsLab, ready, tagClient, tagServer } from '../helpers/netns.ts';
import { CLIENT_ID, startTransparentPair } from '../helpers/transparent-pair.ts';

const APP_UID = 1000;
const CLIENT_UID = 65534;
/** IPv6 addresses on the pods' link, as a dual-stack cluster gives each pod one of each family. */
const V6 = { a: 'fd00:241::1', b: 'fd00:241::2', c: 'fd00:241::3' };

/** The server app: answers with the Host it saw, the caller's identity and the address the connection came from. */
const HTTP_APP = (ip: string, port: number) => [
  process.execPath,
  '-e',
  `require('node:http').createServer((req, res) => res.end(JSON.stringify({ host: req.headers.host, clientId: req.headers['l5d-client-id'] ?? null, from: req.socket.remoteAddress, url: req.url })))
     .listen(${port}, '${ip}', () => console.log('ready'));`,
];

for (const primary of ['IPv4', 'IPv6'] as const) {
  describe(`a dual-stack pod, ${primary} first: callers over its other family go through its proxy too`, () => {
    let lab: NetnsLab;
    let pair: { close(): void } | undefined;
    let a: { ns: string; ip: string }; // a meshed client pod (its rules for both families)
    let b: { ns: string; ip: string }; // the dual-stack server pod
    let c: { ns: string; ip: string }; // a host outside the mesh: no proxy, no rules
    /** The server's pod IP (where its app and admin listen) and its other address (where callers dial below). */
    let podIp: string;
    let other: string;
    const curl = (ns: string, path: string) => lab.run(ns, ['curl', '-sS', '-g', '--max-time', '20', `http://${joinHostPort(other, 8080)}${path}`], { uid: CLIENT_UID });
    const inboundRequests = async () => {
      const text = (await lab.run(b.ns, ['curl', '-sSg', `http://${joinHostPort(podIp, 4191)}/metrics`])).out;
      return text.split('\n').filter((l) => l.startsWith('request_total{') && l.includes('direction="inbound"')).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    };

    beforeAll(async () => {
      lab = NetnsLab.create(3);
      [a, b, c] = lab.pods as [typeof a, typeof b, typeof c];
      for (const [ns, ip] of [[a.ns, V6.a], [b.ns, V6.b], [c.ns, V6.c]] as const) lab.addIpv6(ns, ip);
      [podIp, other] = primary === 'IPv4' ? [b.ip, V6.b] : [V6.b, b.ip];
      // The apps listen on the pod IP only: whatever reaches them over the other family came through the proxy.
      const apps = [
        lab.spawn(b.ns, HTTP_APP(podIp, 8080), { uid: APP_UID }),
        lab.spawn(b.ns, tagServer('server-tcp', [[podIp, 7070]]), { uid: APP_UID }),
        // The skipped port also listens on the other address: a skipped connection arrives there directly.
        lab.spawn(b.ns, tagServer('skipped', [[podIp, 9999], [other, 9999]]), { uid: APP_UID }),
      ];
      await Promise.all(apps.map((s, i) => ready(s, `app ${i}`)));
      pair = await startTransparentPair(lab, { client: a, server: { ns: b.ns, ip: podIp }, skipPort: 9999, appPort: 8080, ipv6: true, serverPodIps: [podIp, other] });
    }, 120_000);

    afterAll(() => {
      const leftovers = lab?.closeAndFindLeftovers() ?? [];
      pair?.close();
      expect(leftovers).toEqual([]);
    });

    it('a caller outside the mesh: the rules send it to the proxy on the address it dialled, which hands it to the app', async () => {
      const before = await inboundRequests();
      const http = await curl(c.ns, '/from-outside');
      expect(http.code, http.err).toBe(0);
      // The app heard it on its pod IP from its own pod: the proxy's connection, not the caller's.
      expect(JSON.parse(http.out)).toEqual({ host: joinHostPort(other, 8080), clientId: null, from: podIp, url: '/from-outside' });
      expect(await inboundRequests()).toBe(before + 1);
      // Raw bytes: only the original destination of the redirected socket says it was 7070.
      const opaque = await lab.run(c.ns, tagClient(other, 7070, 'PING\r\n'), { uid: CLIENT_UID });
      expect(opaque.out.trim(), opaque.err).toBe(`server-tcp ${podIp}:7070`);
    }, 60_000);

    it('a meshed caller: its proxy finds the pod by the address dialled and reaches it with mTLS', async () => {
      const before = await inboundRequests();
      const r = await curl(a.ns, '/from-mesh');
      expect(r.code, r.err).toBe(0);
      // l5d-client-id: the server's proxy terminated mTLS from the client's, which discovery told where the pod is.
      expect(JSON.parse(r.out)).toEqual({ host: joinHostPort(other, 8080), clientId: CLIENT_ID, from: podIp, url: '/from-mesh' });
      expect(await inboundRequests()).toBe(before + 1);
    }, 60_000);

    it('a skipped inbound port is skipped over the other family too: the app answers on the address dialled', async () => {
      const skipped = await lab.run(c.ns, tagClient(other, 9999), { uid: CLIENT_UID });
      expect(skipped.out.trim(), skipped.err).toBe(`skipped ${other}:9999`);
    }, 60_000);
  });
}
