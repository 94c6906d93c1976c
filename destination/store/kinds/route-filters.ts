// The route filters Linkerd applies (Gateway API RequestHeaderModifier, ResponseHeaderModifier,
// RequestRedirect), read from an HTTPRoute or GRPCRoute rule; anything else refuses the rule.
import type { HeaderModifierFilter, HeaderValue, HttpRouteFilter, HttpRouteMatch, RedirectFilter } from '../../../api/destination-types.ts';
import { Fields, FieldError, shown } from '../field-reader.ts';
import type { ParseContext } from './meta.ts';

export const SUPPORTED_FILTERS: Record<'HTTPRoute' | 'GRPCRoute', readonly string[]> = {
  HTTPRoute: ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect'],
  // GRPCRoute has no RequestRedirect in the Gateway API.
  GRPCRoute: ['RequestHeaderModifier', 'ResponseHeaderModifier'],
};

export const REFUSED = 'the rule is refused: requests it matches are answered 500, never served without the filter';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** One line of visible text: a value with CR, LF or NUL would split or end a header. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/**
 * Headers a filter may not touch: they frame the message or describe one connection (the proxy
 * sets them per hop), or they are the request's authority, which routing has already used.
 */
const RESERVED_HEADERS = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'http2-settings', 'content-length', 'host',
]);

/**
 * A rule's `filters`: the supported ones in order. A filter of another type, or a redirect that
 * would send the client back to the same rule, is warned about and named in the returned
 * `refused` list (the rule then answers 500); a filter whose fields are invalid fails the file.
 */
export function readRuleFilters(rule: Fields, kind: 'HTTPRoute' | 'GRPCRoute', matches: HttpRouteMatch[], ctx: ParseContext): { filters: HttpRouteFilter[]; refused: string[] } {
  const refused: string[] = [];
  const filters: HttpRouteFilter[] = [];
  rule.list('filters', (raw, path) => {
    const f = Fields.of(raw, path);
    const type = f.string('type');
    if (!SUPPORTED_FILTERS[kind].includes(type)) {
      ctx.warn(f.at('type'), `filter ${shown(type)} is not supported on a ${kind} (${SUPPORTED_FILTERS[kind].join(', ')} are); ${REFUSED}`);
      refused.push(`filter ${type}`);
      return;
    }
    if (type === 'RequestRedirect') {
      const redirect = readRedirect(f, matches);
      const loop = redirectLoop(redirect, matches);
      if (loop) {
        ctx.warn(f.at('requestRedirect'), `${loop}; ${REFUSED}`);
        refused.push(`redirect loop at ${f.at('requestRedirect')}`);
        return;
      }
      filters.push(redirect);
      return;
    }
    filters.push(readHeaderModifier(f, type as 'RequestHeaderModifier' | 'ResponseHeaderModifier'));
  });
  if (filters.filter((x) => x.type === 'RequestRedirect').length > 1) rule.fail('filters', 'has more than one RequestRedirect');
  return { filters, refused };
}

function readHeaderModifier(f: Fields, type: HeaderModifierFilter['type']): HeaderModifierFilter {
  const key = type === 'RequestHeaderModifier' ? 'requestHeaderModifier' : 'responseHeaderModifier';
  const m = f.optionalObject(key) ?? f.fail(key, `is required for type ${type}`);
  const headerName = (name: unknown, path: string): string => {
    if (typeof name !== 'string' || !TOKEN.test(name)) throw new FieldError(path, `must be a header name (letters, digits and !#$%&'*+.^_\`|~-), got ${shown(name)}`);
    const lower = name.toLowerCase();
    if (RESERVED_HEADERS.has(lower)) throw new FieldError(path, `${shown(name)} is set by the proxy on every hop; a filter may not change it`);
    return lower;
  };
  const seen = new Set<string>();
  const once = (name: string, path: string) => {
    if (seen.has(name)) throw new FieldError(path, `header ${shown(name)} appears twice in the ${type}; each header may be named once`);
    seen.add(name);
  };
  const pairs = (list: 'set' | 'add'): HeaderValue[] =>
    m.list(list, (raw, p) => {
      const h = Fields.of(raw, p);
      const name = headerName(h.raw['name'], h.at('name'));
      once(name, h.at('name'));
      const value = h.optionalString('value') ?? '';
      if (!FIELD_VALUE.test(value)) h.fail('value', `must be one line of visible text (no CR, LF or NUL), got ${shown(value)}`);
      return { name, value };
    });
  const set = pairs('set');
  const add = pairs('add');
  const remove = m.list('remove', (raw, p) => {
    const name = headerName(raw, p);
    once(name, p);
    return name;
  });
  return { type, set, add, remove };
}

function readRedirect(f: Fields, matches: HttpRouteMatch[]): RedirectFilter {
  const rr = f.optionalObject('requestRedirect') ?? f.fail('requestRedirect', 'is required for type RequestRedirect');
  const statusCode = rr.optionalInteger('statusCode', 100, 599) ?? 302;
  if (statusCode !== 301 && statusCode !== 302) rr.fail('statusCode', `must be 301 or 302 (the Gateway API's redirect statuses), got ${statusCode}`);
  const out: RedirectFilter = { type: 'RequestRedirect', statusCode };
  const scheme = rr.optionalString('scheme');
  if (scheme !== undefined) {
    if (scheme !== 'http' && scheme !== 'https') return rr.fail('scheme', `must be http or https, got ${shown(scheme)}`);
    out.scheme = scheme;
  }
  const hostname = rr.optionalString('hostname');
  if (hostname !== undefined) {
    if (hostname.length > 253 || !HOSTNAME.test(hostname)) rr.fail('hostname', `must be a lowercase DNS name (no port, no scheme), got ${shown(hostname)}`);
    out.hostname = hostname;
  }
  const port = rr.optionalInteger('port', 1, 65535);
  if (port !== undefined) out.port = port;
  const path = rr.optionalObject('path');
  if (path) {
    const kind = path.string('type');
    const pathValue = (key: string) => {
      const value = path.string(key);
      if (!value.startsWith('/') || !/^[!$&'()*+,;=:@\-._~%/A-Za-z0-9]+$/.test(value)) path.fail(key, `must be an absolute path without query or fragment, got ${shown(value)}`);
      return value;
    };
    if (kind === 'ReplaceFullPath') out.path = { type: kind, value: pathValue('replaceFullPath') };
    else if (kind === 'ReplacePrefixMatch') {
      // Gateway API: the prefix replaced is the one the request matched, so every match must be a PathPrefix.
      if (matches.length === 0 || matches.some((m) => m.path?.type !== 'PathPrefix')) {
        path.fail('type', 'ReplacePrefixMatch needs every match of the rule to be a PathPrefix path match');
      }
      out.path = { type: kind, value: pathValue('replacePrefixMatch') };
    } else path.fail('type', `must be ReplaceFullPath or ReplacePrefixMatch, got ${shown(kind)}`);
  }
  return out;
}

/**
 * Why this redirect would send a client straight back to the rule that redirected it (to the
 * same scheme, host and port, on a path the rule matches again), or undefined. Only matches on
 * the path alone are judged: one that also needs a header or query may not match the next request.
 */
function redirectLoop(r: RedirectFilter, matches: HttpRouteMatch[]): string | undefined {
  if (r.scheme !== undefined || r.hostname !== undefined || r.port !== undefined) return undefined;
  if (!r.path) return 'the redirect changes neither scheme, hostname, port nor path: every client would be sent back to the same URL (a redirect loop)';
  const pathOnly = (matches.length === 0 ? [{}] : matches).filter((m: HttpRouteMatch) => !m.headers?.length && !m.queryParams?.length && !m.method);
  const next = r.path.value;
  for (const m of pathOnly) {
    const p = m.path;
    const again =
      !p || (p.type === 'PathPrefix' && prefixMatches(p.value, next)) || (p.type === 'Exact' && p.value === next && r.path.type === 'ReplaceFullPath');
    if (again) return `the redirect's path ${shown(next)} is matched by the same rule again (${p ? `${p.type} ${shown(p.value)}` : 'every path'}): a redirect loop`;
  }
  return undefined;
}

/** Gateway API PathPrefix: element-wise, so `/foo` matches `/foo` and `/foo/bar`, never `/foobar`. */
function prefixMatches(prefix: string, path: string): boolean {
  const p = prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return p === '/' || path === p || path.startsWith(`${p}/`);
}
