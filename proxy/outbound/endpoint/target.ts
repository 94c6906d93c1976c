// Where a connection to one endpoint really goes: the endpoint itself (plaintext), or the proxy
// beside it (its inbound port, mTLS when this proxy has an identity and the endpoint advertises one).
import type { Endpoint } from '../../../api/destination-types.ts';
import { ProxyError } from '../../errors.ts';
import type { TlsCredentials } from '../../identity/credentials.ts';
import type { DialTls } from '../../transport/dial.ts';
import { sourceAddressFor } from '../../transport/source-address.ts';
import { joinHostPort } from '../../../api/host-port.ts';

export interface EndpointTarget {
  /** Cache key: one set of connections per distinct (address, inbound port, identity). */
  readonly key: string;
  /** The workload's own `ip:port`, as discovery named it. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** The endpoint's own port, sent as `l5d-dst-port` (or in the opaque header) when a proxy is in between. */
  readonly dstPort?: number;
  /** The identity to verify; absent: plaintext. */
  readonly identity?: string;
  /** How errors name it: `endpoint 127.0.10.2:8080 via 127.0.10.2:4143`. */
  readonly label: string;
  readonly credentials?: TlsCredentials;
  /** The local address to dial from (this proxy's pod IP), when it can reach `host`. */
  readonly localAddress?: string;
}

export function endpointKey(ep: Endpoint): string {
  return `${ep.address}|${ep.inboundPort ?? ''}|${ep.identity ?? ''}`;
}

/** `podIp`: this proxy's own address, dialled from so the peer can tell which pod calls. */
export function endpointTarget(ep: Endpoint, credentials: TlsCredentials | undefined, podIp?: string): EndpointTarget {
  const { host, port } = parseAddress(ep.address);
  const key = endpointKey(ep);
  const localAddress = sourceAddressFor(podIp, host);
  if (ep.inboundPort === undefined) {
    return { key, address: ep.address, host, port, label: `endpoint ${ep.address}`, localAddress };
  }
  const via = joinHostPort(host, ep.inboundPort);
  // Without an identity on both sides there is nothing to verify, so the hop stays plaintext
  // (as Linkerd does for endpoints the destination marks as unmeshed or identity-less).
  const identity = credentials && ep.identity ? ep.identity : undefined;
  return {
    key,
    address: ep.address,
    host,
    port: ep.inboundPort,
    dstPort: port,
    identity,
    label: `endpoint ${ep.address} via ${via}`,
    credentials: identity ? credentials : undefined,
    localAddress,
  };
}

export function dialTlsFor(target: EndpointTarget, alpn: string): DialTls | undefined {
  if (!target.identity || !target.credentials) return undefined;
  return { credentials: target.credentials, alpn, identity: target.identity };
}

/** `ip:port` or `[v6]:port` -> parts; anything else is a bad endpoint from discovery. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) {
    throw new ProxyError('CONNECT_FAILED', `endpoint ${address}: not an ip:port address`);
  }
  return { host: (m[1] ?? m[2])!, port };
}
