// The inbound authorization counters, registered once per prom-client Registry (one per proxy).
import { Counter, type Registry } from 'prom-client';

export interface AuthzCounters {
  allow: Counter<'server' | 'authz' | 'port'>;
  deny: Counter<'server' | 'reason' | 'port'>;
}

function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: L[]): Counter<L> {
  // Several ports of one proxy share its registry: reuse the counter a sibling layer made.
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export function authzCounters(registry: Registry): AuthzCounters {
  return {
    allow: counter(registry, 'inbound_http_authz_allow_total', 'Inbound requests and connections admitted by policy', ['server', 'authz', 'port']),
    deny: counter(registry, 'inbound_http_authz_deny_total', 'Inbound requests and connections refused by policy', ['server', 'reason', 'port']),
  };
}
