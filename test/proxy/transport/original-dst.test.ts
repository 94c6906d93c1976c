// SO_ORIGINAL_DST against real redirected sockets: in a network namespace this test creates
// (root; CI runs as root), `mesh proxy-init` redirects a client's connections to a listener that
// reads each one's original destination; a connection made to the listener directly has none.
// IPv6 too: `--ipv6` writes the same REDIRECT with ip6tables.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsLab, ready, tagClient } from '../../helpers/netns.ts';

const ROOT = join(import.meta.dirname, '../../..');
const MODULE = join(ROOT, 'proxy/transport/original-dst.ts');

/** Listeners on 127.0.0.1:4140 and [::1]:4140 (where REDIRECT delivers) answering each connection with originalDst(socket). */
const READER = [
  process.execPath,
  '--import',
  'tsx',
  '--input-type=module',
  '-e',
  `import { createServer } from 'node:net';
   import { originalDst } from ${JSON.stringify(MODULE)};
   const answer = (s) => { s.on('error', () => {}); s.end(String(originalDst(s))); };
   createServer(answer).listen(4140, '127.0.0.1', () => createServer(answer).listen(4140, '::1', () => console.log('ready')));`,
];

/** A unique local prefix for the pod's IPv6 address (the lab's own namespaces: nothing else sees it). */
const V6_PREFIX = 'fd00:237';

describe('originalDst', () => {
  let lab: NetnsLab;
  let pod: { ns: string; ip: string };

  beforeAll(async () => {
    lab = NetnsLab.create(1);
    pod = lab.pods[0]!;
    // An IPv6 address on the pod's link, then proxy-init's rules for both families.
    lab.addIpv6(pod.ns, `${V6_PREFIX}::2`);
    const init = await lab.run(pod.ns, [process.execPath, join(ROOT, 'bin/mesh.js'), 'proxy-init', '--proxy-uid', '2102', '--ipv6']);
    expect(init.code, init.err).toBe(0);
    const reader = lab.spawn(pod.ns, READER);
    await ready(reader, 'the original-destination reader');
  }, 60_000);

  afterAll(() => expect(lab?.closeAndFindLeftovers() ?? []).toEqual([]));

  it('reads the address and port a redirected connection was sent to', async () => {
    // Addresses on the pod's subnet that nothing listens on: only the redirect answers.
    for (const [ip, port] of [['10.237.0.77', 5555], ['10.237.0.200', 80]] as const) {
      const r = await lab.run(pod.ns, tagClient(ip, port), { uid: 65534 });
      expect(r.out, r.err).toBe(`${ip}:${port}`);
    }
  }, 60_000);

  it('reads an IPv6 destination, written in brackets before its port', async () => {
    for (const [ip, port] of [[`${V6_PREFIX}::77`, 5555], [`${V6_PREFIX}::1:0:0:200`, 80]] as const) {
      const r = await lab.run(pod.ns, tagClient(ip, port), { uid: 65534 });
      expect(r.out, r.err).toBe(`[${ip}]:${port}`);
    }
  }, 60_000);

  it('is undefined for a connection nothing redirected, IPv4 or IPv6', async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const r = await lab.run(pod.ns, tagClient(host, 4140), { uid: 65534 });
      expect(r.out, `${host}: ${r.err}`).toBe('undefined');
    }
  }, 60_000);
});
