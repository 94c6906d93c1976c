// The tap layer: with no tap open it is one field check and the request passes on untouched.
// With taps open, it matches each request, reports the ones a tap selects (request, response
// head, end), and gives those a journey for the layers below to note their decisions in.
import { Readable } from 'node:stream';
import { joinHostPort } from '../../api/host-port.ts';
import { encodeEventBody, encodeRequestFields, type TapEventBody } from '../../api/tap-encode.ts';
import type { TapEventOut, TapPeer } from '../../api/tap-proto.ts';
import { asProxyError } from '../errors.ts';
import { headerValue, type Layer, type MeshRequest, type MeshResponse, type Service } from '../http/message.ts';
import { namespaceOfAuthority, namespaceOfIdentity, outboundDestination, tapHeaders, toPeer, type SelfFacts } from './events.ts';
import { countBody } from './counted-body.ts';
import type { Tap, TapHub } from './hub.ts';
import { Journey } from './journey.ts';
import type { PeerFacts, RequestFacts } from './match.ts';

export interface TapLayerOptions {
  hub: TapHub;
  direction: 'inbound' | 'outbound';
  self: SelfFacts;
}

export function tapLayer(opts: TapLayerOptions): Layer {
  const { hub } = opts;
  const names = new NameMemo();
  // The whole cost when nobody taps: one property read and a length check.
  return (inner) => (req) => (hub.taps.length === 0 ? inner(req) : observe(opts, req, inner, names));
}

function observe(opts: TapLayerOptions, req: MeshRequest, inner: Service, names: NameMemo): Promise<MeshResponse> {
  const facts = factsOf(opts, req, names);
  // Admission before anything is built: under load most matching requests are over the tap's
  // rate and are only counted, so they must cost no more than the match and the count.
  let admitted: Tap[] | undefined;
  let undecided: Tap[] | undefined;
  for (const tap of opts.hub.taps) {
    const verdict = tap.matcher(facts);
    if (verdict === true) {
      if (tap.admit()) (admitted ??= []).push(tap);
    } else if (verdict === undefined) (undecided ??= []).push(tap);
  }
  if (!admitted && !undecided) return inner(req);
  return new TappedRequest(opts, req, facts, admitted ?? [], undecided ?? []).run(inner);
}

function factsOf(opts: TapLayerOptions, req: MeshRequest, names: NameMemo): RequestFacts {
  const { ctx } = req;
  const self = opts.self;
  if (opts.direction === 'inbound') {
    // Decided once by the inbound stack's appPortLayer, which runs before this layer.
    const port = ctx.targetPort;
    return {
      direction: 'inbound',
      method: req.method,
      authority: req.authority,
      path: req.path,
      source: { address: ctx.peer, identity: ctx.clientIdentity, namespace: names.ofIdentity(ctx.clientIdentity) },
      destination: { address: port === undefined ? self.podIp : joinHostPort(self.podIp, port), identity: self.identity, pod: self.pod, deployment: self.deployment, namespace: self.namespace },
      destinationKnown: true,
    };
  }
  return {
    direction: 'outbound',
    method: req.method,
    authority: req.authority,
    path: req.path,
    source: { address: ctx.peer, identity: self.identity, pod: self.pod, deployment: self.deployment, namespace: self.namespace },
    destination: { service: req.authority, namespace: names.ofAuthority(req.authority) },
    destinationKnown: false,
  };
}

/** The namespace of the last identity and authority seen: consecutive requests mostly repeat them. */
class NameMemo {
  private identity: string | undefined;
  private identityNs: string | undefined;
  private authority = '';
  private authorityNs: string | undefined;

  ofIdentity(identity: string | undefined): string | undefined {
    if (identity !== this.identity) {
      this.identity = identity;
      this.identityNs = namespaceOfIdentity(identity);
    }
    return this.identityNs;
  }

  ofAuthority(authority: string): string | undefined {
    if (authority !== this.authority) {
      this.authority = authority;
      this.authorityNs = namespaceOfAuthority(authority);
    }
    return this.authorityNs;
  }
}

/** One request that at least one tap may report. */
class TappedRequest {
  /** Taps that cannot tell yet (a filter on the outbound endpoint, not chosen yet). */
  private undecided: Tap[];
  /** Taps reporting this request, admitted: each is sent its request_init once the layers below have started. */
  private readonly reporting: Tap[];
  private tls: boolean;
  private readonly journey: Journey | undefined;
  private respondedAt = 0;
  /** The ends as events name them, built once and shared by the request's events (outbound: again when the endpoint moves). */
  private readonly source: Partial<TapPeer>;
  private destination: Partial<TapPeer>;
  private destinationFrom: PeerFacts | undefined;
  /** The fields the request's events share, encoded once (again only if the endpoint, tls or route changed), and the route and tls they were encoded with. */
  private fields: Buffer | undefined;
  private fieldsRoute = '';
  private fieldsTls = false;

  constructor(
    private readonly opts: TapLayerOptions,
    private readonly req: MeshRequest,
    private readonly facts: RequestFacts,
    admitted: Tap[],
    undecided: Tap[],
  ) {
    this.reporting = admitted;
    this.undecided = undecided;
    this.tls = req.ctx.tls;
    this.source = toPeer(facts.source);
    this.destination = toPeer(facts.destination);
    this.destinationFrom = facts.destination;
    if (admitted.some((t) => t.journey) || undecided.some((t) => t.journey)) {
      this.journey = new Journey(req.ctx.startedAt);
      req.ctx.journey = this.journey;
      if (opts.direction === 'inbound') this.journey.add('identity', identityNote(req));
    }
  }

  run(inner: Service): Promise<MeshResponse> {
    let pending: Promise<MeshResponse>;
    try {
      pending = inner(this.req);
    } catch (err) {
      pending = Promise.reject(err);
    }
    // The layers below run synchronously up to their first wait: on most requests the endpoint
    // (and so the outbound destination) is chosen by now.
    this.readDestination();
    this.sendEach(this.reporting, (tap) => ({ requestInit: this.requestInit(tap) }), headerChoice);
    this.decide(false);
    return pending.then(
      (res) => this.responded(res),
      (err: unknown) => {
        this.failed(err);
        throw err;
      },
    );
  }

  /** Reports the request to each tap whose filter now says yes (and whose bounds allow). */
  private decide(final: boolean): void {
    if (this.undecided.length === 0) return;
    this.readDestination();
    const still: Tap[] = [];
    for (const tap of this.undecided) {
      const verdict = tap.matcher(this.facts);
      if (verdict === undefined && !final) still.push(tap);
      else if (verdict === true && tap.admit()) {
        this.reporting.push(tap);
        this.sendEach([tap], () => ({ requestInit: this.requestInit(tap) }), headerChoice);
      }
    }
    this.undecided = still;
    // Nobody will report it: stop recording its journey.
    if (still.length === 0 && this.reporting.length === 0 && this.journey) this.req.ctx.journey = undefined;
  }

  /** Outbound: the endpoint the layers below chose (a retry may have moved it), and whether mTLS. */
  private readDestination(): void {
    if (this.opts.direction !== 'outbound') return;
    const d = outboundDestination(this.req.ctx, this.req.authority);
    // The same endpoint as at the last read (most events): keep the object, so the peer and the shared fields are not built again.
    if (!samePeer(d.peer, this.facts.destination)) this.facts.destination = d.peer;
    this.facts.destinationKnown = d.known;
    this.tls = d.tls;
  }

  private responded(res: MeshResponse): MeshResponse {
    this.decide(true);
    if (this.reporting.length === 0) return res;
    this.readDestination();
    this.respondedAt = performance.now();
    const { ctx } = this.req;
    if (this.opts.direction === 'inbound') this.journey?.add('app', `HTTP ${res.status} from the app after ${ms(this.respondedAt - ctx.startedAt)}`);
    const sinceRequestInitUs = us(this.respondedAt - ctx.startedAt);
    this.sendEach(this.reporting, (tap) => ({ responseInit: { sinceRequestInitUs, httpStatus: res.status, headers: tapHeaders(res.headers, tap.headers) } }), headerChoice);
    const headerGrpc = grpcStatusOf(headerValue(res.headers, 'grpc-status'));
    if (!(res.body instanceof Readable)) {
      this.afterBody(res, headerGrpc, res.body?.length ?? 0); // none, or all of it at hand
      return res;
    }
    // Counting the bytes needs a stream in between; only reported requests pay for it.
    const counted = countBody(res.body, ({ stream, bytes }) => {
      if (stream.readableEnded && !stream.errored) return this.afterBody(res, headerGrpc, bytes);
      const cancelled = this.req.signal.aborted || !stream.errored;
      const e = asProxyError(stream.errored);
      this.end(bytes, this.req.ctx.grpc ? (cancelled ? 1 : 2) : undefined, cancelled ? 'CANCELLED' : e.code, cancelled ? 'the response ended early: the client went away or reset the stream' : e.message);
    });
    return { ...res, body: counted.stream };
  }

  private afterBody(res: MeshResponse, headerGrpc: number | undefined, bytes: number): void {
    if (headerGrpc !== undefined || !res.trailers) return this.end(bytes, headerGrpc, '', '');
    res.trailers.then(
      (trailers) => this.end(bytes, trailers ? grpcStatusOf(headerValue(trailers, 'grpc-status')) : undefined, '', ''),
      (err: unknown) => {
        const e = asProxyError(err);
        this.end(bytes, this.req.ctx.grpc ? 2 : undefined, e.code, e.message);
      },
    );
  }

  /** The proxy answered with an error of its own (the edge turns it into a status). */
  private failed(err: unknown): void {
    this.decide(true);
    if (this.reporting.length === 0) return;
    this.readDestination();
    const e = asProxyError(err);
    const cancelled = this.req.signal.aborted;
    this.respondedAt = performance.now();
    const since = us(this.respondedAt - this.req.ctx.startedAt);
    this.journey?.add('error', `${cancelled ? 'CANCELLED' : e.code}: ${e.message}`);
    const status = this.req.ctx.grpc ? 200 : e.httpStatus;
    this.sendEach(this.reporting, () => ({ responseInit: { sinceRequestInitUs: since, httpStatus: status, headers: [] } }), () => true);
    this.end(0, this.req.ctx.grpc ? (cancelled ? 1 : e.grpcStatus) : undefined, cancelled ? 'CANCELLED' : e.code, e.message);
  }

  private end(bytes: number, grpcStatus: number | undefined, error: string, message: string): void {
    const now = performance.now();
    const { ctx } = this.req;
    if (ctx.journey === this.journey) ctx.journey = undefined;
    const sinceRequestInitUs = us(now - ctx.startedAt);
    const sinceResponseInitUs = us(now - this.respondedAt);
    const journey = this.journey;
    this.sendEach(
      this.reporting,
      (tap) => ({
        responseEnd: {
          sinceRequestInitUs,
          sinceResponseInitUs,
          responseBytes: bytes,
          ...(grpcStatus === undefined ? {} : { grpcStatus: { code: grpcStatus } }),
          error,
          errorMessage: message,
          journey: tap.journey && journey ? journey.entries : [],
          journeyDropped: tap.journey && journey ? journey.dropped : 0,
        },
      }),
      (tap) => tap.journey,
    );
    for (const tap of this.reporting) tap.ended();
  }

  private requestInit(tap: Tap): NonNullable<TapEventOut['requestInit']> {
    const { req } = this;
    return { method: req.method, scheme: req.scheme, authority: req.authority, path: req.path, protocol: req.protocol, headers: tapHeaders(req.headers, tap.headers) };
  }

  /**
   * Sends one event to each of `taps`: the request's shared fields, encoded once, and the
   * event's own part, encoded once for each run of taps that `sameFor` says get the same (the
   * headers they chose, whether they asked for journeys).
   */
  private sendEach(taps: readonly Tap[], bodyFor: (tap: Tap) => TapEventBody, sameFor: (tap: Tap) => unknown): void {
    const fields = this.sharedFields();
    let body: Buffer | undefined;
    let bodyKey: unknown;
    for (const tap of taps) {
      const key = sameFor(tap);
      if (body === undefined || key !== bodyKey) {
        body = encodeEventBody(bodyFor(tap));
        bodyKey = key;
      }
      tap.send(fields, body);
    }
  }

  private sharedFields(): Buffer {
    const route = this.req.ctx.route ?? '';
    const moved = this.facts.destination !== this.destinationFrom;
    if (this.fields && !moved && route === this.fieldsRoute && this.tls === this.fieldsTls) return this.fields;
    if (moved) {
      this.destinationFrom = this.facts.destination;
      this.destination = toPeer(this.facts.destination);
    }
    this.fieldsRoute = route;
    this.fieldsTls = this.tls;
    this.fields = encodeRequestFields({
      proxyDirection: this.opts.direction === 'inbound' ? 'INBOUND' : 'OUTBOUND',
      source: this.source,
      destination: this.destination,
      tls: this.tls,
      requestId: this.req.ctx.id,
      route,
    });
    return this.fields;
  }
}

/** Taps that chose the same headers get the same request_init and response_init. */
function headerChoice(tap: Tap): unknown {
  return tap.headers;
}

function samePeer(a: PeerFacts, b: PeerFacts): boolean {
  return a.address === b.address && a.identity === b.identity && a.pod === b.pod && a.deployment === b.deployment && a.namespace === b.namespace && a.service === b.service;
}

function identityNote(req: MeshRequest): string {
  const { ctx } = req;
  if (ctx.clientIdentity) return `client ${ctx.clientIdentity}, proved by its certificate over mTLS`;
  return ctx.tls ? `TLS from ${ctx.peer} without a client identity` : `no client identity: plaintext from ${ctx.peer}`;
}

function grpcStatusOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n >= 0 && n <= 16 && raw.trim() !== '' ? n : 2;
}

function us(msValue: number): number {
  return Math.max(0, Math.round(msValue * 1000));
}

function ms(msValue: number): string {
  return `${msValue.toFixed(msValue < 10 ? 2 : 0)} ms`;
}
