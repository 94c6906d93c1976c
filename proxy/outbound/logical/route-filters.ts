// A route rule's filters (Gateway API, as Linkerd applies them): request and response header
// modifiers, and RequestRedirect, which the proxy answers itself; a refused rule answers 500.
import type { HeaderModifierFilter, HttpRouteFilter, RedirectFilter } from '../../../api/destination-types.ts';
import { bracketedHost, hostOfAddress, joinHostPort } from '../../../api/host-port.ts';
import { ProxyError } from '../../errors.ts';
import { portOf } from '../../server/request-context.ts';
import { DEFAULT_PORT, normalizeAuthority } from '../targets.ts';
import { withoutHeader, type HeaderMap, type Layer, type MeshRequest, type MeshResponse, type Service } from '../../http/message.ts';

export interface RouteFilterOptions {
  filters: HttpRouteFilter[];
  /** The rule's PathPrefix match values (what ReplacePrefixMatch replaces). */
  pathPrefixes: string[];
  /** `route "<name>"` or `authority <host:port>`, for error messages. */
  label: string;
}

/** The layer for a rule with filters; built once per route, it does no work for a rule without any. */
export function routeFilterLayer(opts: RouteFilterOptions): Layer {
  const request = opts.filters.filter((f): f is HeaderModifierFilter => f.type === 'RequestHeaderModifier');
  const response = opts.filters.filter((f): f is HeaderModifierFilter => f.type === 'ResponseHeaderModifier');
  const redirect = opts.filters.find((f): f is RedirectFilter => f.type === 'RequestRedirect');
  return (inner) => {
    if (redirect) {
      // A redirect answers every request of the rule: nothing goes upstream. Request header
      // modifiers then change nothing anyone sees; response ones apply to the redirect itself.
      return (req) => {
        let res: MeshResponse;
        try {
          res = redirectResponse(req, redirect, opts.pathPrefixes, opts.label);
        } catch (err) {
          return Promise.reject(err);
        }
        req.ctx.journey?.add('filter', `redirect ${res.status} to ${String(res.headers['location'])}`);
        return Promise.resolve(response.length > 0 ? { ...res, headers: modified(res.headers, response) } : res);
      };
    }
    const service: Service = (req) => {
      if (request.length > 0) req.headers = modified(req.headers, request);
      const sent = inner(req);
      return response.length > 0 ? sent.then((res) => ({ ...res, headers: modified(res.headers, response) })) : sent;
    };
    return service;
  };
}

/** A rule that cannot be served as written (an unsupported filter): every request it matches gets 500, never the unfiltered route. */
export function refusedRule(label: string, failure: string): Service {
  return () => Promise.reject(new ProxyError('ROUTE_REFUSED', `${label}: ${failure}`));
}

/** `headers` after the modifiers, in order: set replaces, add appends a value, remove drops. A copy: the caller's map is never changed. */
export function modified(headers: HeaderMap, modifiers: HeaderModifierFilter[]): HeaderMap {
  let out: HeaderMap = { ...headers };
  for (const m of modifiers) {
    for (const { name, value } of m.set) out[name] = value;
    for (const { name, value } of m.add) {
      const had = out[name];
      out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
    }
    for (const name of m.remove) out = withoutHeader(out, name);
  }
  return out;
}

/**
 * The redirect for `req` (Gateway API HTTPRequestRedirectFilter): each part the filter leaves out
 * is the request's own; a port left out is the scheme's well-known one when the filter changes the
 * scheme, else the request's. A Location equal to the request's own URL is refused: a loop.
 */
export function redirectResponse(req: MeshRequest, r: RedirectFilter, pathPrefixes: string[], label: string): MeshResponse {
  // The request's own host and port, as routing read them (lower-case host, the scheme's port when none).
  // Hosts are compared and written without brackets ([fd00::5]:8080 -> fd00::5), whichever side
  // names them; the Location adds them back where a port or the path follows an IPv6 address.
  const authority = normalizeAuthority(req.authority, req.scheme);
  const own = { host: hostOfAddress(authority), port: portOf(authority) };
  const scheme = r.scheme ?? req.scheme;
  const host = r.hostname === undefined ? own.host : hostOfAddress(r.hostname);
  const port = r.port ?? (r.scheme !== undefined ? DEFAULT_PORT[scheme] : own.port);
  const q = req.path.indexOf('?');
  const path = q < 0 ? req.path : req.path.slice(0, q);
  const query = q < 0 ? '' : req.path.slice(q);
  let nextPath = path;
  if (r.path?.type === 'ReplaceFullPath') nextPath = r.path.value;
  else if (r.path?.type === 'ReplacePrefixMatch') nextPath = replacePrefix(path, r.path.value, pathPrefixes);
  if (scheme === req.scheme && host.toLowerCase() === own.host.toLowerCase() && port === own.port && nextPath === path) {
    throw new ProxyError('ROUTE_REFUSED', `${label}: redirect loop: the RequestRedirect sends ${req.scheme}://${req.authority}${path} back to itself`);
  }
  const hostPart = port === DEFAULT_PORT[scheme] ? bracketedHost(host) : joinHostPort(host, port);
  return { status: r.statusCode, headers: { location: `${scheme}://${hostPart}${nextPath}${query}`, 'content-length': '0' }, body: null };
}

/** The longest of the rule's PathPrefix values that `path` matches (element-wise), replaced by `value`. */
function replacePrefix(path: string, value: string, prefixes: string[]): string {
  let matched = '';
  for (const raw of prefixes) {
    const p = raw.length > 1 && raw.endsWith('/') ? raw.slice(0, -1) : raw;
    const hit = p === '/' || path === p || path.startsWith(`${p}/`);
    if (hit && p.length > matched.length) matched = p === '/' ? '/' : p;
  }
  const rest = matched === '/' ? path.slice(1) : path.slice(matched.length);
  const base = value.endsWith('/') ? value.slice(0, -1) : value;
  if (rest === '') return base === '' ? '/' : base;
  return `${base}${rest.startsWith('/') ? rest : `/${rest}`}`;
}
