// A container's probes as a Deployment declares them (readinessProbe, livenessProbe,
// startupProbe), with Kubernetes's fields, defaults and limits, each field checked where read.

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

type Obj = Record<string, unknown>;
type Fail = (path: string, problem: string) => never;

const FIELDS = ['httpGet', 'tcpSocket', 'grpc', 'exec', 'initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold', 'terminationGracePeriodSeconds'];

/** Reads the three probes of a container; `ports` resolves a named port, as Kubernetes does. */
export function readProbes(container: Obj, path: string, ports: Array<{ name?: string; containerPort: number }>, fail: Fail): ContainerProbes {
  const probes: ContainerProbes = {};
  for (const [field, key] of [['readinessProbe', 'readiness'], ['livenessProbe', 'liveness'], ['startupProbe', 'startup']] as const) {
    if (container[field] === undefined) continue;
    probes[key] = readProbe(container[field], `${path}.${field}`, ports, fail, key);
  }
  return probes;
}

function readProbe(value: unknown, path: string, ports: Array<{ name?: string; containerPort: number }>, fail: Fail, kind: keyof ContainerProbes): ProbeSpec {
  const probe = mapping(value, path, fail);
  for (const k of Object.keys(probe)) if (!FIELDS.includes(k)) fail(`${path}.${k}`, `unknown probe field (Kubernetes has ${FIELDS.join(', ')})`);
  const handlers = ['httpGet', 'tcpSocket', 'grpc', 'exec'].filter((h) => probe[h] !== undefined);
  if (handlers.length !== 1) fail(path, `must have exactly one of httpGet, tcpSocket, grpc, got ${handlers.length === 0 ? 'none' : handlers.join(' and ')}`);
  if (handlers[0] === 'exec') fail(`${path}.exec`, 'exec probes are not supported here (the runner starts no shell in a container); use httpGet, tcpSocket or grpc');
  const port = (v: unknown, at: string): number => {
    if (typeof v === 'string') {
      const named = ports.find((p) => p.name === v);
      return named ? named.containerPort : fail(at, `names no port of the container (${ports.map((p) => p.name).filter(Boolean).join(', ') || 'it names none'})`);
    }
    return Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535 ? (v as number) : fail(at, `must be a port number 1-65535 or a port name, got ${JSON.stringify(v) ?? 'nothing'}`);
  };
  let action: ProbeAction;
  if (handlers[0] === 'httpGet') {
    const h = mapping(probe.httpGet, `${path}.httpGet`, fail);
    const p = h.path ?? '/';
    if (typeof p !== 'string' || !p.startsWith('/')) fail(`${path}.httpGet.path`, `must be a path starting with "/", got ${JSON.stringify(p)}`);
    // HTTPS as the kubelet does it: TLS without checking the certificate (a probe asks "alive?", not "who?").
    if (h.scheme !== undefined && h.scheme !== 'HTTP' && h.scheme !== 'HTTPS') fail(`${path}.httpGet.scheme`, `must be HTTP or HTTPS, got ${JSON.stringify(h.scheme)}`);
    const headers = ((h.httpHeaders ?? []) as unknown[]);
    if (!Array.isArray(headers)) fail(`${path}.httpGet.httpHeaders`, 'must be a list of {name, value}');
    action = {
      kind: 'httpGet', path: p as string, port: port(h.port, `${path}.httpGet.port`), host: optionalString(h.host, `${path}.httpGet.host`, fail), scheme: (h.scheme ?? 'HTTP') as 'HTTP' | 'HTTPS',
      headers: headers.map((x, i) => {
        const e = mapping(x, `${path}.httpGet.httpHeaders[${i}]`, fail);
        if (typeof e.name !== 'string' || typeof e.value !== 'string') fail(`${path}.httpGet.httpHeaders[${i}]`, 'must have a string name and value');
        return { name: e.name as string, value: e.value as string };
      }),
    };
  } else if (handlers[0] === 'tcpSocket') {
    const t = mapping(probe.tcpSocket, `${path}.tcpSocket`, fail);
    action = { kind: 'tcpSocket', port: port(t.port, `${path}.tcpSocket.port`), host: optionalString(t.host, `${path}.tcpSocket.host`, fail) };
  } else {
    const g = mapping(probe.grpc, `${path}.grpc`, fail);
    if (typeof g.port !== 'number') fail(`${path}.grpc.port`, `must be a port number (Kubernetes takes no name here), got ${JSON.stringify(g.port) ?? 'nothing'}`);
    action = { kind: 'grpc', port: port(g.port, `${path}.grpc.port`), service: optionalString(g.service, `${path}.grpc.service`, fail) ?? '' };
  }
  const int = (field: string, dflt: number, min: number): number => {
    const v = probe[field] ?? dflt;
    return Number.isInteger(v) && (v as number) >= min ? (v as number) : fail(`${path}.${field}`, `must be an integer of at least ${min}, got ${JSON.stringify(v)}`);
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
  if (kind !== 'readiness' && spec.successThreshold !== 1) fail(`${path}.successThreshold`, `must be 1 for a ${kind} probe, got ${spec.successThreshold}`);
  return spec;
}

function mapping(v: unknown, path: string, fail: Fail): Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : fail(path, `must be a mapping, got ${JSON.stringify(v) ?? 'nothing'}`);
}

function optionalString(v: unknown, path: string, fail: Fail): string | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' && v !== '' ? v : fail(path, `must be a non-empty string, got ${JSON.stringify(v)}`);
}
