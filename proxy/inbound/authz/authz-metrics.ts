// The inbound authorization counters, registered once per prom-client Registry (one per proxy).
import { Counter, type Registry } from '../../metrics/prom-client-parts.ts';

/**
 * One allow label set counted per request as a plain number, handed to prom-client at scrape
 * time: `counter.inc(labels)` hashes the label object on every call (~1 us), and every admitted
 * request passes here.
 */
export class AllowSeries {
  count = 0;
  /** How much of `count` the Counter already holds. */
  reported = 0;
  constructor(readonly labels: { server: string; authz: string; port: string }) {}
}

export interface AuthzCounters {
  allow: Counter<'server' | 'authz' | 'port'>;
  deny: Counter<'server' | 'reason' | 'port'>;
  /** The cheap per-request handle for one allow label set (shared by every layer of the registry). */
  allowSeries(server: string, authz: string, port: string): AllowSeries;
}

/** Per registry: the allow series counted by hand; a Map in a WeakMap so no proxy's state is global. */
const seriesByRegistry = new WeakMap<Registry, Map<string, AllowSeries>>();

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[], collect?: () => void): Counter<L> {
  // Several ports of one proxy share its registry: reuse the counter a sibling layer made.
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry], collect });
}

export function authzCounters(registry: Registry): AuthzCounters {
  let series = seriesByRegistry.get(registry);
  if (!series) seriesByRegistry.set(registry, (series = new Map()));
  const all = series;
  const allow = counter(registry, 'inbound_http_authz_allow_total', 'Inbound requests and connections admitted by policy', ['server', 'authz', 'port'], function (this: Counter<'server' | 'authz' | 'port'>) {
    // Only the increase since the last scrape: opaque connections still use `inc` directly.
    for (const s of all.values()) {
      if (s.count > s.reported) this.inc(s.labels, s.count - s.reported);
      s.reported = s.count;
    }
  });
  return {
    allow,
    deny: counter(registry, 'inbound_http_authz_deny_total', 'Inbound requests and connections refused by policy', ['server', 'reason', 'port']),
    allowSeries(server, authz, port) {
      const key = `${server}\u0000${authz}\u0000${port}`;
      let s = all.get(key);
      if (!s) all.set(key, (s = new AllowSeries({ server, authz, port })));
      return s;
    },
  };
}
