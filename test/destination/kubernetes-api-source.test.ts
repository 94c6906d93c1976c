// The Kubernetes API source against a stand-in API server whose CRDs appear after the start: a
// kind found by the retry while the destination is being stopped must not go on to watch.
import { afterEach, describe, expect, it } from 'vitest';
import { ApiSource } from '../../destination/kubernetes/api-source.ts';
import { fakeKubeApi, type FakeKubeApi } from '../helpers/fake-kube-api.ts';
import { quietLogger } from './harness.ts';

let fake: FakeKubeApi | undefined;
afterEach(() => fake?.close());

describe('ApiSource', () => {
  it('stopped while it lists a kind whose CRD just appeared: that kind never watches', async () => {
    let crdsInstalled = false;
    let onCrdList: (() => void) | undefined;
    const crdWatches: string[] = [];
    fake = await fakeKubeApi((req, res) => {
      const url = req.url ?? '';
      // Core kinds: listed, then watched (held open, silent).
      if (url.startsWith('/api/v1/')) {
        if (url.includes('watch=1')) return res.flushHeaders();
        return res.end(JSON.stringify({ items: [], metadata: { resourceVersion: '1' } }));
      }
      // API discovery of a group version: served once "installed", with every plural asked for.
      const discovery = /^\/apis\/([^/]+)\/([^/?]+)$/.exec(url);
      if (discovery) {
        if (!crdsInstalled) return res.writeHead(404).end(JSON.stringify({ message: 'not found' }));
        return res.end(JSON.stringify({ resources: ['endpointslices', 'serviceprofiles', 'servers', 'serverauthorizations', 'authorizationpolicies', 'meshtlsauthentications', 'networkauthentications', 'httproutes', 'grpcroutes'].map((name) => ({ name })) }));
      }
      if (url.includes('watch=1')) {
        crdWatches.push(url);
        return res.flushHeaders();
      }
      // A CRD kind's list: answered only once the test has stopped the source.
      onCrdList ??= () => res.end(JSON.stringify({ items: [], metadata: { resourceVersion: '1' } }));
    });
    const source = new ApiSource(fake.api, quietLogger());
    await source.start(); // every CRD kind missing: looked for again in 5 s
    crdsInstalled = true;
    for (const deadline = Date.now() + 20_000; !onCrdList && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    expect(onCrdList, 'the retry never listed a kind').toBeDefined();
    source.stop();
    onCrdList!();
    // The list's answer arrives after stop(): wait until the source has read it, then give a watch
    // it would (wrongly) open the moment to reach the server.
    const listed = () => source.watched().some((w) => w.apiVersion.startsWith('discovery.k8s.io') && w.lists === 1);
    for (const deadline = Date.now() + 20_000; !listed() && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 20));
    expect(listed(), 'the source never read the list').toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(crdWatches).toEqual([]);
  }, 30_000);
});
