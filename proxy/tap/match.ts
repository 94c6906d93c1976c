// A tap's filter (api/tap.proto `Match`), checked once when the tap opens and then evaluated
// per request. Evaluation is three-valued: an outbound request's endpoint is chosen after the
// request starts, so a filter on it may be "unknown" until the response head.
import { isIP, SocketAddress } from 'node:net';
import { hostOfAddress } from '../../api/host-port.ts';
import type { HttpMatch, PeerMatch, TapDirection, TapMatch } from '../../api/tap-proto.ts';
import { TapError } from './errors.ts';

/** One end of a request as the proxy knows it; `undefined` fields are not known yet. */
export interface PeerFacts {
  address?: string;
  identity?: string;
  pod?: string;
  deployment?: string;
  namespace?: string;
  service?: string;
}

/** What a filter looks at. */
export interface RequestFacts {
  direction: 'inbound' | 'outbound';
  method: string;
  authority: string;
  path: string;
  source: PeerFacts;
  destination: PeerFacts;
  /** False until the outbound destination (the endpoint) is known; inbound: always true. */
  destinationKnown: boolean;
}

/** true, false, or undefined (cannot tell yet). */
export type Verdict = boolean | undefined;

export type Matcher = (facts: RequestFacts) => Verdict;

const MAX_DEPTH = 16;
const MAX_LEAVES = 256;

/** Compiles a filter; throws TapError TAP_BAD_MATCH naming the field that is wrong. Absent: match all. */
export function compileMatch(match: TapMatch | null | undefined): Matcher {
  if (!match) return () => true;
  const budget = { leaves: 0 };
  return compile(match, 'match', 0, budget);
}

function compile(m: TapMatch, where: string, depth: number, budget: { leaves: number }): Matcher {
  if (depth > MAX_DEPTH) throw bad(where, `nests deeper than ${MAX_DEPTH} levels`);
  if (++budget.leaves > MAX_LEAVES) throw bad(where, `has more than ${MAX_LEAVES} parts`);
  const which = (m as { match?: string }).match ?? Object.keys(m).find((k) => (m as Record<string, unknown>)[k] != null);
  switch (which) {
    case 'all':
    case 'any': {
      const seq = (m as { all?: { matches?: TapMatch[] }; any?: { matches?: TapMatch[] } })[which];
      const parts = (seq?.matches ?? []).map((p, i) => compile(p, `${where}.${which}[${i}]`, depth + 1, budget));
      if (parts.length === 0) throw bad(`${where}.${which}`, 'is empty');
      return which === 'all' ? allOf(parts) : anyOf(parts);
    }
    case 'not': {
      const inner = compile((m as { not: TapMatch }).not, `${where}.not`, depth + 1, budget);
      return (f) => {
        const v = inner(f);
        return v === undefined ? undefined : !v;
      };
    }
    case 'source':
    case 'destination':
      return peerMatcher(which, (m as Record<string, PeerMatch>)[which]!, `${where}.${which}`);
    case 'http':
      return httpMatcher((m as { http: HttpMatch }).http, `${where}.http`);
    case 'direction': {
      const d = (m as { direction: TapDirection | number }).direction;
      const want = d === 'INBOUND' || d === 1 ? 'inbound' : d === 'OUTBOUND' || d === 2 ? 'outbound' : undefined;
      if (!want) throw bad(`${where}.direction`, 'must be INBOUND or OUTBOUND');
      return (f) => f.direction === want;
    }
    default:
      throw bad(where, 'sets none of all, any, not, source, destination, http, direction');
  }
}

function allOf(parts: Matcher[]): Matcher {
  return decidedBy(parts, false);
}

function anyOf(parts: Matcher[]): Matcher {
  return decidedBy(parts, true);
}

/** The first part that answers `decisive` decides; else unknown if a part could not tell (a fact not known yet). */
function decidedBy(parts: Matcher[], decisive: boolean): Matcher {
  return (f) => {
    let unknown = false;
    for (const p of parts) {
      const v = p(f);
      if (v === decisive) return decisive;
      if (v === undefined) unknown = true;
    }
    return unknown ? undefined : !decisive;
  };
}

function peerMatcher(side: 'source' | 'destination', m: PeerMatch, where: string): Matcher {
  const key = (m as { match?: string }).match ?? Object.keys(m).find((k) => (m as Record<string, unknown>)[k] != null && (m as Record<string, unknown>)[k] !== '');
  const want = key ? (m as Record<string, string>)[key] : undefined;
  if (!key || !want || !['pod', 'deployment', 'namespace', 'identity', 'address'].includes(key)) {
    throw bad(where, 'sets none of pod, deployment, namespace, identity, address');
  }
  const field = key as keyof PeerFacts;
  const address = field === 'address' ? ipMatcher(want) : undefined;
  return (f) => {
    if (side === 'destination' && !f.destinationKnown) return undefined;
    const have = f[side][field];
    if (have === undefined || have === '') return false;
    return address ? address(have) : have === want;
  };
}

/**
 * `ip` alone (an IPv6 one with or without brackets) matches any port of that address; `ip:port`
 * that port only (undefined here: compared as written). `fd00::5` is an address, not `fd00:` and
 * port 5: an IPv6 port follows a `]`. An IPv6 one is compared as Node writes a peer's (lower case,
 * zeros compressed: `FD00:0::5` is `fd00::5`).
 */
function ipMatcher(want: string): ((address: string) => boolean) | undefined {
  const bare = want.replace(/^\[(.*)\]$/, '$1');
  const family = isIP(bare);
  if (family === 0) return undefined;
  const ip = family === 6 && !bare.includes('%') ? new SocketAddress({ address: bare, family: 'ipv6' }).address : bare;
  return (address) => hostOfAddress(address) === ip;
}

function httpMatcher(m: HttpMatch, where: string): Matcher {
  const key = (m as { match?: string }).match ?? Object.keys(m).find((k) => (m as Record<string, unknown>)[k] != null && (m as Record<string, unknown>)[k] !== '');
  const want = key ? (m as Record<string, string>)[key] : undefined;
  if (!want) throw bad(where, 'sets none of method, authority, pathPrefix');
  switch (key) {
    case 'method': {
      const upper = want.toUpperCase();
      return (f) => f.method === upper;
    }
    case 'authority':
      return (f) => f.authority === want;
    case 'pathPrefix':
      return (f) => pathOnly(f.path).startsWith(want);
    default:
      throw bad(where, 'sets none of method, authority, pathPrefix');
  }
}

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}

function bad(where: string, why: string): TapError {
  return new TapError('TAP_BAD_MATCH', `tap filter ${where} ${why}`);
}
