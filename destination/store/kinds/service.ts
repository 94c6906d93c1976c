// core/v1 Service: which registered pods it selects (by label) and how its ports map to theirs.
import { isIP } from 'node:net';
import { OPAQUE_PORTS_ANNOTATION } from '../reference-warnings.ts';
import { parsePortRanges } from '../../../api/port-ranges.ts';
import { Fields, shown } from '../field-reader.ts';
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
  return { kind: 'Service', meta, selector, ports, ...(clusterIP ? { clusterIP } : {}) };
}
