// A new authority's first request: the proxy asks discovery for the authority's endpoints at once,
// beside its profile, so that request waits for one answer from the destination, not two in a row
// (on a new pod, every authority its app calls is new: its first requests are the slowest).
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EndpointSet, Profile } from '../../../api/destination-types.ts';
import { Watched } from '../../../proxy/discovery/watched.ts';
import { addressBlock } from '../../helpers/address-block.ts';
import { eventually } from '../../helpers/control-plane.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from '../../helpers/proxy-harness.ts';

const NET = await addressBlock();
const AUTHORITY = 'web.test.svc.cluster.local:8080';

/** The test's resolver, whose profile for AUTHORITY comes only when the test says, and which notes when endpoints are asked for. */
class SlowProfileResolver extends TestResolver {
  readonly pendingProfile = new Watched<Profile>();
  readonly endpointsAsked: Array<{ profileAnswered: boolean }> = [];
  readonly appEndpoints = new Watched<EndpointSet>();

  override profile(authority: string): Watched<Profile> {
    return authority === AUTHORITY ? this.pendingProfile : super.profile(authority);
  }

  override endpoints(authority: string): Watched<EndpointSet> {
    if (authority !== AUTHORITY) return super.endpoints(authority);
    this.endpointsAsked.push({ profileAnswered: this.pendingProfile.get() !== undefined });
    return this.appEndpoints;
  }
}

let app: App;
let proxy: RunningProxy;
const resolver = new SlowProfileResolver();

beforeAll(async () => {
  app = await startApp(`${NET}.2`, (_req, res) => res.end('web'));
  resolver.appEndpoints.set({ kind: 'endpoints', endpoints: [{ address: app.address, weight: 1, labels: {} }] });
  // Discovery given all the time it wants: only the test's answer moves the request on.
  proxy = await startProxy(`${NET}.1`, resolver, { args: ['--discovery-timeout-ms', '60000'] });
});
afterAll(async () => {
  await proxy?.close();
  await app?.close();
});

describe("a new authority's first request", () => {
  it("asks for the authority's endpoints while its profile is still on its way", async () => {
    const answer = request(`${proxy.outboundUrl}/`, { headers: { host: AUTHORITY } });
    // Without the early ask, the endpoints are asked for only once the profile has come (never, here).
    await eventually(() => resolver.endpointsAsked.length > 0, 10_000, 'the endpoints of the new authority to be asked for');
    expect(resolver.endpointsAsked[0]).toEqual({ profileAnswered: false });
    resolver.pendingProfile.set({ fqdn: 'web.test.svc.cluster.local', routes: [], httpRoutes: [] });
    const res = await answer;
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('web');
  });
});
