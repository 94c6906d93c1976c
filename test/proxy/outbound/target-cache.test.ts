// The outbound stack's per-target cache through a real proxy: a cached target holds its discovery
// watches (profile and endpoints) open, evicting it releases them, shutdown releases them all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StopFailures } from '../../helpers/teardown.ts';
import { Pool } from 'undici';
import { CountedWatched } from '../../../proxy/discovery/counted-watched.ts';
import type { EndpointSet, Profile } from '../../../api/destination-types.ts';
import { startApp, startProxy, TestResolver, type App, type RunningProxy } from '../../helpers/proxy-harness.ts';
import { addressBlock } from '../../helpers/address-block.ts';

/** This run's own loopback /24 (another run of this file may be going on at the same time). */
const NET = await addressBlock();

/** The test resolver, with cells that count their subscribers as the destination client's do. */
class CountingResolver extends TestResolver {
  readonly endpointCells = new Map<string, CountedWatched<EndpointSet>>();
  readonly profileCells = new Map<string, CountedWatched<Profile>>();

  override endpoints(authority: string): CountedWatched<EndpointSet> {
    let cell = this.endpointCells.get(authority);
    if (!cell) this.endpointCells.set(authority, (cell = new CountedWatched<EndpointSet>()));
    return cell;
  }

  override profile(authority: string): CountedWatched<Profile> {
    let cell = this.profileCells.get(authority);
    if (!cell) this.profileCells.set(authority, (cell = new CountedWatched<Profile>({ fqdn: authority.split(':')[0]!, routes: [], httpRoutes: [] })));
    return cell;
  }

  /** How many subscribers the authority's profile and endpoints cells have. */
  held(authority: string): [number, number] {
    return [this.profileCells.get(authority)?.subscriberCount ?? 0, this.endpointCells.get(authority)?.subscriberCount ?? 0];
  }
}

const resolver = new CountingResolver();
const names = ['a', 'b', 'c'].map((n) => `${n}.production.svc.cluster.local:8080`);
let proxy: RunningProxy;
let app: App;
let pool: Pool;

async function get(authority: string): Promise<number> {
  const res = await pool.request({ path: '/', method: 'GET', headers: { host: authority } });
  await res.body.dump();
  return res.statusCode;
}

beforeAll(async () => {
  app = await startApp(`${NET}.30`, (_req, res) => res.end('ok'));
  for (const name of names) resolver.setEndpoints(name, [app.address]);
  proxy = await startProxy(`${NET}.31`, resolver, { args: ['--max-targets', '2'] });
  pool = new Pool(proxy.outboundUrl, { connections: 2 });
});

// Each part is stopped even when an earlier one failed to start or to stop (an unset one is skipped).
afterAll(async () => {
  const failures = new StopFailures();
  await failures.attempt('client pool', () => (pool?.closed === false ? pool.close() : undefined));
  await failures.attempt('proxy', () => proxy?.close());
  await failures.attempt('app', () => app?.close());
  failures.throwIfAny('target-cache teardown');
});

describe('the outbound target cache', () => {
  it('holds the watches of the targets it keeps, and releases those of the one it evicts', async () => {
    const [a, b, c] = names as [string, string, string];
    // Held: the profile by the logical tier, and by the concrete tier for its Service's circuit
    // breaker; the endpoints by the concrete tier, and by the logical tier too, which asks for
    // them beside the profile (the first request waits for one answer).
    const HELD = [2, 2];
    expect(await get(a)).toBe(200);
    expect(await get(b)).toBe(200);
    expect(resolver.held(a)).toEqual(HELD);
    expect(resolver.held(b)).toEqual(HELD);
    // A third target with room for two: a, the least recently used, goes, and its watches with it.
    expect(await get(c)).toBe(200);
    expect(resolver.held(a)).toEqual([0, 0]);
    expect(resolver.held(b)).toEqual(HELD);
    expect(resolver.held(c)).toEqual(HELD);
    // Used again, a is rebuilt and watched again; now b is the eldest.
    expect(await get(a)).toBe(200);
    expect(resolver.held(a)).toEqual(HELD);
    expect(resolver.held(b)).toEqual([0, 0]);
    expect(app.hits).toBe(4);
  });

  it('releases every watch when the proxy shuts down', async () => {
    await pool.close();
    await proxy.close();
    for (const name of names) expect(resolver.held(name)).toEqual([0, 0]);
  });
});
