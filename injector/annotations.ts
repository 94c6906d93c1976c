import { DEFAULT_POLICIES } from '../api/destination-types.ts';
import { parsePortRanges } from '../api/port-ranges.ts';
import { parseCidr } from '../api/cidr.ts';
// The annotations the injector reads (linkerd.io/inject, config.linkerd.io/* overrides) and writes
// (markers); overrides are parsed here, and a bad value becomes a warning, never a failed deploy.

export const INJECT = 'linkerd.io/inject';
export const PROXY_VERSION = 'linkerd.io/proxy-version';
export const IDENTITY_MODE = 'linkerd.io/identity-mode';

/** Overrides an operator may put on a namespace (inherited) or a pod template (wins). */
export const CONFIG = {
  proxyImage: 'config.linkerd.io/proxy-image',
  proxyVersion: 'config.linkerd.io/proxy-version',
  logLevel: 'config.linkerd.io/proxy-log-level',
  defaultInboundPolicy: 'config.linkerd.io/default-inbound-policy',
  skipInboundPorts: 'config.linkerd.io/skip-inbound-ports',
  skipOutboundPorts: 'config.linkerd.io/skip-outbound-ports',
  opaquePorts: 'config.linkerd.io/opaque-ports',
  skipSubnets: 'config.linkerd.io/skip-subnets',
  cpuRequest: 'config.linkerd.io/proxy-cpu-request',
  cpuLimit: 'config.linkerd.io/proxy-cpu-limit',
  memoryRequest: 'config.linkerd.io/proxy-memory-request',
  memoryLimit: 'config.linkerd.io/proxy-memory-limit',
  nativeSidecar: 'config.alpha.linkerd.io/proxy-enable-native-sidecar',
  waitBeforeExitSeconds: 'config.alpha.linkerd.io/proxy-wait-before-exit-seconds',
} as const;

/** The same setting as the Linkerd lesson spells it, without `alpha`: read too. */
const WAIT_BEFORE_EXIT_LESSON = 'config.linkerd.io/proxy-wait-before-exit-seconds';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
/** The proxy and the destination accept exactly these (one list, in api/). */
export const INBOUND_POLICIES = DEFAULT_POLICIES;

/** What the sidecar of one workload looks like, after defaults, namespace and pod overrides. */
export interface ProxyConfig {
  imageName: string;
  version: string;
  logLevel: string;
  defaultInboundPolicy: string;
  /** Normalised port lists (`25,587,4000-4100`), empty when not set. */
  skipInboundPorts: string;
  skipOutboundPorts: string;
  opaquePorts: string;
  /** Sources whose inbound connections proxy-init lets reach the app directly: normalised CIDRs of either family, empty when not set. */
  skipSubnets: string;
  resources: { requests: { cpu: string; memory: string }; limits: { cpu?: string; memory: string } };
  nativeSidecar: boolean;
  /** Seconds the proxy keeps running after the pod is told to stop (a preStop sleep, as Linkerd's); 0: none. */
  waitBeforeExitSeconds: number;
}

const CPU = /^(\d+m|\d+(\.\d+)?)$/;
const MEMORY = /^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const IMAGE_NAME = /^[a-z0-9][a-z0-9._\-/:]*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** Layers pod annotations over namespace annotations over defaults; each bad value is named in `warnings`. */
export function proxyConfig(
  defaults: ProxyConfig,
  namespaceAnnotations: Record<string, string>,
  podAnnotations: Record<string, string>,
): { config: ProxyConfig; warnings: string[] } {
  const warnings: string[] = [];
  const config = structuredClone(defaults);
  const read = (key: string, accept: (v: string) => string | undefined, expected: string): string | undefined => {
    const raw = podAnnotations[key] ?? namespaceAnnotations[key];
    if (raw === undefined) return undefined;
    const value = accept(raw.trim());
    if (value === undefined) warnings.push(`annotation ${key}="${raw}" ignored: expected ${expected}`);
    return value;
  };
  const matching = (re: RegExp) => (v: string) => (re.test(v) ? v : undefined);
  const oneOf = (list: readonly string[]) => (v: string) => (list.includes(v.toLowerCase()) ? v.toLowerCase() : undefined);

  config.imageName = read(CONFIG.proxyImage, matching(IMAGE_NAME), 'an image name') ?? config.imageName;
  config.version = read(CONFIG.proxyVersion, matching(TAG), 'an image tag') ?? config.version;
  config.logLevel = read(CONFIG.logLevel, oneOf(LOG_LEVELS), `one of ${LOG_LEVELS.join(', ')}`) ?? config.logLevel;
  config.defaultInboundPolicy =
    read(CONFIG.defaultInboundPolicy, oneOf(INBOUND_POLICIES), `one of ${INBOUND_POLICIES.join(', ')}`) ??
    config.defaultInboundPolicy;
  const ports = 'a comma-separated list of ports or ranges such as 25,587,4000-4100';
  config.skipInboundPorts = read(CONFIG.skipInboundPorts, portList, ports) ?? config.skipInboundPorts;
  config.skipOutboundPorts = read(CONFIG.skipOutboundPorts, portList, ports) ?? config.skipOutboundPorts;
  config.opaquePorts = read(CONFIG.opaquePorts, portList, ports) ?? config.opaquePorts;
  config.skipSubnets = read(CONFIG.skipSubnets, cidrList, 'a comma-separated list of CIDRs such as 10.244.0.0/16,fd00:10:244::/56') ?? config.skipSubnets;
  const { requests, limits } = config.resources;
  requests.cpu = read(CONFIG.cpuRequest, matching(CPU), 'a CPU quantity such as 100m or 1') ?? requests.cpu;
  const cpuLimit = read(CONFIG.cpuLimit, matching(CPU), 'a CPU quantity such as 500m or 1');
  if (cpuLimit !== undefined) limits.cpu = cpuLimit;
  requests.memory = read(CONFIG.memoryRequest, matching(MEMORY), 'a memory quantity such as 64Mi') ?? requests.memory;
  limits.memory = read(CONFIG.memoryLimit, matching(MEMORY), 'a memory quantity such as 250Mi') ?? limits.memory;
  const native = read(CONFIG.nativeSidecar, oneOf(['true', 'false']), 'true or false');
  if (native !== undefined) config.nativeSidecar = native === 'true';
  // Two spellings of one setting: the pod's wins over the namespace's whichever spelling each
  // uses, and within one of them the alpha key wins.
  const waitKeys = [CONFIG.waitBeforeExitSeconds, WAIT_BEFORE_EXIT_LESSON];
  const waitKey = waitKeys.find((k) => podAnnotations[k] !== undefined) ?? waitKeys.find((k) => namespaceAnnotations[k] !== undefined);
  const wait = waitKey && read(waitKey, matching(/^\d{1,5}$/), 'a whole number of seconds such as 0 or 30');
  if (wait) config.waitBeforeExitSeconds = Number(wait);
  return { config, warnings };
}

/** `10.1.0.0/16, FD00::/8` -> `10.1.0.0/16,fd00::/8`; undefined when any entry is not a CIDR as its tool reads it. */
export function cidrList(value: string): string | undefined {
  // The mesh's one reading (api/cidr.ts), proxy-init's too, so the annotation accepts what proxy-init will.
  const cidrs = value.split(',').map((entry) => parseCidr(entry.trim()));
  return cidrs.every((c) => c !== undefined) ? cidrs.map((c) => c.text).join(',') : undefined;
}

/** `25, 587,4000-4100` -> `25,587,4000-4100`; undefined when any entry is not a port or an ordered range. */
export function portList(value: string): string | undefined {
  // One grammar for port lists (api/port-ranges.ts); this keeps the annotation's own spelling.
  const ranges = parsePortRanges(value);
  return ranges?.map(([low, high]) => (low === high ? `${low}` : `${low}-${high}`)).join(',');
}
