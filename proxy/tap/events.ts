// Builds the parts of tap events from a request: its peers as far as this proxy knows them,
// and its headers, chosen by the tap, redacted and cut to size. No body is ever read.
import { hostOfAddress } from '../../api/host-port.ts';
import type { TapHeader, TapPeer } from '../../api/tap-proto.ts';
import { parseSpiffeId } from '../../api/spiffe.ts';
import type { HeaderMap, RequestContext } from '../http/message.ts';
import type { PeerFacts } from './match.ts';

/** Credentials in headers never leave the proxy through tap. */
const REDACTED = new Set(['authorization', 'cookie', 'set-cookie', 'proxy-authorization']);
const MAX_VALUE = 1024;
const MAX_HEADERS = 64;

export function tapHeaders(headers: HeaderMap, only: ReadonlySet<string> | undefined): TapHeader[] {
  const out: TapHeader[] = [];
  for (const name in headers) {
    if (only && !only.has(name)) continue;
    const raw = headers[name]!;
    for (const v of Array.isArray(raw) ? raw : [raw]) {
      if (out.length >= MAX_HEADERS) return out;
      const value = REDACTED.has(name) ? '[redacted]' : v.length > MAX_VALUE ? `${v.slice(0, MAX_VALUE)}…` : v;
      out.push({ name, value });
    }
  }
  return out;
}

/** This proxy's own pod, as its config and certificate say. */
export interface SelfFacts {
  podIp: string;
  identity?: string;
  pod?: string;
  deployment?: string;
  namespace?: string;
}

/** The namespace in a SPIFFE id of this mesh's shape (`.../ns/<ns>/sa/<sa>`). */
export function namespaceOfIdentity(identity: string | undefined): string | undefined {
  return identity ? parseSpiffeId(identity)?.namespace : undefined;
}

/** `name.namespace[.svc...]:port` names its namespace; a bare name or an IP does not. */
export function namespaceOfAuthority(authority: string): string | undefined {
  // An IPv4 address is all digits and dots; an IPv6 one (`::ffff:10.0.0.1` has dots too) keeps a ':'.
  const host = hostOfAddress(authority);
  if (/^[\d.]+$/.test(host) || host.includes(':')) return undefined;
  const parts = host.split('.');
  return parts.length >= 2 ? parts[1] : undefined;
}

/**
 * Outbound: the endpoint chosen, as the endpoint tier left it in the context. `dstLabels`
 * (discovery's metric labels of that endpoint) names its pod, deployment and namespace.
 */
export function outboundDestination(ctx: RequestContext, authority: string): { known: boolean; peer: PeerFacts; tls: boolean } {
  const labels = (ctx as { dstLabels?: Readonly<Record<string, string>> }).dstLabels;
  const identity = ctx.labels.server_id || undefined;
  return {
    known: ctx.endpoint !== undefined,
    tls: ctx.labels.tls === 'true',
    peer: {
      address: ctx.endpoint,
      identity,
      pod: labels?.pod,
      deployment: labels?.deployment,
      namespace: labels?.namespace ?? namespaceOfIdentity(identity) ?? namespaceOfAuthority(authority),
      service: authority,
    },
  };
}

export function toPeer(f: PeerFacts): Partial<TapPeer> {
  const p: Partial<TapPeer> = {};
  if (f.address) p.address = f.address;
  if (f.identity) p.identity = f.identity;
  if (f.pod) p.pod = f.pod;
  if (f.deployment) p.deployment = f.deployment;
  if (f.namespace) p.namespace = f.namespace;
  if (f.service) p.service = f.service;
  return p;
}
