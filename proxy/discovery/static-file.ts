// The static endpoints file (development mode): its shape, parsed and checked field by field so a
// bad file is refused with the file and the field named. See proxy/discovery/README.md.
import { parse as parseYaml } from 'yaml';
import type { DefaultPolicy, Endpoint, InboundPolicy, Profile } from '../../api/destination-types.ts';
import { FieldReader, StaticFileError } from './static-fields.ts';
import { readAuthorizations, readHttpRoutes, readProfileRoutes } from './static-profile.ts';

export interface StaticService {
  endpoints: Endpoint[];
  profile?: Omit<Profile, 'fqdn'>;
}

export interface StaticFile {
  /** Services by authority, lower-case `host:port`. */
  services: Map<string, StaticService>;
  defaultPolicy: DefaultPolicy;
  clusterNetworks: string[];
  ports: Map<number, Omit<InboundPolicy, 'port'>>;
}

export { StaticFileError };

const POLICIES: DefaultPolicy[] = ['all-unauthenticated', 'all-authenticated', 'cluster-authenticated', 'deny'];
/** Loopback is where this mesh's pods live on one machine; the rest are the usual private ranges. */
const DEFAULT_CLUSTER_NETWORKS = ['127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

/** Parses YAML or JSON text (JSON is YAML); throws StaticFileError naming `file` and the field. */
export function parseStaticFile(file: string, text: string): StaticFile {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new StaticFileError(`${file}: not valid YAML or JSON: ${(err as Error).message}`, { cause: err });
  }
  const r = new FieldReader(file);
  const root = r.object(doc ?? {}, '');
  r.onlyKeys(root, '', ['services', 'inbound', 'namespace']);
  const services = new Map<string, StaticService>();
  const svcs = r.object(root.services ?? {}, 'services');
  for (const [authority, value] of Object.entries(svcs)) {
    const at = `services["${authority}"]`;
    services.set(r.authority(authority, at), readService(r, value, at));
  }
  const inbound = r.object(root.inbound ?? {}, 'inbound');
  r.onlyKeys(inbound, 'inbound', ['defaultPolicy', 'clusterNetworks', 'ports']);
  const defaultPolicy = inbound.defaultPolicy === undefined ? 'all-unauthenticated' : r.oneOf(inbound.defaultPolicy, 'inbound.defaultPolicy', POLICIES);
  const clusterNetworks = inbound.clusterNetworks === undefined ? DEFAULT_CLUSTER_NETWORKS : r.cidrs(inbound.clusterNetworks, 'inbound.clusterNetworks');
  const ports = new Map<number, Omit<InboundPolicy, 'port'>>();
  for (const [key, value] of Object.entries(r.object(inbound.ports ?? {}, 'inbound.ports'))) {
    const at = `inbound.ports["${key}"]`;
    const port = r.port(key, at);
    const p = r.object(value, at);
    r.onlyKeys(p, at, ['server', 'authorizations', 'defaultPolicy']);
    let server: InboundPolicy['server'];
    if (p.server !== undefined) {
      const s = r.object(p.server, `${at}.server`);
      server = {
        name: r.string(s.name, `${at}.server.name`),
        protocol: s.protocol === undefined ? 'unknown' : r.oneOf(s.protocol, `${at}.server.protocol`, ['unknown', 'HTTP/1', 'HTTP/2', 'gRPC', 'opaque'] as const),
      };
    }
    ports.set(port, {
      server,
      authorizations: readAuthorizations(r, p.authorizations ?? [], `${at}.authorizations`),
      defaultPolicy: p.defaultPolicy === undefined ? defaultPolicy : r.oneOf(p.defaultPolicy, `${at}.defaultPolicy`, POLICIES),
      clusterNetworks,
    });
  }
  return { services, defaultPolicy, clusterNetworks, ports };
}

function readService(r: FieldReader, value: unknown, at: string): StaticService {
  // Shorthand: a service may be just its list of endpoints.
  if (Array.isArray(value)) return { endpoints: readEndpoints(r, value, at) };
  const s = r.object(value, at);
  r.onlyKeys(s, at, ['endpoints', 'profile']);
  const service: StaticService = { endpoints: readEndpoints(r, s.endpoints ?? [], `${at}.endpoints`) };
  if (s.profile !== undefined) {
    const p = r.object(s.profile, `${at}.profile`);
    r.onlyKeys(p, `${at}.profile`, ['routes', 'retryBudget', 'httpRoutes']);
    service.profile = {
      routes: readProfileRoutes(r, p.routes ?? [], `${at}.profile.routes`),
      httpRoutes: readHttpRoutes(r, p.httpRoutes ?? [], `${at}.profile.httpRoutes`),
    };
    if (p.retryBudget !== undefined) {
      const b = r.object(p.retryBudget, `${at}.profile.retryBudget`);
      service.profile.retryBudget = {
        retryRatio: r.number(b.retryRatio, `${at}.profile.retryBudget.retryRatio`, 0, 1000),
        minRetriesPerSecond: r.number(b.minRetriesPerSecond, `${at}.profile.retryBudget.minRetriesPerSecond`, 0, 1e6),
        ttlMs: r.number(b.ttlMs, `${at}.profile.retryBudget.ttlMs`, 0, 3.6e6),
      };
    }
  }
  return service;
}

function readEndpoints(r: FieldReader, value: unknown, at: string): Endpoint[] {
  return r.array(value, at).map((item, i) => {
    const here = `${at}[${i}]`;
    const e = r.object(item, here);
    r.onlyKeys(e, here, ['address', 'identity', 'inboundPort', 'weight', 'labels', 'metricLabels', 'h2']);
    const ep: Endpoint = {
      address: r.address(e.address, `${here}.address`),
      weight: e.weight === undefined ? 1 : r.number(e.weight, `${here}.weight`, 0, 1e6),
      labels: e.labels === undefined ? {} : r.stringMap(e.labels, `${here}.labels`),
    };
    if (e.identity !== undefined) ep.identity = r.spiffeId(e.identity, `${here}.identity`);
    if (e.inboundPort !== undefined) ep.inboundPort = r.port(e.inboundPort, `${here}.inboundPort`);
    if (e.h2 !== undefined) ep.h2 = r.boolean(e.h2, `${here}.h2`);
    if (e.metricLabels !== undefined) ep.metricLabels = r.stringMap(e.metricLabels, `${here}.metricLabels`);
    return ep;
  });
}
