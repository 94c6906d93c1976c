// Traffic split: an HTTPRoute rule's weighted backendRefs, one backend drawn per request (and per
// retry attempt) in proportion to its weight; the concrete tier is looked up per request.
// Failover: while a backend's Service has no ready endpoints, its weight is shared among the
// rule's other backends (what Linkerd needs the linkerd-failover extension for), unless the
// route says `failover.linkerd.io/enabled: "false"`. The split watches its backends' endpoints
// and recomputes its weights when they change; a request only draws.
import type { EndpointSet, WeightedBackend } from '../../../api/destination-types.ts';
import type { Watched } from '../../discovery/watched.ts';
import { ProxyError } from '../../errors.ts';
import type { Service } from '../../http/message.ts';

export function pickBackend(backends: WeightedBackend[], random: () => number = Math.random): WeightedBackend | undefined {
  const total = backends.reduce((sum, b) => sum + Math.max(0, b.weight), 0);
  if (total <= 0) return undefined;
  let r = random() * total;
  for (const b of backends) {
    r -= Math.max(0, b.weight);
    if (r < 0) return b;
  }
  return [...backends].reverse().find((b) => b.weight > 0); // float rounding at the top end
}

export interface Failover {
  /**
   * Discovery's endpoints of a backend's Service. Asked once per backend when the split is built;
   * the split subscribes and keeps its weights current from the updates, so a request asks nothing.
   */
  endpoints(authority: string): Watched<EndpointSet>;
  /** Told once per change of a backend that carries weight: it lost its ready endpoints, or has them again. */
  changed(change: FailoverChange): void;
  /**
   * Told once per change of where a backend's weight goes (failover_total counts these): to the
   * rule's other backends, nowhere (every backend is down, so the weights stay as written), or to
   * the backend itself again. One backend's change can move another's weight: the only one up
   * going down strands the weight that had failed over to it; one coming back takes it.
   */
  weightMoved(backend: string, to: WeightMove): void;
}

/**
 * Where a backend's weight went: `failed_over` to the rule's other backends; `all_down`, nowhere,
 * since no backend of the rule has ready endpoints (no fail-over: its requests fail); `restored`
 * back to the backend itself, which has ready endpoints again.
 */
export type WeightMove = 'failed_over' | 'all_down' | 'restored';

export interface FailoverChange {
  backend: string;
  /** Every backend of the rule with no ready endpoints now, in the rule's order: `backend` among them when it failed over, not when it is back. */
  down: string[];
  /** The weights requests draw from now. */
  weights: WeightedBackend[];
}

/** A rule's split, and how to let go of the discovery watches its failover reads. */
export interface Split {
  service: Service;
  release(): void;
}

export function splitService(
  backends: WeightedBackend[],
  concrete: (authority: string) => Service,
  describe: string,
  failover?: Failover,
  random?: () => number,
): Split {
  // The weights requests draw from: as written, or with failed-over backends' shares moved.
  let effective = backends;
  const unsubscribes: Array<() => void> = [];
  if (failover && backends.length > 1) {
    const cells = new Map([...new Set(backends.map((b) => b.authority))].map((a) => [a, failover.endpoints(a)]));
    // The backends without ready endpoints, as last seen: a change is logged and counted once.
    let down = new Set<string>();
    const update = () => {
      // Unknown (discovery has not answered) is not "down": only a Service known to be empty is.
      const nowDown = new Set([...cells].filter(([, cell]) => isEmpty(cell.get())).map(([a]) => a));
      if (nowDown.size === down.size && [...nowDown].every((a) => down.has(a))) return;
      effective = redistribute(backends, nowDown);
      // Said for the backends that carry weight; a standby (weight 0) going away moves nothing.
      const downNow = [...cells.keys()].filter((a) => nowDown.has(a));
      for (const b of backends) {
        if (b.weight > 0 && nowDown.has(b.authority) !== down.has(b.authority)) failover.changed({ backend: b.authority, down: downNow, weights: effective });
      }
      for (const authority of new Set(backends.filter((b) => b.weight > 0).map((b) => b.authority))) {
        const before = weightGoes(backends, down, authority);
        const after = weightGoes(backends, nowDown, authority);
        if (after !== before) failover.weightMoved(authority, after === 'itself' ? 'restored' : after);
      }
      down = nowDown;
    };
    for (const cell of cells.values()) unsubscribes.push(cell.subscribe(update));
    update();
  }
  const service: Service = (req) => {
    const backend = pickBackend(effective, random);
    if (!backend) {
      // Gateway API: a rule whose backends all weigh 0 must not route anywhere.
      return Promise.reject(new ProxyError('NO_ENDPOINTS', `${describe}: every backendRef has weight 0`));
    }
    req.ctx.labels.backend = backend.authority; // bounded: the rule's configured backends
    // Gateway API: the share of a backendRef that cannot be resolved (no such Service) gets 500.
    if (backend.failure) return Promise.reject(new ProxyError('ROUTE_REFUSED', `${describe}: ${backend.failure}`));
    req.ctx.journey?.add('split', `backend ${backend.authority} (weight ${backend.weight} of ${backends.reduce((sum, b) => sum + Math.max(0, b.weight), 0)})`);
    return concrete(backend.authority)(req);
  };
  return { service, release: () => unsubscribes.splice(0).forEach((u) => u()) };
}

/** A Service discovery knows to have no ready endpoints (not: one it has not answered about yet). */
function isEmpty(set: EndpointSet | undefined): boolean {
  return set?.kind === 'endpoints' && set.endpoints.length === 0;
}

/** Where `authority`'s weight goes while the backends in `down` have no ready endpoints (as `redistribute` shares it). */
function weightGoes(backends: WeightedBackend[], down: ReadonlySet<string>, authority: string): 'itself' | 'failed_over' | 'all_down' {
  if (!down.has(authority)) return 'itself';
  return backends.some((b) => !down.has(b.authority)) ? 'failed_over' : 'all_down';
}

/**
 * The weights with every backend in `down` at 0, its share going to the others in proportion to
 * their weights (equally when they all weigh 0: a standby backend). When every backend is down,
 * the weights stay as written: there is nowhere better to send, and the failure should show.
 */
export function redistribute(backends: WeightedBackend[], down: ReadonlySet<string>): WeightedBackend[] {
  if (down.size === 0) return backends;
  const up = backends.filter((b) => !down.has(b.authority));
  if (up.length === 0) return backends;
  const upTotal = up.reduce((sum, b) => sum + Math.max(0, b.weight), 0);
  return backends.map((b) => ({
    authority: b.authority,
    weight: down.has(b.authority) ? 0 : upTotal > 0 ? Math.max(0, b.weight) : 1,
    ...(b.failure ? { failure: b.failure } : {}),
  }));
}

/**
 * A change said as what it does to the traffic: where a backend's weight goes now, that there is
 * nowhere to send it (every backend down: the weights stay as written and requests fail), or that
 * a backend is back while others are still down (their weight now goes to the ones up).
 */
export function failoverMessage({ backend, down, weights }: FailoverChange): string {
  const failedOver = down.includes(backend);
  const shares = weights.map((w) => `${w.authority}=${w.weight}`).join(', ');
  const up = weights.filter((w) => w.weight > 0 && !down.includes(w.authority)).map((w) => w.authority);
  const others = down.filter((a) => a !== backend);
  if (failedOver) {
    if (up.length === 0) {
      const none = others.length > 0 ? `, nor have the other backends (${others.join(', ')})` : '';
      return `failover: ${backend} has no ready endpoints${none}: nowhere to fail over to, so the weights stay as written (${shares}) and the rule's requests fail until a backend has endpoints again`;
    }
    return `failover: ${backend} has no ready endpoints; its weight goes to ${up.join(', ')} (${shares})`;
  }
  if (down.length === 0) return `failover: ${backend} has ready endpoints again; every backend has, weights as written (${shares})`;
  const still = down.length === 1 ? `${down[0]} still has none; its weight goes` : `${down.join(', ')} still have none; their weight goes`;
  return `failover: ${backend} has ready endpoints again; ${still} to ${up.join(', ')} (${shares})`;
}
