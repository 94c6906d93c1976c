// The concrete tier: one service's endpoints behind one balancer - power of two choices over
// peak-EWMA cost (divided by weight), with failure accrual taking failing endpoints out: those
// that cannot be reached always, those that answer with failures when the Service opts in.
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { DEFAULT_FAILURE_ACCRUAL, type Endpoint, type EndpointSet, type FailureAccrualPolicy } from '../../../api/destination-types.ts';
import type { Watched } from '../../discovery/watched.ts';
import { asProxyError, ProxyError } from '../../errors.ts';
import { onBodyClose, type BodyCloseHook } from '../../http/body-close.ts';
import { headerValue, type MeshRequest, type MeshResponse, type Service, type WireProtocol } from '../../http/message.ts';
import { FailureAccrual } from './failure-accrual.ts';
import { DEFAULT_DECAY_MS, DEFAULT_INITIAL_RTT_MS, PeakEwma } from './peak-ewma.ts';

export interface BalancerOptions {
  /** The authority being balanced, for error messages. */
  authority: string;
  /**
   * The Service's circuit breaker (its profile's `failureAccrual`), read at each answer: with one,
   * failed answers (5xx, a gRPC server fault) count towards taking an endpoint out; without,
   * only errors do (the endpoint could not be reached, or broke the connection), as Linkerd's
   * endpoints back off their reconnects whether or not a Service asks for circuit breaking.
   */
  failureAccrual?: () => FailureAccrualPolicy | undefined;
  /** EWMA decay (default 10 s) and the estimate a new endpoint starts with (default 30 ms). */
  decayMs?: number;
  initialRttMs?: number;
  logger?: Logger;
  /**
   * Opens a connection to an endpoint that joins the set, for the protocol this balancer last
   * served, before the endpoint takes requests (as tower's balancer waits for an endpoint's
   * service to be ready); resolves when it is up or has failed.
   */
  preconnect?: (endpoint: Endpoint, protocol: WireProtocol) => Promise<void>;
  /**
   * The most slow start holds back an endpoint, from the moment it joins (default 5 s): after that
   * it is balanced like the others even if its preconnect or its first request has not finished,
   * so one request that hangs cannot keep a healthy pod out for good. (A request it still holds
   * counts in its peak-EWMA cost, so a stuck endpoint still gets little.)
   */
  slowStartMs?: number;
  /** Injectable clock (ms) and randomness for tests. */
  now?: () => number;
  random?: () => number;
}

/**
 * One endpoint in the balancer. It is also the hook that hears a streamed response body close
 * (one object per endpoint, not a closure per response): its request is then no longer in flight.
 */
class Slot implements BodyCloseHook {
  /** Its first connection is being opened (preconnect): it takes no request while others can. */
  warming = false;
  /** It has answered a request: until then it takes one request at a time while others can. */
  proven = false;

  constructor(
    public endpoint: Endpoint,
    readonly service: Service,
    readonly load: PeakEwma,
    readonly accrual: FailureAccrual,
    /** When slow start (warming, then one request at a time) gives up holding it back (`now()` ms). */
    readonly slowStartEnds: number,
  ) {}

  bodyClosed(): void {
    this.load.pending--;
  }
}

export const DEFAULT_SLOW_START_MS = 5_000;

/**
 * gRPC statuses that say the server is in trouble (UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
 * INTERNAL, UNAVAILABLE, DATA_LOSS). Others (PERMISSION_DENIED from a policy, NOT_FOUND,
 * INVALID_ARGUMENT...) are answers about the request, not the endpoint's health.
 */
const SERVER_FAULT_GRPC = new Set([2, 4, 8, 13, 14, 15]);

/**
 * Failure accrual asks "is this endpoint unhealthy?", not "did the request fail?" (the route's
 * response classes answer that one, for metrics and retries): a 5xx, or a server-fault gRPC status.
 */
function isEndpointFailure(status: number, grpc: number | undefined): boolean {
  return grpc === undefined ? status >= 500 : SERVER_FAULT_GRPC.has(grpc);
}

/**
 * How many of a balancer's endpoints take requests (`ready`) and how many are held back
 * (`pending`: out after consecutive failures, or their first connection still being opened),
 * as Linkerd's `outbound_http_balancer_endpoints` counts them.
 */
export interface EndpointStates {
  ready: number;
  pending: number;
}

/** A balancer: the Service, and its endpoints' states as of its latest request. */
export type Balancer = Service & { endpointStates(): EndpointStates };

/** A Service that sends each request to one endpoint of `endpoints`, via `connect(endpoint)`. */
export function createBalancer(
  endpoints: Watched<EndpointSet>,
  connect: (endpoint: Endpoint) => Service,
  options: BalancerOptions,
): Balancer {
  const now = options.now ?? (() => performance.now());
  const random = options.random ?? Math.random;
  const breaker = options.failureAccrual ?? (() => undefined);
  const slowStartMs = options.slowStartMs ?? DEFAULT_SLOW_START_MS;
  let seen: EndpointSet | undefined;
  let slots: Slot[] = [];
  /** The protocol of the latest request: what a joining endpoint is preconnected for. */
  let protocol: WireProtocol | undefined;

  // Reconciled when the Watched holds a new set (read per request, so an evicted balancer leaves
  // no subscription behind): kept endpoints keep their latency and failure history.
  function current(): Slot[] {
    const set = endpoints.get();
    if (set === seen) return slots;
    seen = set;
    const before = new Map(slots.map((s) => [key(s.endpoint), s]));
    slots = (set?.kind === 'endpoints' ? set.endpoints : []).map((endpoint) => {
      const old = before.get(key(endpoint));
      if (old) {
        old.endpoint = endpoint;
        return old;
      }
      const slot = new Slot(
        endpoint,
        connect(endpoint),
        new PeakEwma(now, options.decayMs ?? DEFAULT_DECAY_MS, options.initialRttMs ?? DEFAULT_INITIAL_RTT_MS),
        new FailureAccrual(now, random),
        now() + slowStartMs,
      );
      // An endpoint joining a balancer that already serves (a new pod, a rollout): its handshake
      // is done before it takes requests, so none waits on it. With no request yet there is no
      // protocol to connect for, and nothing waiting.
      if (options.preconnect && protocol !== undefined) {
        slot.warming = true;
        options.preconnect(endpoint, protocol).then(() => (slot.warming = false), () => (slot.warming = false));
      }
      return slot;
    });
    return slots;
  }

  /** Takes requests freely: its first connection is up and it has answered, or it has nothing in flight, or slow start's time is up. */
  function isSettled(s: Slot): boolean {
    if (!s.warming && (s.proven || s.load.pending === 0)) return true;
    return now() >= s.slowStartEnds;
  }

  function cost(s: Slot): number {
    return s.load.cost() / Math.max(s.endpoint.weight || 1, 1e-6);
  }

  function choose(req: MeshRequest, all: Slot[]): Slot | undefined {
    // One endpoint (the common case for a small service): no arrays to filter per request.
    if (all.length === 1) {
      const only = all[0]!;
      return only.accrual.state() === 'ready' ? only : undefined;
    }
    let ready = all.filter((s) => s.accrual.state() === 'ready');
    // Slow start: an endpoint whose first connection is still being opened takes nothing, and one
    // that has not answered yet (a new pod, its code and its own outbound paths cold) takes one
    // request at a time, while settled endpoints can take them; else all are fair game.
    // Tested first without an array: once every endpoint has settled (nearly every request), none is built.
    if (!ready.every(isSettled)) {
      const settled = ready.filter(isSettled);
      if (settled.length > 0) ready = settled;
    }
    // A retry asks to avoid the endpoint that just failed it, if there is any other.
    const avoid = req.ctx.avoidEndpoint;
    if (avoid !== undefined) {
      const others = ready.filter((s) => s.endpoint.address !== avoid);
      if (others.length > 0) ready = others;
    }
    if (ready.length <= 1) return ready[0];
    const a = Math.floor(random() * ready.length);
    let b = Math.floor(random() * (ready.length - 1));
    if (b >= a) b++;
    return cost(ready[a]!) <= cost(ready[b]!) ? ready[a] : ready[b];
  }

  // Read at scrape time from the endpoints as last reconciled: counting never connects anything.
  function endpointStates(): EndpointStates {
    let pending = 0;
    for (const s of slots) if (s.warming || s.accrual.state() !== 'ready') pending++;
    return { ready: slots.length - pending, pending };
  }

  // Not an async function: every request passes here, and `then` on the endpoint's promise
  // saves the promise and microtask hops an async wrapper with `await` adds.
  const service = (req: MeshRequest): Promise<MeshResponse> => {
    const all = current();
    protocol = req.protocol; // after current(): the first request's set is not preconnected, it is being used
    if (all.length === 0) {
      return Promise.reject(new ProxyError('NO_ENDPOINTS', `service ${options.authority} has no endpoints`));
    }
    const slot = choose(req, all);
    if (!slot || !slot.accrual.admit()) {
      return Promise.reject(new ProxyError('UNAVAILABLE', `service ${options.authority}: all ${all.length} endpoints are out after consecutive failures`));
    }
    req.ctx.endpoint = slot.endpoint.address;
    req.ctx.journey?.add('balancer', `endpoint ${slot.endpoint.address} of ${all.length}, latency estimate (peak-EWMA) ${slot.load.estimate().toFixed(2)} ms, ${slot.load.pending} in flight`);
    const started = now();
    slot.load.pending++;
    let sent: Promise<MeshResponse>;
    try {
      sent = slot.service(req);
    } catch (err) {
      sent = Promise.reject(err); // a synchronous throw below is the same failure as a rejection
    }
    return sent.then(
      (res) => answered(slot, started, res),
      (err: unknown) => failed(req, slot, err),
    );
  };
  return Object.assign(service, { endpointStates });

  function answered(slot: Slot, started: number, res: MeshResponse): MeshResponse {
    slot.load.observe(now() - started);
    slot.proven = true;
    // An answer proves the endpoint reachable; whether a failed one counts is the Service's choice.
    const policy = breaker();
    if (policy === undefined) slot.accrual.success();
    else {
      const grpc = headerValue(res.headers, 'grpc-status');
      accrue(slot, !isEndpointFailure(res.status, grpc === undefined ? undefined : Number(grpc)), policy);
    }
    // A streamed body holds its request in flight until it closes (ended or destroyed).
    if (res.body instanceof Readable) onBodyClose(res.body, slot);
    else slot.load.pending--;
    return res;
  }

  function failed(req: MeshRequest, slot: Slot, err: unknown): never {
    slot.load.pending--;
    const e = asProxyError(err);
    // A cancel by the client or a timeout above says nothing about the endpoint's health.
    if (req.signal.aborted) slot.accrual.abandon();
    else accrue(slot, false, breaker() ?? DEFAULT_FAILURE_ACCRUAL);
    // No latency sample: a fast error must not make a broken endpoint look cheap.
    throw e.withContext(`endpoint ${slot.endpoint.address}`);
  }

  function accrue(slot: Slot, ok: boolean, policy: FailureAccrualPolicy): void {
    if (ok) return slot.accrual.success();
    if (slot.accrual.failure(policy)) {
      options.logger?.warn(
        { authority: options.authority, endpoint: slot.endpoint.address },
        `endpoint ${slot.endpoint.address} of ${options.authority} taken out of balancing after consecutive failures; will probe it back`,
      );
    }
  }
}

function key(e: Endpoint): string {
  // A changed identity or proxy port needs a new connection, so it is a new endpoint.
  return `${e.address}|${e.identity ?? ''}|${e.inboundPort ?? ''}`;
}

