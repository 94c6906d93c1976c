// Transparent interception end to end, in network namespaces this test creates (root; CI runs as
// root): `mesh proxy-init` in two pods, a real identity CA in the hub namespace, two real proxies
// running as their own user, and clients that know nothing of proxies (curl, a bare TCP client).
// They reach the server through both proxies with mTLS between them; skipped ports bypass the
// proxy; an address discovery does not know is forwarded as is, HTTP and opaque; a server that
// speaks first on an opaque port is heard at once, from inside and from outside the mesh.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, ready, tagClient, tagServer } from '../helpers/netns.ts';
import { CLIENT_ID, CLUSTER_IP, startTransparentPair } from '../helpers/transparent-pair.ts';

const APP_UID = 1000;
const GRPC_ECHO = join(import.meta.dirname, '../helpers/grpc-echo.ts');
const CLIENT_UID = 65534;

/** The server app: answers with what it saw, so the test reads the caller's identity and Host. */
const HTTP_APP = (ip: string, port: number, name: string) => [
  process.execPath,
  '-e',
  `require('node:http').createServer((req, res) => res.end(JSON.stringify({ app: '${name}', host: req.headers.host, clientId: req.headers['l5d-client-id'] ?? null, url: req.url })))
     .listen(${port}, '${ip}', () => console.log('ready'));`,
];

describe('transparent interception through two proxies', () => {
  let lab: NetnsLab;
  let pair: { close(): void } | undefined;
  let a: { ns: string; ip: string }; // the client's pod
  let b: { ns: string; ip: string }; // the server's pod
  let c: { ns: string; ip: string }; // a host outside the mesh: no proxy, unknown to discovery
  const curl = (args: string[]) => lab.run(a.ns, ['curl', '-sS', '--max-time', '20', ...args], { uid: CLIENT_UID });
  const metricsOfA = async () => (await lab.run(a.ns, ['curl', '-sS', `http://${a.ip}:4191/metrics`])).out;
  const sum = (text: string, name: string, match: (line: string) => boolean) =>
    text.split('\n').filter((l) => l.startsWith(`${name}{`) && match(l)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);

  beforeAll(async () => {
    lab = NetnsLab.create(3);
    [a, b, c] = lab.pods as [typeof a, typeof b, typeof c];
    const apps = [
      lab.spawn(b.ns, HTTP_APP(b.ip, 8080, 'server'), { uid: APP_UID }),
      lab.spawn(b.ns, tagServer('skipped', [[b.ip, 9999]]), { uid: APP_UID }),
      lab.spawn(b.ns, tagServer('server-tcp', [[b.ip, 7070]]), { uid: APP_UID }),
      // Speaks first: its line goes out on connect, before the client sends anything.
      lab.spawn(b.ns, tagServer('greeter', [[b.ip, 2525]]), { uid: APP_UID }),
      lab.spawn(c.ns, tagServer('outside', [[c.ip, 7000]])),
      lab.spawn(c.ns, HTTP_APP(c.ip, 8081, 'outside-http')),
    ];
    await Promise.all(apps.map((s, i) => ready(s, `app ${i}`)));
    pair = await startTransparentPair(lab, { client: a, server: b, skipPort: 9999, appPort: 8080, opaquePort: 2525, ipv6: true });
  }, 120_000);

  afterAll(() => {
    const leftovers = lab?.closeAndFindLeftovers() ?? [];
    pair?.close();
    expect(leftovers).toEqual([]);
  });

  it('a plain client reaches the server by its pod IP, through both proxies, with mTLS between them', async () => {
    const r = await curl([`http://${b.ip}:8080/hello`]);
    expect(r.code, r.err).toBe(0);
    // l5d-client-id is set only by an inbound proxy that terminated mTLS from the client's proxy;
    // and the client's own proxy dialled out without being looped back to itself.
    expect(JSON.parse(r.out)).toEqual({ app: 'server', host: `${b.ip}:8080`, clientId: CLIENT_ID, url: '/hello' });
  }, 60_000);

  it('keeps the Host as the authority: a service name routes through discovery', async () => {
    const r = await curl(['-H', 'host: server.demo.svc.cluster.local:8080', `http://${b.ip}:8080/by-name`]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ app: 'server', clientId: CLIENT_ID, url: '/by-name' });
    expect(sum(await metricsOfA(), 'request_total', (l) => l.includes('authority="server.demo.svc.cluster.local:8080"'))).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('an IPv6 connection is intercepted too (ip6tables to [::1]:4140): its Host routes through discovery, with mTLS', async () => {
    // IPv6 addresses on the pods' link; the client's rules were written for ip6tables as well.
    lab.addIpv6(a.ns, 'fd00:240::1');
    lab.addIpv6(b.ns, 'fd00:240::2');
    const r = await curl(['-g', '-H', 'host: server.demo.svc.cluster.local:8080', 'http://[fd00:240::2]:8080/over-ipv6']);
    expect(r.code, r.err).toBe(0);
    // Only the client's proxy could have given the request to the server's proxy, which set l5d-client-id.
    expect(JSON.parse(r.out)).toMatchObject({ app: 'server', clientId: CLIENT_ID, url: '/over-ipv6' });
  }, 60_000);

  it('a Service\'s clusterIP, which no interface has, resolves through the destination to the Service\'s pods', async () => {
    const r = await curl([`http://${CLUSTER_IP}/by-cluster-ip`]);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toEqual({ app: 'server', host: CLUSTER_IP, clientId: CLIENT_ID, url: '/by-cluster-ip' });
  }, 60_000);

  it('a caller outside the mesh is redirected into the server\'s proxy, which sends it to the port it dialled', async () => {
    // From pod c (no proxy, no rules): plaintext into b, where PREROUTING sends it to the inbound port.
    const http = await lab.run(c.ns, ['curl', '-sS', '--max-time', '20', `http://${b.ip}:8080/from-outside`], { uid: CLIENT_UID });
    expect(http.code, http.err).toBe(0);
    expect(JSON.parse(http.out)).toEqual({ app: 'server', host: `${b.ip}:8080`, clientId: null, url: '/from-outside' });
    // Raw bytes to a second port: only SO_ORIGINAL_DST on b's inbound socket says it was 7070.
    const opaque = await lab.run(c.ns, tagClient(b.ip, 7070, 'PING\r\n'), { uid: CLIENT_UID });
    expect(opaque.out.trim(), opaque.err).toBe(`server-tcp ${b.ip}:7070`);
    const inbound = (await lab.run(b.ns, ['curl', '-sS', `http://${b.ip}:4191/metrics`])).out;
    expect(sum(inbound, 'tcp_open_total', (l) => l.includes('direction="inbound"') && l.includes('tls="false"'))).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('a gRPC client with no proxy settings goes through both proxies (HTTP/2 detected on the redirected connection)', async () => {
    const server = lab.spawn(b.ns, [process.execPath, '--import', 'tsx', '--input-type=module', '-e',
      `import { startGrpcEcho } from ${JSON.stringify(GRPC_ECHO)}; const app = await startGrpcEcho('${b.ip}'); console.log('ready ' + app.port);`], { uid: APP_UID});
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      server.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /ready (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      server.on('close', (code) => reject(new Error(`gRPC echo exited (${code})`)));
    });
    const target = `${b.ip}:${port}`;
    const call = await lab.run(a.ns, [process.execPath, '--import', 'tsx', '--input-type=module', '-e',
      `import { echoClient } from ${JSON.stringify(GRPC_ECHO)};
       echoClient('${target}', '${target}').Unary({ text: 'through-iptables' }, (err, reply) => { console.log(JSON.stringify(err ? { err: err.message } : { text: reply.text })); process.exit(0); });`],
      { uid: CLIENT_UID});
    expect(JSON.parse(call.out.trim().split('\n').at(-1)!), call.err).toEqual({ text: 'through-iptables' });
    // Counted by the client's proxy under the address the app dialled, sent over mTLS.
    const counted = sum(await metricsOfA(), 'request_total', (l) => l.includes(`authority="${target}"`) && l.includes('tls="true"'));
    expect(counted).toBe(1);
  }, 60_000);

  // A server that speaks first gets no bytes to detect: on an opaque port nothing waits for them.
  // Held behind detection, its line would come after the 10 s detect timeout; the bound is
  // generous for a loaded machine (a node client starts in it too).
  it.each([
    ['a caller outside the mesh (its --opaque-ports, at the server\'s proxy)', () => c, () => b.ip],
    ['a meshed caller dialling the Service (its opaque-ports annotation, at the caller\'s proxy; mTLS between)', () => a, () => CLUSTER_IP],
  ])('a server-speaks-first protocol on an opaque port is heard at once by %s', async (_who, from, host) => {
    const started = performance.now();
    const r = await lab.run(from().ns, tagClient(host(), 2525), { uid: CLIENT_UID });
    const ms = performance.now() - started;
    expect(r.out.trim(), r.err).toBe(`greeter ${b.ip}:2525`);
    expect(ms).toBeLessThan(5_000);
  }, 60_000);

  it('skipped ports bypass the proxy', async () => {
    const opened = (m: string) => sum(m, 'tcp_open_total', (l) => l.includes('direction="outbound"') && l.includes('peer="src"'));
    const before = opened(await metricsOfA());
    const r = await lab.run(a.ns, tagClient(b.ip, 9999), { uid: CLIENT_UID });
    expect(r.out.trim(), r.err).toBe(`skipped ${b.ip}:9999`);
    expect(opened(await metricsOfA())).toBe(before);
  }, 60_000);

  it('forwards an address discovery does not know as it is: opaque bytes, and HTTP, with metrics', async () => {
    const opened = (m: string) => sum(m, 'tcp_open_total', (l) => l.includes('direction="outbound"') && l.includes('peer="src"'));
    const before = opened(await metricsOfA());
    // Opaque (the client speaks first, not HTTP): only SO_ORIGINAL_DST on the redirected socket
    // tells the proxy where these bytes go.
    const opaque = await lab.run(a.ns, tagClient(c.ip, 7000, 'PING\r\n'), { uid: CLIENT_UID });
    expect(opaque.out.trim(), opaque.err).toBe(`outside ${c.ip}:7000`);
    expect(opened(await metricsOfA())).toBe(before + 1);

    const http = await curl([`http://${c.ip}:8081/plain`]);
    expect(http.code, http.err).toBe(0);
    expect(JSON.parse(http.out)).toEqual({ app: 'outside-http', host: `${c.ip}:8081`, clientId: null, url: '/plain' });
    expect(sum(await metricsOfA(), 'request_total', (l) => l.includes(`authority="${c.ip}:8081"`))).toBe(1);
  }, 60_000);
});
