// Authorization of opaque connections (TCP from outside the mesh, another proxy's opaque
// transport, WebSocket tunnels): one decision per connection against the port's live policy.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ProxyError } from '../errors.ts';
import { authzCounters, type AuthzCounters } from './authz/authz-metrics.ts';
import { hostOfAddress } from '../../api/host-port.ts';
import { warnBadNetworks } from './authz/cidr.ts';
import { decide, newDecisionCache, type Decision, type DecisionCache } from './authz/decide.ts';
import type { InboundPolicySource } from './policy-source.ts';

export interface TunnelCaller {
  /** `ip:port` of the connection. */
  peer: string;
  /** The SPIFFE id its client certificate proved; absent for plaintext. */
  identity?: string;
}

export class TunnelAuthorizer {
  private readonly counters: AuthzCounters;
  /** Networks compiled once per policy, not per connection (and a bad one told once). */
  private readonly cache: DecisionCache;

  constructor(
    private readonly policy: InboundPolicySource,
    private readonly opts: { registry: Registry; logger: Logger; timeoutMs: number },
  ) {
    this.counters = authzCounters(opts.registry);
    this.cache = newDecisionCache(warnBadNetworks(opts.logger));
  }

  /** Resolves when `caller` may open a connection to `port`; throws FORBIDDEN (logged, counted) otherwise. */
  async check(port: number, caller: TunnelCaller): Promise<void> {
    const cell = this.policy.policyFor(port);
    // A connection may wait briefly for the port's first policy (a request cannot: it fails closed at once,
    // but a just-started proxy's first opaque connection would otherwise always be refused).
    const current = await cell.first(this.opts.timeoutMs, `inbound policy for port ${port}`).catch(() => undefined);
    // Route-scoped authorizations never admit a connection (no request to match): decide without one.
    const decision: Decision = current
      ? decide(current, { ip: hostOfAddress(caller.peer), identity: caller.identity, tls: caller.identity !== undefined }, undefined, this.cache)
      : { allowed: false, server: 'unknown', reason: 'no-policy', message: `inbound policy for port ${port} not known after ${this.opts.timeoutMs} ms` };
    if (decision.allowed) {
      this.counters.allow.inc({ server: decision.server, authz: decision.authz, port: String(port) });
      if (decision.audit !== undefined) {
        this.opts.logger.info({ 'authz.name': 'audit', server: decision.server, port, client: caller.identity ?? null, peer: caller.peer, transport: 'opaque' }, `audit: connection ${decision.audit}`);
      }
      return;
    }
    this.counters.deny.inc({ server: decision.server, reason: decision.reason, port: String(port) });
    this.opts.logger.warn(
      { server: decision.server, port, client: caller.identity ?? null, peer: caller.peer, reason: decision.reason, transport: 'opaque' },
      `connection denied: ${decision.message}`,
    );
    throw new ProxyError('FORBIDDEN', decision.message);
  }
}
