// What the authorization layer remembers per client connection: the caller's IP (parsed once),
// whether it is local (probe exemption), and the decision the current policy made for it.
import type { InboundPolicy } from '../../../api/destination-types.ts';
import type { RequestContext } from '../../http/message.ts';
import type { AllowSeries } from './authz-metrics.ts';
import { hostOfAddress } from '../../../api/host-port.ts';
import type { Caller, Decision } from './decide.ts';

/** Callers remembered per port before the cache starts afresh (peers come from the network). */
const MAX_CALLERS = 1024;

export interface CallerEntry {
  readonly caller: Caller;
  /** 127.0.0.1, ::1 or the pod's own IP: where the kubelet's probes come from. */
  readonly local: boolean;
  /** The decision for this caller under the cached policy, when it depends on nothing else. */
  decision?: Decision;
  /** The allow counter of `decision`, looked up once. */
  allow?: AllowSeries;
}

/**
 * Keyed by the connection's `ip:port` (the same string object for every request on it), and
 * checked against its identity and TLS on each hit, since a later connection may reuse the
 * address with another certificate. Emptied whenever the policy object changes, so an edit to
 * the policy applies to the next request, as before.
 */
export class CallerCache {
  private policy: InboundPolicy | undefined;
  private readonly entries = new Map<string, CallerEntry>();
  /**
   * False when an authorization is route-scoped: then the decision depends on the request's
   * method and path too, and only the parsed IP is remembered.
   */
  decisionsCacheable = false;

  constructor(private readonly podIp: string | undefined) {}

  entry(policy: InboundPolicy | undefined, ctx: RequestContext): CallerEntry {
    if (policy !== this.policy) {
      this.policy = policy;
      this.entries.clear();
      this.decisionsCacheable = policy !== undefined && policy.authorizations.every((a) => a.routeMatches === undefined);
    }
    let e = this.entries.get(ctx.peer);
    if (e === undefined || e.caller.identity !== ctx.clientIdentity || e.caller.tls !== ctx.tls) {
      const ip = hostOfAddress(ctx.peer); // the peer as the server edge writes it (peerOf)
      const local = ip === '127.0.0.1' || ip === '::1' || ip === '::ffff:127.0.0.1' || ip === this.podIp;
      e = { caller: { ip, identity: ctx.clientIdentity, tls: ctx.tls }, local };
      if (this.entries.size >= MAX_CALLERS) this.entries.clear();
      this.entries.set(ctx.peer, e);
    }
    return e;
  }
}
