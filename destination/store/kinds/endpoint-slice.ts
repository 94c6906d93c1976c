// discovery.k8s.io EndpointSlice (v1, and v1beta1 where a server has only that, as 1.20 does),
// read only in Kubernetes mode: the controller-manager's view of a Service's ready endpoints.
import { isIP } from 'node:net';
import { FieldError, Fields, shown } from '../field-reader.ts';
import type { EndpointSliceResource } from '../resources.ts';
import { checkVersion, readMeta, type ParseContext } from './meta.ts';

const SERVICE_NAME = 'kubernetes.io/service-name';

export function parseEndpointSlice(doc: Fields, ctx: ParseContext): EndpointSliceResource {
  checkVersion(doc, ['discovery.k8s.io/v1', 'discovery.k8s.io/v1beta1']);
  const meta = readMeta(doc, ctx);
  const service = meta.labels[SERVICE_NAME];
  if (!service) doc.object('metadata').object('labels').fail(SERVICE_NAME, 'is required: a slice names the Service it belongs to');
  const ports = doc.list('ports', (raw, path) => {
    const p = Fields.of(raw, path);
    // A slice port is only a number once the controller resolved the Service's targetPort on some pod.
    const port = p.optionalInteger('port', 1, 65535);
    return port === undefined ? undefined : { name: p.optionalString('name') ?? '', port };
  }).filter((p) => p !== undefined);
  const endpoints = doc.list('endpoints', (raw, path) => {
    const e = Fields.of(raw, path);
    const addresses = e.list('addresses', (a, ap) => {
      if (typeof a !== 'string' || !isIP(a)) throw new FieldError(ap, `must be an IP address, got ${shown(a)}`);
      return a;
    });
    // `ready` unset means ready, as the API documents ("should be interpreted as ready").
    const ready = e.optionalObject('conditions')?.optionalBoolean('ready') ?? true;
    const target = e.optionalObject('targetRef');
    const pod = target && target.raw['kind'] === 'Pod' ? target.optionalString('name') : undefined;
    return { addresses, ready, pod };
  });
  return { kind: 'EndpointSlice', meta, service, ports, endpoints };
}
