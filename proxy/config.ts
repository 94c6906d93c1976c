// Every setting of `mesh proxy`, from flags or environment variables (flags win), checked once
// at start so a typo is an error naming the setting, not a surprise later.

export interface ProxyConfig {
  /** The pod address all three listeners bind, and where the app listens. */
  podIp: string;
  outboundPort: number;
  inboundPort: number;
  adminPort: number;
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
  /** Longest wait for discovery's first answer about a new authority. */
  discoveryTimeoutMs: number;
  /** Most authorities the outbound side keeps a stack for. */
  maxTargets: number;
  /** Most HTTP/1.1 connections per endpoint (proxy to proxy, and inbound to app). */
  http1PoolSize: number;
}

interface Setting {
  key: keyof ProxyConfig;
  flag: string;
  env: string;
  kind: 'ip' | 'port' | 'ms' | 'count' | 'path';
  default?: string;
  help: string;
}

/** The table proxy/README.md documents; `mesh proxy --help` prints it. */
export const SETTINGS: readonly Setting[] = [
  { key: 'podIp', flag: '--pod-ip', env: 'MESH_POD_IP', kind: 'ip', default: '127.0.0.1', help: 'pod address: listeners bind it, the app listens on it' },
  { key: 'outboundPort', flag: '--outbound-port', env: 'MESH_PROXY_OUTBOUND_PORT', kind: 'port', default: '4140', help: 'outbound listener (app -> mesh); 0 picks a free port' },
  { key: 'inboundPort', flag: '--inbound-port', env: 'MESH_PROXY_INBOUND_PORT', kind: 'port', default: '4143', help: 'inbound listener (mesh -> app); 0 picks a free port' },
  { key: 'adminPort', flag: '--admin-port', env: 'MESH_PROXY_ADMIN_PORT', kind: 'port', default: '4191', help: 'admin listener: /metrics /ready /live POST /shutdown' },
  { key: 'defaultAppPort', flag: '--app-port', env: 'MESH_PROXY_APP_PORT', kind: 'port', help: 'app port for inbound requests without l5d-dst-port' },
  { key: 'endpointsFile', flag: '--endpoints-file', env: 'MESH_PROXY_ENDPOINTS_FILE', kind: 'path', help: 'static endpoints file (development mode, instead of the destination service)' },
  { key: 'detectTimeoutMs', flag: '--detect-timeout-ms', env: 'MESH_PROXY_DETECT_TIMEOUT_MS', kind: 'ms', default: '10000', help: 'wait for a connection\'s first bytes before treating it as opaque' },
  { key: 'headersTimeoutMs', flag: '--headers-timeout-ms', env: 'MESH_PROXY_HEADERS_TIMEOUT_MS', kind: 'ms', default: '10000', help: 'wait for a complete HTTP/1 request head (then 408)' },
  { key: 'keepAliveTimeoutMs', flag: '--keepalive-timeout-ms', env: 'MESH_PROXY_KEEPALIVE_TIMEOUT_MS', kind: 'ms', default: '60000', help: 'idle client connections close after this' },
  { key: 'maxHeaderBytes', flag: '--max-header-bytes', env: 'MESH_PROXY_MAX_HEADER_BYTES', kind: 'count', default: '65536', help: 'largest request head accepted (then 431)' },
  { key: 'shutdownGraceMs', flag: '--shutdown-grace-ms', env: 'MESH_PROXY_SHUTDOWN_GRACE_MS', kind: 'ms', default: '10000', help: 'how long shutdown lets in-flight requests finish' },
  { key: 'discoveryTimeoutMs', flag: '--discovery-timeout-ms', env: 'MESH_PROXY_DISCOVERY_TIMEOUT_MS', kind: 'ms', default: '3000', help: 'wait for discovery\'s first answer about an authority (then 503)' },
  { key: 'http1PoolSize', flag: '--http1-pool-size', env: 'MESH_PROXY_HTTP1_POOL_SIZE', kind: 'count', default: '256', help: 'most HTTP/1.1 connections per endpoint; keep it at or above peak concurrency' },
  { key: 'maxTargets', flag: '--max-targets', env: 'MESH_PROXY_MAX_TARGETS', kind: 'count', default: '10000', help: 'authorities the outbound side keeps a stack for (LRU)' },
];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
}

/** Parse `args` (`--flag value` or `--flag=value`) over `env`; throws ConfigError naming the setting. */
export function loadConfig(args: string[], env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (!SETTINGS.some((s) => s.flag === flag)) throw new ConfigError(`unknown option "${flag}" (mesh proxy --help lists them)`);
    const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
    if (value === undefined) throw new ConfigError(`option ${flag} needs a value`);
    flags.set(flag, value);
  }
  const config: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const fromFlag = flags.get(s.flag);
    const raw = fromFlag ?? (env[s.env] !== undefined && env[s.env] !== '' ? env[s.env] : s.default);
    if (raw === undefined) continue;
    config[s.key] = parseValue(s, raw, fromFlag !== undefined ? s.flag : env[s.env] !== undefined ? s.env : 'default');
  }
  return config as unknown as ProxyConfig;
}

function parseValue(s: Setting, raw: string, source: string): string | number {
  const bad = (want: string) => new ConfigError(`${source}="${raw}" is not ${want} (setting ${s.flag} / ${s.env})`);
  switch (s.kind) {
    case 'ip':
      if (!/^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:]+$/.test(raw)) throw bad('an IP address');
      return raw;
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
      return raw;
  }
}
