// Inbound authorization: each request (or opaque connection) is checked against the live policy
// of its port - the Server's authorizations, else the default policy - before it reaches the app.
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { InboundPolicy } from '../../api/destination-types.ts';
import type { Watched } from '../discovery/watched.ts';
import { ProxyError } from '../errors.ts';
import { splitPath } from '../http/route-match.ts';
import type { Layer, MeshRequest, Service } from '../http/message.ts';
import { authzCounters, type AllowSeries, type AuthzCounters } from './authz/authz-metrics.ts';
import { CallerCache } from './authz/caller-cache.ts';
import { warnBadNetworks } from './authz/cidr.ts';
import { decide, describeCaller, newDecisionCache, type Decision } from './authz/decide.ts';

export interface AuthorizeOptions {
  registry: Registry;
  logger: Logger;
  /** This pod's own IP: probes from it (and from 127.0.0.1 / ::1) are admitted, as the kubelet's are. */
  podIp?: string;
  /** Override the probe paths (default /live, /ready, /healthz, /readyz). */
  probePaths?: string[];
  /**
   * A port's first requests may arrive before its first policy (the watch starts on first use):
   * wait this long for it rather than refuse a caller the policy would admit. Absent: no wait.
   */
  firstPolicyTimeoutMs?: number;
}

export const DEFAULT_PROBE_PATHS = ['/live', '/ready', '/healthz', '/readyz'];

function allowSeriesOf(counters: AuthzCounters, decision: { server: string; authz: string }, port: number | undefined): AllowSeries {
  return counters.allowSeries(decision.server, decision.authz, String(port ?? ''));
}

function isProbe(req: MeshRequest, local: boolean, paths: Set<string>): boolean {
  if (!local || req.method !== 'GET' || req.ctx.tls) return false; // the kubelet probes in plaintext
  return paths.has(splitPath(req.path).pathOnly);
}

export function authorize(policy: Watched<InboundPolicy>, opts: AuthorizeOptions): Layer {
  const counters = authzCounters(opts.registry);
  const probePaths = new Set(opts.probePaths ?? DEFAULT_PROBE_PATHS);
  const cache = newDecisionCache(warnBadNetworks(opts.logger));
  // Every request of a connection asks the same question while the policy stays the same:
  // remember the answer per connection (the policy is still read live, per request).
  const callers = new CallerCache(opts.podIp);

  // Not an async function: no promise of its own per request; a refusal is a rejected promise.
  return (inner: Service): Service => {
    const check: Service = (req) => {
      try {
        const current = policy.get();
        const entry = callers.entry(current, req.ctx);
        let decision: Decision;
        if (!current) {
          // Fail closed: no policy has arrived yet for this port.
          decision = { allowed: false, server: 'unknown', reason: 'no-policy', message: `inbound policy not yet known; refusing ${describeCaller(entry.caller)}` };
        } else if (isProbe(req, entry.local, probePaths)) {
          decision = { allowed: true, server: current.server?.name ?? `default:${current.defaultPolicy}`, authz: 'probe' };
        } else if (entry.decision) {
          decision = entry.decision;
        } else {
          decision = decide(current, entry.caller, req, cache);
          if (callers.decisionsCacheable) entry.decision = decision;
        }
        const port = current?.port;
        if (decision.allowed) {
          // A cached decision keeps its counter; a per-request one (a probe, a route rule) looks it up.
          const series = decision === entry.decision ? (entry.allow ??= allowSeriesOf(counters, decision, port)) : allowSeriesOf(counters, decision, port);
          series.count++;
          req.ctx.labels.srv_name = decision.server;
          req.ctx.labels.authz_name = decision.authz;
          // Audit mode (Linkerd's): admitted, counted under authz "audit" above and in request_total's
          // authz_name, and logged at info with what a deny would have refused.
          if (decision.audit !== undefined) {
            opts.logger.info({ request: req.ctx.id, 'authz.name': 'audit', server: decision.server, port, client: entry.caller.identity ?? null, peer: req.ctx.peer, method: req.method, path: splitPath(req.path).pathOnly }, `audit: ${decision.audit}`);
          }
          req.ctx.journey?.add('policy', `admitted by Server ${decision.server}, authorization ${decision.authz} (port ${port ?? '?'})`);
          req.ctx.inboundPolicy = current;
          return inner(req);
        }
        counters.deny.inc({ server: decision.server, reason: decision.reason, port: String(port ?? '') });
        opts.logger.warn(
          {
            request: req.ctx.id,
            server: decision.server,
            port,
            client: entry.caller.identity ?? null,
            peer: req.ctx.peer,
            method: req.method,
            path: splitPath(req.path).pathOnly,
            reason: decision.reason,
          },
          `denied: ${decision.message}`,
        );
        req.ctx.journey?.add('policy', `refused by Server ${decision.server} (${decision.reason}): ${decision.message}`);
        throw new ProxyError('FORBIDDEN', decision.message);
      } catch (err) {
        return Promise.reject(err);
      }
    };
    const wait = opts.firstPolicyTimeoutMs;
    if (wait === undefined) return check;
    // Once the policy is known (every request but a port's first few) the request goes straight
    // to the check; before, it waits (bounded), and the check then fails closed if none came.
    return (req) => (policy.get() !== undefined ? check(req) : policy.first(wait, 'inbound policy').then(() => check(req), () => check(req)));
  };
}

/** Ports with a cached per-port layer; beyond this (ports come from a header), built per request. */
const MAX_CACHED_PORTS = 256;

/**
 * The inbound policy slot for a whole proxy: each request is checked against the policy of the
 * app port it targets (`portOf`, e.g. from `l5d-dst-port`), from `policyFor` (the resolver).
 */
export function authorizePorts(
  policyFor: (port: number) => Watched<InboundPolicy>,
  portOf: (req: MeshRequest) => number,
  opts: AuthorizeOptions,
): Layer {
  return (inner: Service): Service => {
    const perPort = new Map<number, Service>();
    // Not an async function: a lookup and a call, without a promise of its own per request.
    return (req) => {
      let port: number;
      try {
        port = portOf(req);
      } catch (err) {
        return Promise.reject(err); // a bad l5d-dst-port
      }
      let svc = perPort.get(port);
      if (!svc) {
        svc = authorize(policyFor(port), opts)(inner);
        if (perPort.size < MAX_CACHED_PORTS) perPort.set(port, svc);
      }
      return svc(req);
    };
  };
}
