// The proxy's Resolver backed by the destination service: one shared gRPC watch per authority
// (endpoints, profile) and per inbound port (policy), stopped when idle; registers this proxy's
// pod; keeps the last state while the destination is away and reconnects with jittered backoff.
import pino, { type Logger } from 'pino';
import { CONTROL_PLANE_NAMESPACE, parseSpiffeId, serverIdentityCheck, spiffeId } from '../../api/spiffe.ts';
import { type TlsCredentials } from '../identity/credentials.ts';
import { CountedWatched } from './counted-watched.ts';
import type {
  EndpointUpdateMessage, GetDestinationMessage, InboundPolicyMessage, PodAnnouncementMessage, PortSpecMessage, ProfileUpdateMessage, RegistrationEventMessage,
} from '../../api/destination-messages.ts';
import { grpcMethod, type GrpcMethod } from '../../api/proto-codec.ts';
import { GrpcChannel } from '../grpc/channel.ts';
import type { ClientCall } from '../grpc/call.ts';
import { endpointFromWire, policyFromWire, profileFromWire } from '../../api/destination-wire.ts';
import { ResilientStream, type Backoff, type ReopenableCall } from './resilient-stream.ts';
import type { DefaultPolicy, Endpoint, EndpointSet, InboundPolicy, PodInfo, Profile } from '../../api/destination-types.ts';
import type { Resolver } from './resolver.ts';
import { Watched } from './watched.ts';

export interface DestinationClientOptions {
  /** The destination's `host:port` (DESIGN.md: 127.0.0.1:8086). */
  addr: string;
  credentials: TlsCredentials;
  /** This proxy's pod: registered over the Registration stream, and the subject of inbound policy. */
  pod?: PodInfo;
  /** Namespace short names resolve against; defaults to the pod's. */
  namespace?: string;
  /** The pod's Ready condition (the kubelet's); announced, and announced again when it changes. Unset: Ready. */
  podReady?: { readonly ready: boolean; onChange(listener: (ready: boolean) => void): () => void };
  /** This proxy's inbound port, announced with the pod (default 4143). */
  inboundPort?: number;
  /** The default inbound policy this proxy runs with (sent with every policy watch). */
  defaultPolicy?: DefaultPolicy;
  /**
   * The SPIFFE id the destination must present (default `spiffe://<our trust domain>/ns/mesh-system/sa/destination`,
   * what `mesh destination serve` serves as). `null`: any certificate from the trust anchors.
   */
  serverIdentity?: string | null;
  /** A watch nobody subscribes to and nobody asked for in this long is stopped (default 60 s). */
  idleTimeoutMs?: number;
  backoff?: Backoff;
  logger?: Logger;
}

interface Entry<T> {
  cell: CountedWatched<T>;
  stream?: ResilientStream<unknown>;
  lastUsedMs: number;
}

export interface RegistrationState {
  accepted: boolean;
  message: string;
}

interface DestinationMethods {
  getEndpoints: GrpcMethod<GetDestinationMessage, EndpointUpdateMessage>;
  getProfile: GrpcMethod<GetDestinationMessage, ProfileUpdateMessage>;
  watchPort: GrpcMethod<PortSpecMessage, InboundPolicyMessage>;
  register: GrpcMethod<PodAnnouncementMessage, RegistrationEventMessage>;
}
let methods: DestinationMethods | undefined;

/** The destination's methods this client calls, from api/destination.proto (parsed once per process, on first use). */
function destinationMethods(): DestinationMethods {
  const method = <Req, Res>(service: string, name: string) => grpcMethod<Req, Res>('destination', `mesh.destination.v1.${service}`, name);
  return (methods ??= {
    getEndpoints: method('Destination', 'GetEndpoints'),
    getProfile: method('Destination', 'GetProfile'),
    watchPort: method('InboundPolicies', 'WatchPort'),
    register: method('Registration', 'Register'),
  });
}

const defaultServerIdentity = (own: string) => spiffeId(parseSpiffeId(own)?.trustDomain ?? 'cluster.local', CONTROL_PLANE_NAMESPACE, 'destination');

export class DestinationClient implements Resolver {
  /** The latest answer to this proxy's registration (absent until the destination replies). */
  readonly registration = new Watched<RegistrationState>();
  private grpc?: GrpcChannel;
  private readonly entries = new Map<string, Entry<unknown>>();
  private registrationStream?: ResilientStream<RegistrationEventMessage>;
  /** A new registration stream for this proxy's pod (set when it registers one); `onAccepted` runs on each acceptance. */
  private registrationOf?: (onAccepted?: () => void) => ResilientStream<RegistrationEventMessage>;
  /** Registrations on channels left behind by a rotation, stopped once the newest one is accepted. */
  private readonly retiringRegistrations: Array<ResilientStream<RegistrationEventMessage>> = [];
  private registrationCall?: ClientCall<PodAnnouncementMessage, RegistrationEventMessage>;
  private unsubscribeReady?: () => void;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly unsubscribeRotate: () => void;
  private readonly logger: Logger;
  private readonly backoff: Backoff;
  private readonly namespace: string;
  private closed = false;
  /** Whether any watch has had an answer: the destination has been reachable, so a lost stream is an outage. */
  private answered = false;

  constructor(private readonly options: DestinationClientOptions) {
    this.logger = (options.logger ?? pino({ level: 'warn' })).child({ component: 'destination-client', destination: options.addr });
    this.backoff = options.backoff ?? { minMs: 100, maxMs: 5_000 };
    this.namespace = options.namespace ?? options.pod?.namespace ?? 'default';
    const idle = options.idleTimeoutMs ?? 60_000;
    this.sweepTimer = setInterval(() => this.sweep(idle), Math.max(50, Math.floor(idle / 2)));
    this.sweepTimer.unref();
    // New certificate: a new channel, and every open stream moves to it. Left where they were,
    // the streams would keep presenting the old certificate, and hold the old connection open, for
    // as long as they live (a watch lives as long as its target is used): one more connection to
    // the destination per rotation. Watches reopen at once and keep their state meanwhile; the
    // registration moves only once the destination has accepted it on the new connection. (The
    // first certificate comes this way too: nothing is open yet then, so nothing moves.)
    this.unsubscribeRotate = options.credentials.onRotate(() => {
      this.grpc?.close();
      this.grpc = undefined;
      for (const entry of this.entries.values()) if (entry.stream?.open) entry.stream.restart();
      this.moveRegistration();
    });
    if (options.pod) this.startRegistration(options.pod);
  }

  endpoints(authority: string): Watched<EndpointSet> {
    return this.watch(`endpoints|${authority}`, () => {
      const request = { authority, contextNamespace: this.namespace };
      let known = new Map<string, Endpoint>();
      return {
        what: `endpoints ${authority}`,
        open: () => this.channel().serverStream(destinationMethods().getEndpoints, request),
        onOpen: () => {
          known = new Map(); // the first message on a new stream is the whole current state
        },
        apply: (m: EndpointUpdateMessage): EndpointSet => {
          if (m.update === 'add') for (const w of m.add?.endpoints ?? []) known.set(String(w.address), endpointFromWire(w));
          else if (m.update === 'remove') for (const a of m.remove?.addresses ?? []) known.delete(a);
          else if (m.update === 'noEndpoints') {
            known.clear();
            if (!m.noEndpoints?.exists) return { kind: 'unknown' };
          }
          return { kind: 'endpoints', endpoints: [...known.values()] };
        },
      };
    });
  }

  profile(authority: string): Watched<Profile> {
    return this.watch(`profile|${authority}`, () => ({
      what: `profile ${authority}`,
      open: () => this.channel().serverStream(destinationMethods().getProfile, { authority, contextNamespace: this.namespace }),
      apply: (m: ProfileUpdateMessage) => profileFromWire(m),
    }));
  }

  inboundPolicy(port: number): Watched<InboundPolicy> {
    const pod = this.options.pod;
    const defaultPolicy = this.options.defaultPolicy ?? 'all-unauthenticated';
    if (!pod) {
      // Without a registered pod no Server can select us: the default applies.
      return new Watched<InboundPolicy>({ port, authorizations: [], defaultPolicy, clusterNetworks: [] });
    }
    return this.watch(`policy|${port}`, () => ({
      what: `inbound policy ${pod.namespace}/${pod.name}:${port}`,
      open: () => this.channel().serverStream(destinationMethods().watchPort, { workload: `${pod.namespace}/${pod.name}`, port, defaultPolicy }),
      apply: (m: InboundPolicyMessage) => policyFromWire(m),
    }));
  }

  /** Live watches (for tests and the admin page). */
  get watchCount(): number {
    return this.entries.size;
  }

  /**
   * Leaves the endpoints now (graceful shutdown), keeping every watch: the registration stream
   * is ended and not reopened, so the destination removes the pod and tells its callers.
   */
  deregister(): void {
    this.unsubscribeReady?.();
    for (const retired of this.retiringRegistrations.splice(0)) retired.stop();
    this.registrationStream?.stop();
    this.registrationStream = undefined;
    this.registrationCall = undefined;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    this.unsubscribeRotate();
    this.deregister();
    for (const entry of this.entries.values()) entry.stream?.stop();
    this.entries.clear();
    this.grpc?.close();
  }

  /** The channel for new calls, made with the current certificate (and made again after a rotation). */
  private channel(): GrpcChannel {
    if (this.closed) throw new Error('destination client closed');
    if (this.grpc) return this.grpc;
    const { addr, credentials } = this.options;
    const expected = this.options.serverIdentity === null ? undefined : (this.options.serverIdentity ?? defaultServerIdentity(credentials.identity));
    this.grpc = new GrpcChannel({
      addr,
      trustAnchorsPem: credentials.trustAnchorsPem,
      clientCertificate: credentials.current(),
      // SNI must be a name, not the IP we dial; the certificate check below does the real work.
      servername: 'destination.linkerd.svc.cluster.local',
      // The destination is addressed by IP, so the usual hostname check says nothing; what matters is
      // the chain to the trust anchors (checked by TLS) and, when configured, the SPIFFE id.
      checkServerIdentity: serverIdentityCheck('destination', expected),
    });
    return this.grpc;
  }

  private watch<T, M>(
    key: string,
    describe: () => { what: string; open: () => ReopenableCall<M>; onOpen?: () => void; apply: (m: M) => T },
  ): Watched<T> {
    const existing = this.entries.get(key) as Entry<T> | undefined;
    if (existing) {
      existing.lastUsedMs = Date.now();
      return existing.cell;
    }
    const entry: Entry<T> = { cell: new CountedWatched<T>(), lastUsedMs: Date.now() };
    this.entries.set(key, entry as Entry<unknown>);
    if (this.closed) return entry.cell;
    const d = describe();
    entry.stream = new ResilientStream<M>(d.what, {
      open: d.open,
      onOpen: d.onOpen,
      onMessage: (m) => {
        this.answered = true;
        entry.cell.set(d.apply(m));
      },
      // A watch that has never had an answer (an authority first asked for while the destination
      // is down) has no last state to keep: requests waiting for it are told at once, and fail
      // with a 503 saying so, rather than each hanging for the discovery timeout. A cell with a
      // value keeps it: callers go on with the last state. Only once the destination has answered
      // this proxy at all: before that (the proxy starting beside a destination that is still
      // starting), a request waits for it as long as the discovery timeout allows.
      onLost: (why) => {
        if (this.answered) entry.cell.fail(new Error(`the destination ${this.options.addr} did not answer (${why})`));
      },
    }, this.backoff, this.logger);
    void this.options.credentials.whenReady().then(() => entry.stream?.start());
    return entry.cell;
  }

  private sweep(idleMs: number): void {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (entry.cell.subscriberCount > 0 || now - entry.lastUsedMs < idleMs) continue;
      entry.stream?.stop();
      this.entries.delete(key);
      this.logger.debug({ watch: key }, 'idle discovery watch stopped');
    }
  }

  private startRegistration(pod: PodInfo): void {
    const announcement: PodAnnouncementMessage = {
      name: pod.name,
      namespace: pod.namespace,
      labels: pod.labels,
      deployment: pod.deployment ?? '',
      ip: pod.ip,
      otherIps: pod.otherIps ?? [],
      ports: pod.ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? '' })),
      inboundPort: this.options.inboundPort ?? 4143,
      serviceAccount: parseSpiffeId(this.options.credentials.identity)?.serviceAccount ?? '',
      notReady: this.options.podReady ? !this.options.podReady.ready : false,
    };
    // A change of Ready goes out on the open stream at once: the destination replaces the pod in
    // place and tells every watcher of its Services (a closed stream re-announces when it reopens).
    this.unsubscribeReady = this.options.podReady?.onChange((ready) => {
      announcement.notReady = !ready;
      this.registrationCall?.write(announcement);
    });
    this.registrationOf = (onAccepted) => {
      const stream = new ResilientStream<RegistrationEventMessage>(
        `registration ${pod.namespace}/${pod.name}`,
        {
          open: () => {
            const call = this.channel().bidiStream(destinationMethods().register);
            // Ready changes go to the current registration's call only, never to a retiring one's.
            if (this.registrationStream === stream) this.registrationCall = call;
            call.write(announcement);
            return call;
          },
          onMessage: (m) => {
            if (!m.accepted) this.logger.error({ pod: `${pod.namespace}/${pod.name}`, reason: m.message }, 'destination refused registration');
            else onAccepted?.();
            this.registration.set({ accepted: !!m.accepted, message: String(m.message ?? '') });
          },
        },
        this.backoff,
        this.logger,
      );
      return stream;
    };
    this.registrationStream = this.registrationOf();
    void this.options.credentials.whenReady().then(() => this.registrationStream?.start());
  }

  /**
   * The registration on the current channel, made before the old one is broken. The pod lives at
   * the destination as long as its registration stream does, so cancelling the old stream first
   * would take the pod out of its Services' endpoints until the new one arrived: callers would see
   * it leave and come back. The new stream's announcement replaces the pod in place (the
   * destination keeps the newest registration of a pod), and only then is the old one cancelled,
   * which the destination then ignores.
   */
  private moveRegistration(): void {
    const old = this.registrationStream;
    // One not open yet, or waiting out a backoff, opens on the new channel anyway.
    if (old === undefined || !old.open || this.registrationOf === undefined) return;
    // The old stream keeps its call until the new one is accepted, but never reopens: reopened
    // after the new one's announcement, it would be the destination's newest registration of the
    // pod, and stopping it then would take the pod out of its endpoints.
    old.retire();
    this.retiringRegistrations.push(old);
    const moved = this.registrationOf(() => {
      if (this.registrationStream !== moved) return;
      for (const retired of this.retiringRegistrations.splice(0)) retired.stop();
    });
    this.registrationStream = moved;
    moved.start();
  }
}
