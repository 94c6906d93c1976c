// References that point at nothing, and resources that say different things about one port.
// Linkerd loads each of these without a word and the resource silently does nothing (or less than
// it says); here the destination's log and `mesh check` name the file, resource and field.
// Only what the folder alone can tell: a Server selecting no registered pod is the
// destination's to say (index/live-warnings.ts), since pods arrive by registration.
import { inPortRanges, parsePortRanges } from '../../api/port-ranges.ts';
import type { ResourceSet } from './resource-set.ts';
import { labelsMatch, resourceName, type Meta } from './resources.ts';

export const OPAQUE_PORTS_ANNOTATION = 'config.linkerd.io/opaque-ports';

const where = (meta: Meta) => `${meta.file}: ${meta.kind} ${meta.namespace}/${meta.name}`;

export function referenceWarnings(set: ResourceSet): string[] {
  return [...routeWarnings(set), ...authorizationWarnings(set), ...opaquePortWarnings(set)];
}

function routeWarnings(set: ResourceSet): string[] {
  const out: string[] = [];
  for (const route of [...set.ofKind('HTTPRoute'), ...set.ofKind('GRPCRoute')]) {
    route.parentRefs.forEach((p, i) => {
      const at = `${where(route.meta)}: spec.parentRefs[${i}]`;
      if (p.kind === 'Service' && !set.get('Service', p.namespace, p.name)) {
        out.push(`${at}: Service ${p.namespace}/${p.name} does not exist; the route applies to nothing until it does`);
      } else if (p.kind === 'Server' && !set.get('Server', p.namespace, p.name)) {
        out.push(`${at}: Server ${p.namespace}/${p.name} does not exist; the route applies to nothing until it does`);
      } else if (p.kind !== 'Service' && p.kind !== 'Server') {
        out.push(`${at}: kind ${p.kind} is not served here (only Service and Server parents); the route applies to nothing through it`);
      }
    });
    route.rules.forEach((rule, r) => {
      rule.backendRefs.forEach((b, i) => {
        if (b.kind === 'Service' && !set.get('Service', b.namespace, b.name)) {
          out.push(`${where(route.meta)}: spec.rules[${r}].backendRefs[${i}]: Service ${b.namespace}/${b.name} does not exist; its share of the rule's requests (weight ${b.weight}) is answered 500`);
        }
      });
    });
  }
  return out;
}

function authorizationWarnings(set: ResourceSet): string[] {
  const out: string[] = [];
  for (const ap of set.ofKind('AuthorizationPolicy')) {
    const t = ap.targetRef;
    const missing =
      (t.kind === 'Server' && !set.get('Server', t.namespace, t.name)) ||
      (t.kind === 'HTTPRoute' && !set.get('HTTPRoute', t.namespace, t.name)) ||
      (t.kind === 'GRPCRoute' && !set.get('GRPCRoute', t.namespace, t.name));
    if (missing) {
      out.push(`${where(ap.meta)}: spec.targetRef: ${t.kind} ${t.namespace}/${t.name} does not exist; the policy targets nothing and authorizes no one`);
    }
    ap.requiredAuthenticationRefs.forEach((ref, i) => {
      if ((ref.kind === 'MeshTLSAuthentication' || ref.kind === 'NetworkAuthentication') && !set.get(ref.kind, ref.namespace, ref.name)) {
        out.push(`${where(ap.meta)}: spec.requiredAuthenticationRefs[${i}]: ${ref.kind} ${ref.namespace}/${ref.name} does not exist; the policy authorizes no one until it does (as Linkerd)`);
      }
    });
  }
  for (const sa of set.ofKind('ServerAuthorization')) {
    const ns = sa.meta.namespace;
    if (sa.server.name !== undefined && !set.get('Server', ns, sa.server.name)) {
      out.push(`${where(sa.meta)}: spec.server.name: Server ${ns}/${sa.server.name} does not exist; the authorization applies to nothing`);
    } else if (sa.server.name === undefined && sa.server.selector && !set.ofKind('Server').some((s) => s.meta.namespace === ns && labelsMatch(sa.server.selector!, s.meta.labels))) {
      out.push(`${where(sa.meta)}: spec.server.selector: selects no Server in namespace ${ns}; the authorization applies to nothing`);
    }
  }
  return out;
}

/** A Server that does not say opaque, on a port a Service selecting the same pods marks opaque. */
function opaquePortWarnings(set: ResourceSet): string[] {
  const out: string[] = [];
  for (const svc of set.ofKind('Service')) {
    const raw = svc.meta.annotations[OPAQUE_PORTS_ANNOTATION];
    if (raw === undefined || !svc.selector) continue;
    const ranges = parsePortRanges(raw);
    if (!ranges) continue; // the Service's parser already warned
    for (const server of set.ofKind('Server')) {
      if (server.meta.namespace !== svc.meta.namespace || typeof server.port !== 'number') continue;
      if (server.proxyProtocol === 'opaque' || !labelsMatch(server.podSelector, svc.selector)) continue;
      // The annotation names the Service's ports; the Server names the pod's (the target port).
      const targeted = svc.ports.some((p) => inPortRanges(p.port, ranges) && p.targetPort === server.port);
      if (targeted) {
        out.push(
          `${where(server.meta)}: spec.proxyProtocol: port ${server.port} is ${server.proxyProtocol} here but opaque in ${resourceName({ kind: 'Service', namespace: svc.meta.namespace, name: svc.meta.name })}'s ${OPAQUE_PORTS_ANNOTATION} (${svc.meta.file}); the Server's proxyProtocol is what the pod's proxy uses`,
        );
      }
    }
  }
  return out;
}
