// policy.linkerd.io Server: a port (number or container port name) on the pods a selector picks.
import { DEFAULT_POLICIES, isDefaultPolicy } from '../../../api/destination-types.ts';
import { shown } from '../field-reader.ts';
import type { Fields } from '../field-reader.ts';
import type { ServerResource } from '../resources.ts';
import { checkVersion, readMeta, readSelector, type ParseContext } from './meta.ts';

const PROTOCOLS = ['unknown', 'HTTP/1', 'HTTP/2', 'gRPC', 'opaque', 'TLS'];

export function parseServer(doc: Fields, ctx: ParseContext): ServerResource {
  checkVersion(doc, ['policy.linkerd.io/v1alpha1', 'policy.linkerd.io/v1beta1', 'policy.linkerd.io/v1beta2', 'policy.linkerd.io/v1beta3']);
  const meta = readMeta(doc, ctx);
  const spec = doc.object('spec');
  if (!spec.has('podSelector')) {
    if (spec.has('externalWorkloadSelector')) spec.fail('externalWorkloadSelector', 'is not supported here (no external workloads); use podSelector');
    spec.fail('podSelector', 'is required');
  }
  const podSelector = readSelector(spec.raw['podSelector'], spec.at('podSelector'));
  const port = spec.portOrName('port') ?? spec.fail('port', 'is required: a port number or a container port name');
  const protocol = spec.optionalString('proxyProtocol') ?? 'unknown';
  if (!PROTOCOLS.includes(protocol)) spec.fail('proxyProtocol', `must be one of ${PROTOCOLS.join(', ')}, got ${shown(protocol)}`);
  // TLS is opaque to the proxy: it cannot look inside an application's own TLS.
  const proxyProtocol = (protocol === 'TLS' ? 'opaque' : protocol) as ServerResource['proxyProtocol'];
  // Linkerd 2.15+: what callers no authorization admits get (Linkerd's default: deny).
  const access = spec.optionalString('accessPolicy') ?? 'deny';
  const accessPolicy = isDefaultPolicy(access) ? access : spec.fail('accessPolicy', `must be one of ${DEFAULT_POLICIES.join(', ')}, got ${shown(access)}`);
  return { kind: 'Server', meta, podSelector, port, proxyProtocol, accessPolicy };
}
