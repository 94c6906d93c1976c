// grpc-js stubs for the destination's services over TLS, for the viz (with its current client
// certificate; rebuilt when it rotates, so new streams present the new one) and the CLI. The proxy
// has its own client (proxy/grpc/), which loads no grpc-js.
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate, SecureContextOptions } from 'node:tls';
import { serverIdentityCheck } from './spiffe.ts';
import { destinationProto } from './destination-proto.ts';

export interface DestinationStubs {
  destination: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  inbound: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  registration: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  /** Pods.WatchPods and Resources.WatchResources: what the viz watches. */
  pods: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  resources: grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  close(): void;
}

export interface ChannelSecurity {
  trustAnchorsPem: string;
  /** The client certificate; absent for read-only callers such as the CLI. */
  client?: { current(): Pick<SecureContextOptions, 'key' | 'cert'> };
  /** The SPIFFE id the destination's certificate must carry; absent: any certificate from the trust anchors. */
  serverIdentity?: string;
}

const asBuffer = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(Array.isArray(v) ? v.join('') : String(v)));

export function destinationStubs(addr: string, security: ChannelSecurity): DestinationStubs {
  const proto = destinationProto();
  // The destination is addressed by IP, so the usual hostname check says nothing; what matters is
  // the chain to the trust anchors (checked by TLS) and, when configured, the SPIFFE id.
  const check = serverIdentityCheck('destination', security.serverIdentity);
  const checkServerIdentity = (_host: string, cert: PeerCertificate): Error | undefined => check(cert);
  const anchors = Buffer.from(security.trustAnchorsPem);
  const material = security.client?.current();
  const creds = material
    ? grpc.credentials.createSsl(anchors, asBuffer(material.key), asBuffer(material.cert), { checkServerIdentity })
    : grpc.credentials.createSsl(anchors, null, null, { checkServerIdentity });
  // A private subchannel pool: proxies in one process (tests) must not share connections made
  // with each other's certificates.
  const options: grpc.ChannelOptions = {
    'grpc.use_local_subchannel_pool': 1,
    // SNI must be a name, not the IP we dial; the certificate check above does the real work.
    'grpc.ssl_target_name_override': 'destination.linkerd.svc.cluster.local',
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.initial_reconnect_backoff_ms': 200,
    'grpc.max_reconnect_backoff_ms': 2_000,
  };
  const destination = new proto.Destination(addr, creds, options) as DestinationStubs['destination'];
  const channelOverride = destination.getChannel();
  const shared = { ...options, channelOverride } as grpc.ChannelOptions;
  const inbound = new proto.InboundPolicies(addr, creds, shared) as DestinationStubs['inbound'];
  const registration = new proto.Registration(addr, creds, shared) as DestinationStubs['registration'];
  const pods = new proto.Pods(addr, creds, shared) as DestinationStubs['pods'];
  const resources = new proto.Resources(addr, creds, shared) as DestinationStubs['resources'];
  return { destination, inbound, registration, pods, resources, close: () => destination.close() };
}
