// Virtual addresses for the demo's Services where apps are intercepted (compose): what a cluster's
// Service controller and DNS do. Each Service gets a clusterIP, the manifests the destination
// serves carry it, and each pod resolves `<svc>.<ns>.svc.cluster.local` to it from /etc/hosts.
// No interface has these addresses: an app's connection to one is redirected to its proxy, which
// reads the address back (SO_ORIGINAL_DST) and asks the destination what Service it stands for.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, parseAllDocuments } from 'yaml';
import { codedError } from '../../../api/errors.ts';

/** Kubernetes's usual Service range (kubeadm's 10.96.0.0/12): never on the compose network. */
export const clusterIpBase = '10.96.0';
const firstHost = 10;

export class ClusterIpError extends codedError('CLUSTER_IP') {}

export interface ServiceAddress {
  name: string;
  namespace: string;
  clusterIP: string;
  /** `<name>.<namespace>.svc.cluster.local`, what the apps dial. */
  host: string;
}

const manifestFiles = (dir: string) => readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f)).sort();

/** Every Service of the manifests in `dir`, in file then document order, each with its clusterIP. */
export function serviceAddresses(dir: string): ServiceAddress[] {
  const out: ServiceAddress[] = [];
  for (const file of manifestFiles(dir)) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const r = doc.toJS() as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
      if (r?.kind !== 'Service') continue;
      const name = String(r.metadata?.name ?? '');
      const namespace = String(r.metadata?.namespace ?? 'default');
      if (!name) throw new ClusterIpError(`${join(dir, file)}: a Service without metadata.name`);
      const n = firstHost + out.length;
      if (n > 254) throw new ClusterIpError(`${join(dir, file)}: more Services than ${clusterIpBase}.${firstHost}-254 holds`);
      out.push({ name, namespace, clusterIP: `${clusterIpBase}.${n}`, host: `${name}.${namespace}.svc.cluster.local` });
    }
  }
  return out;
}

/**
 * Copies the manifests of `from` to `to`, each Service with its spec.clusterIP set (comments and
 * everything else kept), and returns the addresses given. A Service that already names a
 * clusterIP keeps it only if it is the one assigned here: two sources of truth would drift.
 */
export function writeManifestsWithClusterIps(from: string, to: string): ServiceAddress[] {
  const addresses = serviceAddresses(from);
  const byKey = new Map(addresses.map((a) => [`${a.namespace}/${a.name}`, a]));
  mkdirSync(to, { recursive: true });
  for (const file of manifestFiles(from)) {
    const text = readFileSync(join(from, file), 'utf8');
    const docs = parseAllDocuments(text);
    if (!docs.some((d) => (d.toJS() as { kind?: unknown } | null)?.kind === 'Service')) {
      writeFileSync(join(to, file), text);
      continue;
    }
    for (const doc of docs) {
      const r = doc.toJS() as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown }; spec?: { clusterIP?: unknown } } | null;
      if (r?.kind !== 'Service' || !isMap(doc.contents)) continue;
      const a = byKey.get(`${String(r.metadata?.namespace ?? 'default')}/${String(r.metadata?.name)}`)!;
      const given = r.spec?.clusterIP;
      if (given !== undefined && given !== '' && given !== a.clusterIP) {
        throw new ClusterIpError(`${join(from, file)}: Service ${a.namespace}/${a.name} names clusterIP ${String(given)}; the compose demo assigns ${a.clusterIP} itself (leave spec.clusterIP out)`);
      }
      doc.setIn(['spec', 'clusterIP'], a.clusterIP);
    }
    writeFileSync(join(to, file), docs.map((d) => d.toString()).join(''));
  }
  return addresses;
}
