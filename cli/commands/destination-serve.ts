// `mesh destination serve`: runs the destination (discovery and policy over gRPC/TLS) from a
// folder of Kubernetes-style YAML or from the Kubernetes API (--kubernetes), until SIGINT/SIGTERM.
import { servingIdentity, type IdentitySource } from '../../destination/serving-identity.ts';
import { DEFAULT_CLUSTER_NETWORKS } from '../../destination/index/discovery.ts';
import { startDestination } from '../../destination/server.ts';
import { FieldError } from '../../destination/store/field-reader.ts';
import { cidrAt } from '../../destination/store/kinds/meta.ts';
import { DEFAULT_POLICIES, type DefaultPolicy } from '../../api/destination-types.ts';
import { createLogger } from '../../api/log.ts';
import { countFlag, parseCommandArgs, runCommand, UsageError, type CommandValues } from '../args.ts';
import { stopSignal } from '../stop-signal.ts';

export const summary = 'run the destination service (endpoints, profiles, inbound policy, registration) from a folder of YAML';

const USAGE = `usage: mesh destination serve (--resources DIR | --kubernetes [--kubeconfig FILE]) [--addr 127.0.0.1:8086] <certificate source> [options]

  --resources DIR             a folder of Kubernetes-style YAML, watched
  --kubernetes                read the Kubernetes API instead (Services, EndpointSlices, Pods, the mesh's CRDs)
  --kubeconfig FILE           with --kubernetes: the API's address and credentials (default: in-cluster configuration)

certificate source (one of):
  --identity-addr ADDR --trust-anchors FILE --token-file FILE   ask the identity CA, as a proxy does
  --ca-dir DIR                                                  issue from the CA's directory (mesh identity init)
  --tls-cert FILE --tls-key FILE --trust-anchors FILE           use these files

options:
  --listen ADDR               same as --addr
  --identity ID               the SPIFFE id to serve as (default spiffe://<trust-domain>/ns/mesh-system/sa/destination)
  --default-policy P          for ports no Server selects, unless the proxy sends its own:
                              all-unauthenticated (default), all-authenticated, cluster-unauthenticated,
                              cluster-authenticated, deny, audit
  --cluster-networks CIDRS    comma-separated (default ${DEFAULT_CLUSTER_NETWORKS.join(',')})
  --cluster-domain D          default cluster.local
  --registration-grace MS     after start, hold empty endpoint sets this long while proxies re-register (default 5000)`;

const POLICIES: readonly string[] = DEFAULT_POLICIES;

const OPTIONS = {
  resources: { type: 'string' },
  kubernetes: { type: 'boolean', default: false },
  kubeconfig: { type: 'string' },
  addr: { type: 'string' },
  listen: { type: 'string' },
  'identity-addr': { type: 'string' },
  'trust-anchors': { type: 'string' },
  'token-file': { type: 'string' },
  'ca-dir': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  identity: { type: 'string' },
  'default-policy': { type: 'string', default: 'all-unauthenticated' },
  'cluster-networks': { type: 'string' },
  'cluster-domain': { type: 'string', default: 'cluster.local' },
  'registration-grace': { type: 'string', default: '5000' },
} as const;

/** The one certificate source the flags name (see USAGE). */
function identitySource(values: CommandValues<typeof OPTIONS>): IdentitySource {
  const { identity } = values;
  if (values['identity-addr']) {
    if (!values['trust-anchors'] || !values['token-file']) throw new UsageError('--identity-addr needs --trust-anchors and --token-file');
    return { kind: 'ca', identityAddr: values['identity-addr'], trustAnchorsFile: values['trust-anchors'], tokenFile: values['token-file'], identity };
  }
  if (values['ca-dir']) return { kind: 'ca-dir', dir: values['ca-dir'], identity };
  if (values['tls-cert'] && values['tls-key'] && values['trust-anchors']) {
    return { kind: 'files', certFile: values['tls-cert'], keyFile: values['tls-key'], trustAnchorsFile: values['trust-anchors'], identity };
  }
  throw new UsageError('a certificate source is required');
}

export function run(args: string[]): Promise<number> {
  return runCommand('destination serve', USAGE, async () => {
    const { values } = parseCommandArgs(args, OPTIONS);
    if (values.kubernetes === Boolean(values.resources)) throw new UsageError('exactly one of --resources DIR and --kubernetes is required');
    if (values.kubeconfig && !values.kubernetes) throw new UsageError('--kubeconfig goes with --kubernetes');
    if (!POLICIES.includes(values['default-policy'])) throw new UsageError(`--default-policy must be one of ${POLICIES.join(', ')}, got "${values['default-policy']}"`);
    // Milliseconds, at most what a timer holds (2^31-1: a longer one would fire at once).
    const grace = countFlag(values['registration-grace'], '--registration-grace', 2 ** 31 - 1, 0);
    return serve(values, identitySource(values), grace, clusterNetworks(values['cluster-networks']));
  });
}

/** `--cluster-networks`, checked here: proxies receive these ranges in every inbound policy. */
function clusterNetworks(flag: string | undefined): string[] | undefined {
  if (flag === undefined) return undefined;
  try {
    return flag.split(',').map((s) => s.trim()).filter(Boolean).map((cidr, i) => cidrAt(cidr, `--cluster-networks[${i}]`));
  } catch (err) {
    if (err instanceof FieldError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}

/** Serves until SIGINT/SIGTERM: 0 after a clean stop, 1 when it cannot start. */
async function serve(values: CommandValues<typeof OPTIONS>, source: IdentitySource, grace: number, networks: string[] | undefined): Promise<number> {
  const log = createLogger('destination');
  let server;
  let identity;
  try {
    identity = await servingIdentity(source, log);
    server = await startDestination({
      resourcesDir: values.resources ?? '',
      kubernetes: values.kubernetes ? { kubeconfig: values.kubeconfig ?? process.env['KUBECONFIG'] } : undefined,
      addr: values.listen ?? values.addr ?? '127.0.0.1:8086',
      tls: identity.tls,
      logger: log,
      defaultPolicy: values['default-policy'] as DefaultPolicy,
      clusterNetworks: networks,
      clusterDomain: values['cluster-domain'],
      registrationGraceMs: grace,
    });
  } catch (err) {
    log.fatal({ err }, `destination refused to start: ${(err as Error).message}`);
    console.error(`mesh destination serve: refusing to start: ${(err as Error).message}`);
    identity?.close();
    return 1;
  }
  const running = server;
  identity.onRotate((tls) => running.credentials.rotate(tls));
  for (const p of running.store.problems()) console.error(`${p.severity}: ${p.message}`);
  const from = values.kubernetes ? `the Kubernetes API at ${running.kubernetes?.server ?? '?'}` : values.resources;
  console.log(`destination serving on ${running.address} as ${identity.identity} from ${from}`);
  log.info({ signal: await stopSignal() }, 'destination shutting down');
  identity.close();
  await running.close();
  return 0;
}
