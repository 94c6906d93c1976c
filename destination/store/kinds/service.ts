// core/v1 Service: which registered pods it selects (by label) and how its ports map to theirs.
import { isIP } from 'node:net';
import { OPAQUE_PORTS_ANNOTATION } from '../reference-warnings.ts';
import { DEFAULT_FAILURE_ACCRUAL as DEFAULTS, type FailureAccrualPolicy } from '../../../api/destination-types.ts';
import { parsePortRanges } from '../../../api/port-ranges.ts';
import { durationMs, FieldError, Fields, shown } from '../field-reader.ts';
import { wholeNumber, wholeNumberRange } from '../../../api/whole-number.ts';
import type { ServiceResource } from '../resources.ts';
import { checkVersion, readMeta, type ParseContext } from './meta.ts';

/**
 * The `appProtocol` values the mesh acts on: the wire the app on the target port speaks, so the
 * inbound proxy can translate a request that arrived in the other HTTP version.
 */
const APP_PROTOCOLS: Readonly<Record<string, 'http/1.1' | 'h2'>> = { http: 'http/1.1', 'kubernetes.io/h2c': 'h2', grpc: 'h2' };

/** A value the mesh does not know is warned about and treated as absent (never breaks the port). */
function readAppProtocol(p: Fields, ctx: ParseContext): 'http/1.1' | 'h2' | undefined {
  const value = p.optionalString('appProtocol');
  if (value === undefined) return undefined;
  const known = APP_PROTOCOLS[value];
  if (known === undefined) {
    ctx.warn(p.at('appProtocol'), `${shown(value)} is not one the mesh knows (${Object.keys(APP_PROTOCOLS).join(', ')}); treated as absent: requests reach the app in the protocol they arrived in`);
  }
  return known;
}

export function parseService(doc: Fields, ctx: ParseContext): ServiceResource {
  checkVersion(doc, ['v1']);
  const meta = readMeta(doc, ctx);
  const spec = doc.object('spec');
  const selector = spec.has('selector') ? spec.stringMap('selector') : undefined;
  // The Service's virtual address: an app whose connection proxy-init redirected dialled it, and
  // the proxy asks about that address. `None` (headless) and `""` mean it has none.
  const rawClusterIp = spec.optionalString('clusterIP');
  if (rawClusterIp !== undefined && rawClusterIp !== '' && rawClusterIp !== 'None' && !isIP(rawClusterIp)) {
    spec.fail('clusterIP', `must be an IP address or None, got ${shown(rawClusterIp)}`);
  }
  const clusterIP = rawClusterIp === '' || rawClusterIp === 'None' ? undefined : rawClusterIp;
  const ports = spec.list('ports', (raw, path) => {
    const p = Fields.of(raw, path);
    const port = p.optionalInteger('port', 1, 65535) ?? p.fail('port', 'is required');
    const protocol = p.optionalString('protocol') ?? 'TCP';
    if (!['TCP', 'UDP', 'SCTP'].includes(protocol)) p.fail('protocol', `must be TCP, UDP or SCTP, got ${shown(protocol)}`);
    return { name: p.optionalString('name'), port, targetPort: p.portOrName('targetPort') ?? port, protocol, appProtocol: readAppProtocol(p, ctx) };
  });
  const seen = new Set<number>();
  ports.forEach((p, i) => {
    if (seen.has(p.port)) spec.fail(`ports[${i}].port`, `duplicates port ${p.port}`);
    seen.add(p.port);
  });
  if (ports.length > 1 && ports.some((p) => !p.name)) {
    spec.fail('ports', 'must each have a name when there is more than one (as Kubernetes requires)');
  }
  const opaque = meta.annotations[OPAQUE_PORTS_ANNOTATION];
  if (opaque !== undefined && parsePortRanges(opaque) === undefined) {
    ctx.warn(`metadata.annotations["${OPAQUE_PORTS_ANNOTATION}"]`, `${shown(opaque)} is not a list of ports and ranges such as 25,587,4000-4100; ignored`);
  }
  const failureAccrual = readFailureAccrual(meta.annotations, ctx);
  return { kind: 'Service', meta, selector, ports, ...(clusterIP ? { clusterIP } : {}), ...(failureAccrual ? { failureAccrual } : {}) };
}

/** Linkerd's circuit-breaking annotations on a Service, and its defaults for the ones not given. */
export const FAILURE_ACCRUAL_ANNOTATION = 'balancer.linkerd.io/failure-accrual';
const CONSECUTIVE = 'balancer.linkerd.io/failure-accrual-consecutive-';
/** Consecutive failures the wire's uint32 holds, and far more than any breaker needs. */
const MAX_FAILURES = 1_000_000;
const RATIO = /^[0-9]+(\.[0-9]+)?$/;

/**
 * The Service's circuit breaker: off unless `balancer.linkerd.io/failure-accrual: consecutive`
 * (as in Linkerd, where a failing answer alone never takes an endpoint out by default), with
 * `...-consecutive-max-failures`, `-min-penalty`, `-max-penalty` and `-jitter-ratio`. A value
 * that cannot be read is warned about and its default used: the Service itself still routes.
 */
function readFailureAccrual(a: Record<string, string>, ctx: ParseContext): FailureAccrualPolicy | undefined {
  const at = (key: string) => `metadata.annotations["${key}"]`;
  const mode = a[FAILURE_ACCRUAL_ANNOTATION];
  if (mode !== 'consecutive') {
    const tuned = Object.keys(a).find((k) => k.startsWith(CONSECUTIVE));
    if (mode !== undefined) ctx.warn(at(FAILURE_ACCRUAL_ANNOTATION), `${shown(mode)} is not a failure accrual the mesh knows (consecutive); circuit breaking stays off`);
    else if (tuned !== undefined) ctx.warn(at(tuned), `has no effect without ${FAILURE_ACCRUAL_ANNOTATION}: "consecutive"; circuit breaking stays off`);
    return undefined;
  }
  /** The annotation `suffix` read by `parse` (which says what is wrong by returning a reason), or its default with a warning. */
  const read = (suffix: string, fallback: number, fallbackText: string, parse: (raw: string, path: string) => number | string): number => {
    const raw = a[CONSECUTIVE + suffix];
    if (raw === undefined) return fallback;
    const value = parse(raw, at(CONSECUTIVE + suffix));
    if (typeof value === 'number') return value;
    ctx.warn(at(CONSECUTIVE + suffix), `${value}; using the default, ${fallbackText}`);
    return fallback;
  };
  const failures = (raw: string) => wholeNumber(raw, 1, MAX_FAILURES) ?? `${shown(raw)} is not ${wholeNumberRange(1, MAX_FAILURES)}`;
  // The mesh's one duration grammar and bounds (what the wire's uint32 of milliseconds holds).
  const penalty = (raw: string, path: string) => {
    try {
      return durationMs(raw, path) || `${shown(raw)} is not a positive duration such as 250ms or 30s`;
    } catch (err) {
      if (err instanceof FieldError) return err.problem;
      throw err;
    }
  };
  const ratio = (raw: string) => (RATIO.test(raw) && Number(raw) <= 1 ? Number(raw) : `${shown(raw)} is not a ratio from 0 to 1 in plain digits such as 0.25`);
  const policy: FailureAccrualPolicy = {
    consecutiveFailures: read('max-failures', DEFAULTS.consecutiveFailures, String(DEFAULTS.consecutiveFailures), failures),
    minBackoffMs: read('min-penalty', DEFAULTS.minBackoffMs, '1s', penalty),
    maxBackoffMs: read('max-penalty', DEFAULTS.maxBackoffMs, '1m', penalty),
    jitter: read('jitter-ratio', DEFAULTS.jitter, String(DEFAULTS.jitter), ratio),
  };
  if (policy.maxBackoffMs < policy.minBackoffMs) {
    ctx.warn(at(CONSECUTIVE + 'max-penalty'), `${policy.maxBackoffMs} ms is shorter than the min-penalty (${policy.minBackoffMs} ms); using the min-penalty for both`);
    policy.maxBackoffMs = policy.minBackoffMs;
  }
  return policy;
}
