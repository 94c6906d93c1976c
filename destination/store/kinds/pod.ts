// core/v1 Pod, read only in development mode, where no proxy registers: each Pod stands for the
// registration its proxy would have sent (address, labels, ports, service account).
import { isIP } from 'node:net';
import { Fields, shown } from '../field-reader.ts';
import type { PodResource } from '../resources.ts';
import { checkVersion, readMeta, type ParseContext } from './meta.ts';

/** The port the injector names for the proxy's inbound side; 4143 when a Pod does not name it. */
const INBOUND_PORT_NAME = 'mesh-inbound';
const DEFAULT_INBOUND_PORT = 4143;
/** The injector's mark on a pod it added the proxy to. */
const PROXY_VERSION = 'linkerd.io/proxy-version';

export function parsePod(doc: Fields, ctx: ParseContext): PodResource {
  checkVersion(doc, ['v1']);
  const meta = readMeta(doc, ctx);
  const spec = doc.object('spec');
  let inboundPort = DEFAULT_INBOUND_PORT;
  let inboundNamed = false;
  const ports: PodResource['ports'] = [];
  spec.list('containers', (raw, path) =>
    Fields.of(raw, path).list('ports', (rawPort, portPath) => {
      const p = Fields.of(rawPort, portPath);
      const port = p.optionalInteger('containerPort', 1, 65535) ?? p.fail('containerPort', 'is required');
      const name = p.optionalString('name');
      // The injected proxy's own ports (mesh-outbound, mesh-admin) are no app's ports.
      if (name === INBOUND_PORT_NAME) {
        inboundPort = port;
        inboundNamed = true;
      }
      else if (!name?.startsWith('mesh-')) ports.push(name ? { name, port } : { port });
    }),
  );
  const status = doc.object('status');
  const ip = status.string('podIP');
  if (!isIP(ip)) status.fail('podIP', `must be an IP address, got ${shown(ip)}`);
  // Dual-stack: podIPs lists podIP first, then the address of the other family.
  const podIps = status.list('podIPs', (raw, path) => Fields.of(raw, path).string('ip'));
  const otherIps = podIps.filter((other) => other !== ip);
  for (const [i, other] of podIps.entries()) {
    if (other !== ip && (isIP(other) === 0 || isIP(other) === isIP(ip))) status.fail(`podIPs[${i}].ip`, `must be an IP address of the family podIP is not, got ${shown(other)}`);
  }
  // Kubernetes mode: the kubelet's Ready condition (absent in a file, where no kubelet runs: Ready).
  const readyCondition = status.list('conditions', (raw, path) => Fields.of(raw, path)).find((c) => c.raw['type'] === 'Ready');
  const ready = readyCondition ? readyCondition.raw['status'] === 'True' : undefined;
  const meshed = meta.annotations[PROXY_VERSION] !== undefined || inboundNamed;
  return { kind: 'Pod', meta, ip, otherIps, serviceAccount: spec.optionalString('serviceAccountName') || 'default', inboundPort, ports, ready, meshed };
}
