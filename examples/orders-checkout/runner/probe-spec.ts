// A container's probes as a Deployment declares them (readinessProbe, livenessProbe,
// startupProbe), with Kubernetes's fields, defaults and limits, each field checked where read.
import { FieldError, Fields, shown } from '../../../destination/store/field-reader.ts';

export type ProbeAction =
  | { kind: 'httpGet'; path: string; port: number; host?: string; scheme: 'HTTP' | 'HTTPS'; headers: Array<{ name: string; value: string }> }
  | { kind: 'tcpSocket'; port: number; host?: string }
  | { kind: 'grpc'; port: number; service: string };

export interface ProbeSpec {
  action: ProbeAction;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface ContainerProbes {
  readiness?: ProbeSpec;
  liveness?: ProbeSpec;
  startup?: ProbeSpec;
}

type Ports = Array<{ name?: string; containerPort: number }>;

const FIELDS = ['httpGet', 'tcpSocket', 'grpc', 'exec', 'initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold', 'terminationGracePeriodSeconds'];

/** Reads the three probes of a container; `ports` resolves a named port, as Kubernetes does. */
export function readProbes(container: Fields, ports: Ports): ContainerProbes {
  const probes: ContainerProbes = {};
  for (const [field, key] of [['readinessProbe', 'readiness'], ['livenessProbe', 'liveness'], ['startupProbe', 'startup']] as const) {
    const probe = container.optionalObject(field);
    if (probe) probes[key] = readProbe(probe, ports, key);
  }
  return probes;
}

function readProbe(probe: Fields, ports: Ports, kind: keyof ContainerProbes): ProbeSpec {
  for (const k of Object.keys(probe.raw)) if (!FIELDS.includes(k)) probe.fail(k, `unknown probe field (Kubernetes has ${FIELDS.join(', ')})`);
  const handlers = ['httpGet', 'tcpSocket', 'grpc', 'exec'].filter((h) => probe.has(h));
  if (handlers.length !== 1) throw new FieldError(probe.path, `must have exactly one of httpGet, tcpSocket, grpc, got ${handlers.length === 0 ? 'none' : handlers.join(' and ')}`);
  if (handlers[0] === 'exec') probe.fail('exec', 'exec probes are not supported here (the runner starts no shell in a container); use httpGet, tcpSocket or grpc');
  const port = (on: Fields): number => {
    const v = on.raw.port;
    if (typeof v === 'string') {
      const named = ports.find((p) => p.name === v);
      return named ? named.containerPort : on.fail('port', `names no port of the container (${ports.map((p) => p.name).filter(Boolean).join(', ') || 'it names none'})`);
    }
    return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535 ? (v as number) : on.fail('port', `must be a port number 1-65535 or a port name, got ${shown(v)}`);
  };
  let action: ProbeAction;
  if (handlers[0] === 'httpGet') {
    const h = probe.object('httpGet');
    const path = h.optionalString('path') ?? '/';
    if (!path.startsWith('/')) h.fail('path', `must be a path starting with "/", got ${shown(path)}`);
    const scheme = h.optionalString('scheme') ?? 'HTTP';
    // HTTPS as the kubelet does it: TLS without checking the certificate (a probe asks "alive?", not "who?").
    if (scheme !== 'HTTP' && scheme !== 'HTTPS') return h.fail('scheme', `must be HTTP or HTTPS, got ${shown(scheme)}`);
    const headers = h.list('httpHeaders', (x, at) => {
      const e = Fields.of(x, at);
      return { name: e.string('name'), value: e.optionalString('value') ?? '' };
    });
    action = { kind: 'httpGet', path, port: port(h), host: h.optionalString('host'), scheme, headers };
  } else if (handlers[0] === 'tcpSocket') {
    const t = probe.object('tcpSocket');
    action = { kind: 'tcpSocket', port: port(t), host: t.optionalString('host') };
  } else {
    const g = probe.object('grpc');
    if (typeof g.raw.port !== 'number') g.fail('port', `must be a port number (Kubernetes takes no name here), got ${shown(g.raw.port)}`);
    action = { kind: 'grpc', port: port(g), service: g.optionalString('service') ?? '' };
  }
  const int = (field: string, dflt: number, min: number): number => {
    const v = probe.raw[field] ?? dflt;
    return Number.isInteger(v) && (v as number) >= min ? (v as number) : probe.fail(field, `must be an integer of at least ${min}, got ${shown(v)}`);
  };
  const spec: ProbeSpec = {
    action,
    initialDelaySeconds: int('initialDelaySeconds', 0, 0),
    periodSeconds: int('periodSeconds', 10, 1),
    timeoutSeconds: int('timeoutSeconds', 1, 1),
    successThreshold: int('successThreshold', 1, 1),
    failureThreshold: int('failureThreshold', 3, 1),
  };
  // Kubernetes's validation: liveness and startup probes must have successThreshold 1.
  if (kind !== 'readiness' && spec.successThreshold !== 1) probe.fail('successThreshold', `must be 1 for a ${kind} probe, got ${spec.successThreshold}`);
  return spec;
}
