// Every setting of `mesh proxy`, from flags or environment variables (flags win), checked once
// at start so a typo is an error naming the setting, not a surprise later.
import { isIP } from 'node:net';
import { DEFAULT_POLICIES, type DefaultPolicy } from '../api/destination-types.ts';
import { CodedError } from '../api/errors.ts';
import { HostPortError, joinHostPort, splitHostPort, type HostPort } from '../api/host-port.ts';
import { podIpFamilyOf } from '../api/pod-ip-family.ts';
import { parsePortRanges, type PortRanges } from '../api/port-ranges.ts';
import { parseFlags, UsageError } from '../cli/args.ts';
import { CidrError, readCidr } from '../api/cidr.ts';

export interface ProxyConfig {
  /** The pod address all three listeners bind, and where the app listens. */
  podIp: string;
  /**
   * Every address of the pod, as `status.podIPs` lists them (the pod IP first; dual-stack: one of
   * each family). The inbound listener binds the others too: an ip6tables REDIRECT delivers an
   * IPv6 caller to the pod's IPv6 address. Unset: the pod IP only.
   */
  podIps?: string[];
  outboundPort: number;
  /** Where the outbound listener binds when not the pod address (an ingress's front door: 127.0.0.1). */
  outboundIp?: string;
  inboundPort: number;
  adminPort: number;
  /** The tap server (gRPC over mTLS, for the viz's identity only); needs an identity. */
  tapPort: number;
  /** App port for inbound requests that name none (clients outside the mesh); unset: refused. */
  defaultAppPort?: number;
  /** Static endpoints file (development mode) used as the resolver. */
  endpointsFile?: string;
  /** Longest wait for a new connection's first bytes before calling it opaque. */
  detectTimeoutMs: number;
  /** Longest wait for a complete HTTP/1 request head. */
  headersTimeoutMs: number;
  /** Idle time before a client's keep-alive connection is closed. */
  keepAliveTimeoutMs: number;
  /** Largest request head (HTTP/1 header bytes, HTTP/2 header list size). */
  maxHeaderBytes: number;
  /** How long shutdown lets in-flight requests finish. */
  shutdownGraceMs: number;
  /** On shutdown, how long listeners stay open after leaving the endpoints (callers hear first). */
  deregisterDelayMs: number;
  /** Longest wait for discovery's first answer about a new authority. */
  discoveryTimeoutMs: number;
  /** How often the proxy checks whether it turned quiet with a grown heap (then one full GC: idle-gc.ts). */
  idleGcIntervalMs: number;
  /** Most authorities the outbound side keeps a stack for. */
  maxTargets: number;
  /** Most HTTP/1.1 connections per endpoint (proxy to proxy, and inbound to app). */
  http1PoolSize: number;
  /** Ingress mode: route origin-form requests by `l5d-dst-override`, else Host (the demo's front door). */
  ingress: boolean;
  /** Outbound connections come redirected by `mesh proxy-init`: each is sent where SO_ORIGINAL_DST says. */
  transparent: boolean;
  /** Ingress mode: `host:port` for requests whose Host names no mesh service (an IP, a public name). */
  ingressDefaultDst?: string;
  // ---- identity (control-plane.ts turns these into an IdentityClient) ----
  /** The identity CA, `host:port`; unset: no identity, the proxy runs in cleartext. */
  identityAddr?: string;
  trustAnchorsFile?: string;
  /** The anchors themselves, as an injected pod gets them (a ConfigMap volume cannot cross namespaces). */
  trustAnchorsPem?: string;
  tokenFile?: string;
  token?: string;
  trustDomain: string;
  /** The whole SPIFFE id; else built from podNamespace and serviceAccount. */
  identity?: string;
  serviceAccount?: string;
  // ---- destination and this pod ----
  /** Where the kubelet keeps this pod's Ready condition; unset: the pod counts as Ready while the proxy runs. */
  podReadyFile?: string;
  /** The destination service, `host:port`; unset: the Kubernetes YAML at endpointsFile (development mode). */
  destinationAddr?: string;
  /** The SPIFFE id the destination must present (default spiffe://<td>/ns/mesh-system/sa/destination). */
  destinationIdentity?: string;
  podName?: string;
  podNamespace?: string;
  /** The Deployment that owns this pod: the `deployment` label of every series, and its callers' `dst_deployment`. */
  podDeployment?: string;
  podLabels: Record<string, string>;
  podPorts: Array<{ name?: string; port: number }>;
  /** Policy for ports no Server selects. */
  inboundDefaultPolicy: DefaultPolicy;
  /** Networks `cluster-authenticated` treats as the cluster; unset: what discovery says. */
  clusterNetworks?: string[];
  /** This pod's opaque ports (`config.linkerd.io/opaque-ports`): announced opaque at registration; inbound connections to them are not sniffed. */
  opaquePorts?: PortRanges;
  /** `config.linkerd.io/skip-inbound-ports`: a redirected connection to one is handed to the app unsniffed. */
  skipInboundPorts?: PortRanges;
  /** `config.linkerd.io/skip-outbound-ports`: connections to them go straight to their target, outside the mesh. */
  skipOutboundPorts?: PortRanges;
}

interface Setting {
  key: keyof ProxyConfig;
  flag: string;
  env: string;
  kind: 'ip' | 'ips' | 'port' | 'ms' | 'count' | 'path' | 'addr' | 'text' | 'name' | 'bool' | 'policy' | 'cidrs' | 'labels' | 'ports' | 'port-ranges' | 'spiffe';
  default?: string;
  help: string;
}

/** The table proxy/README.md documents; `mesh proxy --help` prints it. */
export const SETTINGS: readonly Setting[] = [
  { key: 'podIp', flag: '--pod-ip', env: 'MESH_POD_IP', kind: 'ip', default: '127.0.0.1', help: 'pod address: listeners bind it, the app listens on it' },
  { key: 'podIps', flag: '--pod-ips', env: 'MESH_POD_IPS', kind: 'ips', help: 'every pod address, as status.podIPs lists them (dual-stack: one of each family); the inbound listener binds each, and the registration announces them' },
  { key: 'outboundPort', flag: '--outbound-port', env: 'MESH_PROXY_OUTBOUND_PORT', kind: 'port', default: '4140', help: 'outbound listener (app -> mesh); 0 picks a free port' },
  { key: 'outboundIp', flag: '--outbound-ip', env: 'MESH_PROXY_OUTBOUND_IP', kind: 'ip', help: 'address the outbound listener binds, if not the pod address (ingress front door)' },
  { key: 'inboundPort', flag: '--inbound-port', env: 'MESH_PROXY_INBOUND_PORT', kind: 'port', default: '4143', help: 'inbound listener (mesh -> app); 0 picks a free port' },
  { key: 'adminPort', flag: '--admin-port', env: 'MESH_PROXY_ADMIN_PORT', kind: 'port', default: '4191', help: 'admin listener: /metrics /ready /live POST /shutdown' },
  { key: 'tapPort', flag: '--tap-port', env: 'MESH_PROXY_TAP_PORT', kind: 'port', default: '4190', help: 'tap server: live request events over mTLS, for the viz\'s identity only' },
  { key: 'defaultAppPort', flag: '--app-port', env: 'MESH_PROXY_APP_PORT', kind: 'port', help: 'app port for inbound requests without l5d-dst-port' },
  { key: 'endpointsFile', flag: '--endpoints-file', env: 'MESH_PROXY_ENDPOINTS_FILE', kind: 'path', help: 'Kubernetes YAML, a file or a folder, read as the destination reads it, with Pods for registrations (development mode, instead of the destination service)' },
  { key: 'detectTimeoutMs', flag: '--detect-timeout-ms', env: 'MESH_PROXY_DETECT_TIMEOUT_MS', kind: 'ms', default: '10000', help: 'wait for a connection\'s first bytes before treating it as opaque' },
  { key: 'headersTimeoutMs', flag: '--headers-timeout-ms', env: 'MESH_PROXY_HEADERS_TIMEOUT_MS', kind: 'ms', default: '10000', help: 'wait for a complete HTTP/1 request head (then 408)' },
  { key: 'keepAliveTimeoutMs', flag: '--keepalive-timeout-ms', env: 'MESH_PROXY_KEEPALIVE_TIMEOUT_MS', kind: 'ms', default: '60000', help: 'idle client connections close after this' },
  { key: 'maxHeaderBytes', flag: '--max-header-bytes', env: 'MESH_PROXY_MAX_HEADER_BYTES', kind: 'count', default: '65536', help: 'largest request head accepted (then 431)' },
  { key: 'deregisterDelayMs', flag: '--deregister-delay-ms', env: 'MESH_PROXY_DEREGISTER_DELAY_MS', kind: 'ms', default: '1000', help: 'on shutdown, how long to keep listening after leaving the endpoints, so callers hear of it first' },
  { key: 'shutdownGraceMs', flag: '--shutdown-grace-ms', env: 'MESH_PROXY_SHUTDOWN_GRACE_MS', kind: 'ms', default: '10000', help: 'how long shutdown lets in-flight requests finish' },
  { key: 'discoveryTimeoutMs', flag: '--discovery-timeout-ms', env: 'MESH_PROXY_DISCOVERY_TIMEOUT_MS', kind: 'ms', default: '3000', help: 'wait for discovery\'s first answer about an authority (then 503)' },
  { key: 'idleGcIntervalMs', flag: '--idle-gc-interval-ms', env: 'MESH_PROXY_IDLE_GC_INTERVAL_MS', kind: 'ms', default: '10000', help: 'how often to check for a quiet proxy with a grown heap, which then gets one full GC' },
  { key: 'http1PoolSize', flag: '--http1-pool-size', env: 'MESH_PROXY_HTTP1_POOL_SIZE', kind: 'count', default: '256', help: 'most HTTP/1.1 connections per endpoint; keep it at or above peak concurrency' },
  { key: 'maxTargets', flag: '--max-targets', env: 'MESH_PROXY_MAX_TARGETS', kind: 'count', default: '10000', help: 'authorities the outbound side keeps a stack for (LRU)' },
  { key: 'transparent', flag: '--transparent', env: 'MESH_PROXY_TRANSPARENT', kind: 'bool', default: 'false', help: 'outbound connections are redirected by mesh proxy-init: route each by its original destination (SO_ORIGINAL_DST); bind --outbound-ip 127.0.0.1' },
  { key: 'ingress', flag: '--ingress', env: 'MESH_PROXY_INGRESS', kind: 'bool', default: 'false', help: 'ingress mode: route origin-form requests by l5d-dst-override, else Host' },
  { key: 'ingressDefaultDst', flag: '--ingress-default-dst', env: 'MESH_PROXY_INGRESS_DEFAULT_DST', kind: 'addr', help: 'ingress mode: host:port for requests whose Host is an IP or names no mesh service' },
  { key: 'identityAddr', flag: '--identity-addr', env: 'MESH_IDENTITY_ADDR', kind: 'addr', help: 'identity CA host:port (unset: cleartext, no identity)' },
  { key: 'trustAnchorsFile', flag: '--trust-anchors', env: 'MESH_TRUST_ANCHORS', kind: 'path', help: 'PEM trust anchors file (the CA directory\'s ca.crt)' },
  { key: 'trustAnchorsPem', flag: '--trust-anchors-pem', env: 'MESH_TRUST_ANCHORS_PEM', kind: 'text', help: 'the PEM trust anchors themselves (instead of --trust-anchors), as the injector sets them in a cluster' },
  { key: 'tokenFile', flag: '--token-file', env: 'MESH_TOKEN_FILE', kind: 'path', help: 'service-account token file, re-read at every Certify call' },
  { key: 'token', flag: '--token', env: 'MESH_TOKEN', kind: 'text', help: 'the service-account token itself (instead of --token-file)' },
  { key: 'trustDomain', flag: '--trust-domain', env: 'MESH_TRUST_DOMAIN', kind: 'text', default: 'cluster.local', help: 'trust domain of SPIFFE ids' },
  { key: 'identity', flag: '--identity', env: 'MESH_IDENTITY', kind: 'spiffe', help: 'this proxy\'s SPIFFE id (else from --pod-namespace and --service-account)' },
  { key: 'serviceAccount', flag: '--service-account', env: 'MESH_SERVICE_ACCOUNT', kind: 'text', help: 'this pod\'s service account' },
  { key: 'destinationAddr', flag: '--destination-addr', env: 'MESH_DESTINATION_ADDR', kind: 'addr', help: 'destination host:port (unset: --endpoints-file, development mode)' },
  { key: 'destinationIdentity', flag: '--destination-identity', env: 'MESH_DESTINATION_IDENTITY', kind: 'spiffe', help: 'SPIFFE id the destination must present (default spiffe://<td>/ns/mesh-system/sa/destination)' },
  { key: 'podName', flag: '--pod-name', env: 'MESH_POD_NAME', kind: 'text', help: 'this pod\'s name, registered with the destination (development mode: names its own Pod)' },
  { key: 'podNamespace', flag: '--pod-namespace', env: 'MESH_POD_NAMESPACE', kind: 'text', help: 'this pod\'s namespace (short service names resolve in it)' },
  { key: 'podDeployment', flag: '--pod-deployment', env: 'MESH_POD_DEPLOYMENT', kind: 'name', help: 'the Deployment owning this pod (metrics: deployment, and dst_deployment for callers)' },
  { key: 'podLabels', flag: '--pod-labels', env: 'MESH_POD_LABELS', kind: 'labels', default: '', help: 'this pod\'s labels, k=v,k=v (Services and Servers select by them)' },
  { key: 'podPorts', flag: '--pod-ports', env: 'MESH_POD_PORTS', kind: 'ports', default: '', help: 'the app\'s ports, name:port,port (targetPort by name)' },
  { key: 'podReadyFile', flag: '--pod-ready-file', env: 'MESH_POD_READY_FILE', kind: 'path', help: 'file where the kubelet keeps the pod\'s Ready condition (true/false); registered with the pod, and only Ready pods are endpoints (unset: Ready)' },
  { key: 'inboundDefaultPolicy', flag: '--default-inbound-policy', env: 'MESH_PROXY_INBOUND_DEFAULT_POLICY', kind: 'policy', default: 'all-unauthenticated', help: 'ports no Server selects: all-unauthenticated | all-authenticated | cluster-unauthenticated | cluster-authenticated | deny | audit' },
  { key: 'opaquePorts', flag: '--opaque-ports', env: 'MESH_PROXY_OPAQUE_PORTS', kind: 'port-ranges', help: 'this pod\'s opaque ports, 25,587,4000-4100 (config.linkerd.io/opaque-ports): announced opaque when the pod registers (callers skip detection), and redirected connections to them reach the app unsniffed' },
  { key: 'skipInboundPorts', flag: '--skip-inbound-ports', env: 'MESH_PROXY_SKIP_INBOUND_PORTS', kind: 'port-ranges', help: 'ports proxy-init leaves to the app; a redirected connection to one reaches the app unsniffed' },
  { key: 'skipOutboundPorts', flag: '--skip-outbound-ports', env: 'MESH_PROXY_SKIP_OUTBOUND_PORTS', kind: 'port-ranges', help: 'CONNECT tunnels and redirected connections to these ports go straight to their target: no detection, no discovery, no mTLS' },
  { key: 'clusterNetworks', flag: '--cluster-networks', env: 'MESH_PROXY_CLUSTER_NETWORKS', kind: 'cidrs', help: 'CIDRs cluster-authenticated treats as the cluster, a,b (default: the destination\'s)' },
];

const POLICIES: readonly DefaultPolicy[] = DEFAULT_POLICIES;

export class ConfigError extends CodedError<'CONFIG_INVALID'> {
  override readonly name = 'ConfigError';
  constructor(message: string, options?: ErrorOptions) {
    super('CONFIG_INVALID', message, options);
  }
}

/** The settings as parseArgs options: `--pod-ip` is `pod-ip`, a `bool` setting is a switch. */
const FLAG_OPTIONS = Object.fromEntries(SETTINGS.map((s) => [s.flag.slice(2), { type: s.kind === 'bool' ? 'boolean' : 'string' }] as const));

/** Parse `args` (`--flag value`, `--flag=value`, `--switch[=false]`) over `env`; throws ConfigError naming the setting. */
export function loadConfig(args: string[], env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  let flags: Record<string, string | boolean | undefined>;
  try {
    // `mesh proxy` is a mesh command: its flags are read by the one parser every command uses.
    flags = parseFlags(args, FLAG_OPTIONS, false).values;
  } catch (err) {
    if (err instanceof UsageError) throw new ConfigError(`${err.message} (mesh proxy --help lists the options)`, { cause: err });
    throw err;
  }
  const config: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const fromFlag = flags[s.flag.slice(2)];
    if (typeof fromFlag === 'boolean') {
      config[s.key] = fromFlag;
      continue;
    }
    const raw = fromFlag ?? (env[s.env] !== undefined && env[s.env] !== '' ? env[s.env] : s.default);
    if (raw === undefined) continue;
    config[s.key] = parseValue(s, raw, fromFlag !== undefined ? s.flag : env[s.env] !== undefined ? s.env : 'default');
  }
  if (config.ingressDefaultDst !== undefined && config.ingress !== true) {
    throw new ConfigError('--ingress-default-dst / MESH_PROXY_INGRESS_DEFAULT_DST is set but ingress mode is not: add --ingress / MESH_PROXY_INGRESS=true');
  }
  if (config.podIps !== undefined) {
    // As status.podIPs lists them: the pod IP first, then at most one address of the other family.
    // Anything else is a misconfiguration the registration would be refused for, so said here.
    // The list's shape is the injector's rule too (api/pod-ip-family.ts): one place says what it may be.
    const podIps = config.podIps as string[];
    if (podIps[0] !== config.podIp || podIpFamilyOf(podIps) === undefined) {
      throw new ConfigError(`--pod-ips / MESH_POD_IPS is ${podIps.join(',')}, but must list the pod IP (${String(config.podIp)}) first and then at most one address of the other family, as status.podIPs does`);
    }
  }
  if (config.transparent === true) {
    // REDIRECT in the OUTPUT chain delivers to 127.0.0.1: an outbound listener anywhere else never
    // sees the app's connections.
    config.outboundIp ??= '127.0.0.1';
    if (config.outboundIp !== '127.0.0.1' && config.outboundIp !== '0.0.0.0') {
      throw new ConfigError(`--transparent needs the outbound listener on 127.0.0.1 (where iptables REDIRECT delivers) or 0.0.0.0, but --outbound-ip / MESH_PROXY_OUTBOUND_IP is ${String(config.outboundIp)}`);
    }
  }
  return config as unknown as ProxyConfig;
}

function parseValue(s: Setting, raw: string, source: string): unknown {
  const bad = (want: string) => new ConfigError(`${source}="${raw}" is not ${want} (setting ${s.flag} / ${s.env})`);
  switch (s.kind) {
    case 'ip':
      // Node's own reading of an address (no 999.1.1.1, no 010.0.0.1, which some tools read as
      // octal, no ::::): a listener binds it and the registration announces it as written.
      if (isIP(raw) === 0) throw bad('an IPv4 or IPv6 address');
      return raw;
    case 'ips': {
      const list = raw.split(',').map((ip) => ip.trim()).filter(Boolean);
      const badOne = list.find((ip) => isIP(ip) === 0);
      if (badOne !== undefined || list.length === 0) throw bad(`a list of IP addresses${badOne === undefined ? '' : ` ("${badOne}" is not one)`}`);
      return list;
    }
    case 'port': {
      const n = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
      if (!(n >= 0 && n <= 65535)) throw bad('a port (0-65535)');
      return n;
    }
    case 'ms':
    case 'count': {
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!(n > 0 && Number.isSafeInteger(n))) throw bad(s.kind === 'ms' ? 'a positive number of milliseconds' : 'a positive integer');
      return n;
    }
    case 'path':
    case 'text':
      if (raw.trim() === '') throw bad('set (it is empty)');
      return raw.trim();
    case 'name':
      // A Kubernetes object name: it becomes a metric label value, so nothing else is let in.
      if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(raw.trim())) throw bad('a Kubernetes name (lowercase letters, digits, - and .)');
      return raw.trim();
    case 'addr': {
      // api/host-port.ts's grammar (which also takes `$(POD_IP):port` of an IPv6 pod, fd00::5:8086),
      // then only a DNS-like name or an IP as the host, and a port one can dial; written back
      // bracketed, as a URL and a dial need it.
      let hp: HostPort;
      try {
        hp = splitHostPort(raw.trim(), s.flag);
      } catch (err) {
        throw bad(`host:port (${err instanceof HostPortError ? err.reason : (err as Error).message})`);
      }
      if (isIP(hp.host) === 0 && !/^[A-Za-z0-9.-]+$/.test(hp.host)) throw bad(`host:port (the host "${hp.host}" is neither an IP address nor a DNS name)`);
      if (hp.port === 0) throw bad('host:port (port 0 names no port to dial)');
      return joinHostPort(hp.host, hp.port);
    }
    case 'spiffe':
      if (!/^spiffe:\/\/[a-z0-9.-]+\/ns\/[a-z0-9-]+\/sa\/[a-z0-9.-]+$/.test(raw.trim())) throw bad('a SPIFFE id spiffe://<trust-domain>/ns/<ns>/sa/<sa>');
      return raw.trim();
    case 'bool':
      if (!['true', 'false', '1', '0', ''].includes(raw)) throw bad('true or false');
      return raw === 'true' || raw === '1';
    case 'policy':
      if (!POLICIES.includes(raw as DefaultPolicy)) throw bad(POLICIES.join(' | '));
      return raw;
    case 'cidrs': {
      const list = raw.split(',').map((c) => c.trim()).filter(Boolean);
      // The mesh's one reading of a CIDR (api/cidr.ts), which policy matches with: an entry it
      // cannot read would admit nobody as in-cluster there, so it is refused here.
      for (const c of list) {
        try {
          readCidr(c);
        } catch (err) {
          throw bad(`a list of CIDRs ("${c}" is not one: ${err instanceof CidrError ? err.message : String(err)})`);
        }
      }
      return list;
    }
    case 'labels': {
      const labels: Record<string, string> = {};
      for (const pair of raw.split(',').filter((p) => p.trim() !== '')) {
        const m = /^\s*([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)\s*$/.exec(pair);
        if (!m) throw bad(`k=v,k=v labels ("${pair}" is not k=v)`);
        labels[m[1]!] = m[2]!;
      }
      return labels;
    }
    case 'port-ranges': {
      const ranges = parsePortRanges(raw);
      if (!ranges) throw bad('a list of ports and ranges such as 25,587,4000-4100');
      return ranges;
    }
    case 'ports': {
      const ports: Array<{ name?: string; port: number }> = [];
      for (const item of raw.split(',').filter((p) => p.trim() !== '')) {
        const m = /^\s*(?:([a-z0-9-]+):)?(\d{1,5})\s*$/.exec(item);
        const port = m ? Number(m[2]) : NaN;
        if (!m || !(port >= 1 && port <= 65535)) throw bad(`name:port,port ("${item}" is not a port)`);
        ports.push(m[1] ? { name: m[1], port } : { port });
      }
      return ports;
    }
  }
}
