// `mesh injector serve`: runs the mutating admission webhook (HTTPS, POST /inject) until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { splitHostPort, type HostPort } from '../../api/host-port.ts';
import { createLogger } from '../../api/log.ts';
import { namespaceAnnotationsFrom } from '../../injector/namespaces.ts';
import { splitPemCertificates } from '../../identity/ca-validate.ts';
import { clusterFacts, type ClusterFacts } from '../../injector/cluster.ts';
import { CAPTURE_MODES, defaultInjectOptions, MESH_IMAGE, meshVersion } from '../../injector/options.ts';
import { parsePodIpFamily, POD_IP_FAMILY_EXPECTED, podIpFamilyOf, type PodIpFamily } from '../../api/pod-ip-family.ts';
import { startWebhook } from '../../injector/webhook.ts';
import { parseYamlDocuments } from '../../injector/yaml-documents.ts';
import { parseCommandArgs, runCommand, UsageError, type CommandValues } from '../args.ts';
import { stopSignal } from '../stop-signal.ts';

export const summary = 'run the sidecar injector (HTTPS mutating admission webhook)';

const USAGE = `usage: mesh injector serve --cert FILE --key FILE [--addr 127.0.0.1:8443] [--namespaces FILE | --kubernetes] [options]
  --cert, --key      PEM certificate and key the webhook serves (the API server must trust the cert)
  --addr             host:port to listen on (default 127.0.0.1:8443; port 0 picks a free one)
  --namespaces       YAML with Namespace objects whose annotations apply (linkerd.io/inject, config.linkerd.io/*)
  --kubernetes       in a cluster: each pod's Namespace is read from the API server, apps are captured
                     with proxy-init, proxies are native sidecars where the server has them (1.29+)
  --kubeconfig FILE  with --kubernetes (default $KUBECONFIG, else the pod's in-cluster account)
  --trust-anchors F  PEM anchors, put in every proxy's environment (else each pod mounts the ConfigMap)
  --capture MODE     iptables (proxy-init) or http-proxy (HTTP_PROXY); default iptables with --kubernetes
  --pod-ip-family F  IPv4, IPv6, or dual-stack IPv4,IPv6 / IPv6,IPv4 (primary first): the pods' address
                     families, so HTTP_PROXY brackets an IPv6 POD_IP and proxy-init covers IPv6 (--ipv6)
                     (default: the families of --pod-ips, else the family of --addr's host)
  --pod-ips LIST     the injector's own pod's addresses (status.podIPs, primary first): in a cluster
                     every pod has the same families, so theirs are the pods' (mesh install sets it)
  --proxy-image      the proxy image, without tag (default ${MESH_IMAGE})
  --proxy-version    its tag (default ${meshVersion()})
  --trust-domain TD  default cluster.local
  --cluster-domain D default cluster.local`;

const OPTIONS = {
  cert: { type: 'string' },
  key: { type: 'string' },
  addr: { type: 'string', default: '127.0.0.1:8443' },
  namespaces: { type: 'string' },
  kubernetes: { type: 'boolean', default: false },
  kubeconfig: { type: 'string' },
  'trust-anchors': { type: 'string' },
  capture: { type: 'string' },
  'pod-ip-family': { type: 'string' },
  'pod-ips': { type: 'string' },
  'proxy-image': { type: 'string' },
  'proxy-version': { type: 'string' },
  'trust-domain': { type: 'string', default: 'cluster.local' },
  'cluster-domain': { type: 'string', default: 'cluster.local' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('injector serve', USAGE, async () => serve(parseCommandArgs(args, OPTIONS).values));
}

/** Serves until SIGINT/SIGTERM; a bad flag throws UsageError (exit 2); a missing or unreadable file is logged and exits 1. */
async function serve(values: CommandValues<typeof OPTIONS>): Promise<number> {
  const logger = createLogger('injector');
  const fail = (message: string): number => {
    logger.error(message);
    console.error(`mesh injector serve: ${message}`);
    return 1;
  };
  // A bad flag is a usage error (exit 2, with the usage), as `mesh inject` says it; only what
  // cannot be read or served (a missing file, a port in use) exits 1.
  if (!values.cert || !values.key) throw new UsageError('--cert and --key are required');
  let addr: HostPort;
  try {
    addr = splitHostPort(values.addr, '--addr');
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err });
  }

  if (values.kubernetes && values.namespaces) throw new UsageError('--namespaces and --kubernetes exclude each other: in a cluster the namespaces come from the API server');
  const capture = CAPTURE_MODES.find((mode) => mode === (values.capture ?? (values.kubernetes ? 'iptables' : 'http-proxy')));
  if (capture === undefined) throw new UsageError(`--capture must be ${CAPTURE_MODES.join(' or ')}, got "${values.capture}"`);

  let podIpFamily: PodIpFamily | undefined;
  if (values['pod-ip-family'] !== undefined) {
    podIpFamily = parsePodIpFamily(values['pod-ip-family']);
    if (podIpFamily === undefined) throw new UsageError(`--pod-ip-family must be ${POD_IP_FAMILY_EXPECTED}, got "${values['pod-ip-family']}"`);
  } else if (values['pod-ips']) {
    // In a cluster `$(MESH_POD_IPS)`, the injector's own status.podIPs: every pod of the cluster has
    // addresses of the same families, in the same order, so a dual-stack cluster is seen as one.
    podIpFamily = podIpFamilyOf(values['pod-ips'].split(',').map((ip) => ip.trim()));
    if (podIpFamily === undefined) throw new UsageError(`--pod-ips "${values['pod-ips']}" is not one IP address, or two of different families (status.podIPs)`);
  } else {
    // In a cluster --addr is `$(MESH_POD_IP):8443`, an address of the cluster's primary family.
    podIpFamily = isIPv6(addr.host) ? 'IPv6' : 'IPv4';
  }

  let cert: Buffer, key: Buffer, namespaces, trustAnchorsPem: string | undefined;
  try {
    cert = readFileSync(values.cert);
    key = readFileSync(values.key);
    const docs = values.namespaces ? parseYamlDocuments(readFileSync(values.namespaces, 'utf8'), values.namespaces) : [];
    namespaces = namespaceAnnotationsFrom(docs.map((d) => d.value));
    if (values['trust-anchors']) {
      trustAnchorsPem = readFileSync(values['trust-anchors'], 'utf8');
      splitPemCertificates(trustAnchorsPem, values['trust-anchors']); // refuse a file that is not certificates now, not in every pod
    }
  } catch (err) {
    return fail((err as Error).message);
  }
  const options = defaultInjectOptions({
    namespaceAnnotations: (ns) => namespaces.get(ns),
    capture,
    podIpFamily,
    trustAnchorsPem,
    trustDomain: values['trust-domain'],
    clusterDomain: values['cluster-domain'],
  });
  if (values['proxy-image']) options.proxy.imageName = values['proxy-image'];
  if (values['proxy-version']) options.proxy.version = values['proxy-version'];

  let cluster: ClusterFacts | undefined;
  if (values.kubernetes) {
    try {
      cluster = await clusterFacts(values.kubeconfig ?? process.env.KUBECONFIG);
    } catch (err) {
      return fail(`--kubernetes: ${(err as Error).message}`);
    }
    options.proxy.nativeSidecar = cluster.nativeSidecars;
    logger.info({ version: cluster.version, nativeSidecars: cluster.nativeSidecars }, `API server ${cluster.version}: proxies are ${cluster.nativeSidecars ? 'native sidecars' : 'containers held ready by postStart'}`);
  }

  let webhook;
  try {
    webhook = await startWebhook({ cert, key, host: addr.host, port: addr.port, inject: options, logger, lookupNamespace: cluster?.lookupNamespace });
  } catch (err) {
    return fail(`cannot serve on ${values.addr}: ${(err as Error).message}`);
  }
  logger.info({ url: webhook.url, namespaces: [...namespaces.keys()], podIpFamily }, `injector listening on ${webhook.url}`);
  const signal = await stopSignal();
  await webhook.close();
  logger.info({ signal }, 'injector stopped');
  return 0;
}
