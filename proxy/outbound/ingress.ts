// Ingress mode (`mesh proxy --ingress`): which mesh service a request from outside the mesh goes
// to. As Linkerd's ingress mode: `l5d-dst-override` names it, else the Host header. A front door
// users reach by IP or by a public name also needs a default for Hosts that name no mesh service
// (`--ingress-default-dst`), which also keeps it from forwarding to whatever a stranger names.
import { isIP } from 'node:net';
import type { EndpointSet } from '../../api/destination-types.ts';
import { hostOfAddress } from '../../api/host-port.ts';
import type { Resolver } from '../discovery/resolver.ts';
import { ProxyError } from '../errors.ts';
import { headerValue, withoutHeader, type Layer, type MeshRequest } from '../http/message.ts';
import { normalizeAuthority } from './targets.ts';

export interface IngressRoutingOptions {
  resolver: Resolver;
  /** `host:port` for requests whose Host names no mesh service; unset: the Host is used as named. */
  defaultDst?: string;
  /** Longest wait for discovery's first answer about a Host. */
  discoveryTimeoutMs: number;
}

/** The layer that sets `req.authority` to the mesh service the request is for. */
export function ingressRouting(opts: IngressRoutingOptions): Layer {
  const fallback = opts.defaultDst;
  return (inner) => (req) => {
    const override = headerValue(req.headers, 'l5d-dst-override');
    req.headers = withoutHeader(req.headers, 'l5d-dst-override');
    if (override !== undefined && override.trim() !== '') {
      req.authority = override.trim();
      return inner(req);
    }
    if (fallback === undefined) return inner(req);
    // An IP (the front door's own, a load balancer's) or no Host at all names no Service, and
    // needs no discovery round trip: the common case of `curl http://127.0.0.1:8000/...`.
    const host = hostOfAddress(req.authority);
    if (host === '' || isIP(host) !== 0) return inner(withAuthority(req, fallback));
    const cell = opts.resolver.endpoints(normalizeAuthority(req.authority, req.scheme));
    const known = cell.get();
    if (known !== undefined) return inner(known.kind === 'unknown' ? withAuthority(req, fallback) : req);
    return cell.first(opts.discoveryTimeoutMs, `endpoints for ${req.authority}`).then(
      (set: EndpointSet) => inner(set.kind === 'unknown' ? withAuthority(req, fallback) : req),
      (err: Error) => {
        throw new ProxyError('UNAVAILABLE', `discovery: ${err.message}`, { cause: err });
      },
    );
  };
}

function withAuthority(req: MeshRequest, authority: string): MeshRequest {
  req.authority = authority;
  return req;
}
