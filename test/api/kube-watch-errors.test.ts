// Watches of the Kubernetes API (the destination's Reflector, the identity's issuer Secret) against
// a real HTTPS server standing in for an API server: one that ends every watch with an ERROR event
// that is not 410 must be backed off from like any failed watch, not reopened at once, again and
// again, as fast as the server answers; one that goes silent without closing (a partition) must
// be given up on once its timeoutSeconds has passed, so the watch resumes elsewhere.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { KubeApi } from '../../api/kubernetes/kube-api.ts';
import { Reflector } from '../../destination/kubernetes/reflector.ts';
import { IssuerSecret } from '../../identity/issuer-secret.ts';
import { fakeKubeApi } from '../helpers/fake-kube-api.ts';
import { testPki } from '../helpers/pki.ts';
import { quietLogger } from '../destination/harness.ts';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** An API server answering GETs with `object` and every watch with an ERROR event (or, `silent`, with nothing after the headers); counts the watches. */
async function erroringApi(object: unknown, silent = false): Promise<{ api: KubeApi; watches: () => number; urls: string[] }> {
  let watches = 0;
  const urls: string[] = [];
  const fake = await fakeKubeApi((req, res) => {
    if (!req.url?.includes('watch=1')) return res.end(JSON.stringify(object));
    watches++;
    urls.push(req.url);
    if (silent) return res.flushHeaders(); // a server gone quiet without closing: a partition, a paused VM
    res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 500, message: 'etcd is unavailable' } })}\n`);
  });
  cleanups.push(() => fake.close());
  return { api: fake.api, watches: () => watches, urls };
}

/** Waits for two refused watches (the event), then counts them over a second: backed off, a handful; reopened at once, hundreds. */
async function watchesInASecond(watches: () => number): Promise<number> {
  for (const deadline = Date.now() + 20_000; watches() < 2 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
  expect(watches()).toBeGreaterThanOrEqual(2);
  const before = watches();
  await new Promise((r) => setTimeout(r, 1_000));
  return watches() - before;
}

/** The issuer Secret of a test PKI, as a kubernetes.io/tls Secret at `resourceVersion`. */
function issuerSecretOf(pki: Awaited<ReturnType<typeof testPki>>, resourceVersion: string) {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return {
    metadata: { name: 'mesh-identity-issuer', namespace: 'mesh-system', resourceVersion },
    type: 'kubernetes.io/tls',
    data: { 'ca.crt': b64(pki.ca.material.trustAnchorsPem), 'tls.crt': b64(pki.ca.material.issuerChainPem), 'tls.key': b64(pki.ca.material.issuerKeyPem) },
  };
}

describe('watches of the Kubernetes API', () => {
  it('the Reflector backs off when the server ends each watch with an ERROR event (not 410)', async () => {
    const { api, watches } = await erroringApi({ items: [], metadata: { resourceVersion: '7' } });
    const reflector = new Reflector(api, { kind: 'Service', group: '', versions: ['v1'], plural: 'services' }, 'v1', quietLogger(), () => {});
    cleanups.push(() => reflector.stop());
    await reflector.start();
    expect(await watchesInASecond(watches)).toBeLessThan(10);
  });

  it('the issuer Secret backs off when the server ends each watch with an ERROR event (not 410)', async () => {
    const { api, watches } = await erroringApi(issuerSecretOf(await testPki(), '7'));
    const issuer = await IssuerSecret.load(api, 'mesh-system/mesh-identity-issuer', quietLogger());
    cleanups.push(() => issuer.stop());
    expect(await watchesInASecond(watches)).toBeLessThan(10);
  });

  it('a rotated issuer whose user fails to take it is in force, and the log says the user failed, not that the Secret was refused', async () => {
    const [first, second] = [await testPki(), await testPki()];
    let watched = false;
    const fake = await fakeKubeApi((req, res) => {
      if (!req.url?.includes('watch=1')) return res.end(JSON.stringify(issuerSecretOf(first, '7')));
      if (watched) return res.flushHeaders(); // one rotation, then quiet
      watched = true;
      res.end(`${JSON.stringify({ type: 'MODIFIED', object: issuerSecretOf(second, '8') })}\n`);
    });
    cleanups.push(() => fake.close());
    const lines: Array<{ msg: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) });
    const issuer = await IssuerSecret.load(fake.api, 'mesh-system/mesh-identity-issuer', logger);
    cleanups.push(() => issuer.stop());
    issuer.onRotate(() => {
      throw new Error('serving certificate could not be re-issued');
    });
    for (const deadline = Date.now() + 20_000; !lines.some((l) => l.msg.startsWith('issuer rotated, but')) && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    expect(lines.map((l) => l.msg)).toContain('issuer rotated, but a user of it failed to take the new one');
    expect(lines.map((l) => l.msg)).not.toContain('issuer Secret refused; keeping the current issuer');
    expect(issuer.current.material.issuerChainPem).toBe(second.ca.material.issuerChainPem);
  });

  it('a watch that goes silent past its timeoutSeconds is ended by the client, so its owner resumes', async () => {
    const { api, urls } = await erroringApi({}, true);
    let ended: Error | undefined | 'clean';
    const started = Date.now();
    const handle = await api.watch('/api/v1/services', '7', { verb: 'watch', resource: 'services', group: '' }, () => {}, (err) => (ended = err ?? 'clean'), 1);
    cleanups.push(() => handle.stop());
    for (const deadline = Date.now() + 20_000; ended === undefined && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    expect(ended, 'the watch never ended').toBeDefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900); // not before the server's own timeout had passed
    expect(urls[0]).toContain('timeoutSeconds=1');
  });
});
