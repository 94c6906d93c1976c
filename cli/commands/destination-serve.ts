// `mesh destination serve`: runs the destination (discovery and policy over gRPC/TLS) from a
// folder of Kubernetes-style YAML, until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { servingIdentity, type IdentitySource } from '../../destination/serving-identity.ts';
import { DEFAULT_CLUSTER_NETWORKS, startDestination } from '../../destination/server.ts';
import type { DefaultPolicy } from '../../proxy/discovery/types.ts';
import { createLogger } from '../../proxy/log.ts';

export const summary = 'run the destination service (endpoints, profiles, inbound policy, registration) from a folder of YAML';

const USAGE = `usage: mesh destination serve --resources DIR [--addr 127.0.0.1:8086] <certificate source> [options]

certificate source (one of):
  --identity-addr ADDR --trust-anchors FILE --token-file FILE   ask the identity CA, as a proxy does
  --ca-dir DIR                                                  issue from the CA's directory (mesh identity init)
  --tls-cert FILE --tls-key FILE --trust-anchors FILE           use these files

options:
  --listen ADDR               same as --addr
  --identity ID               the SPIFFE id to serve as (default spiffe://<trust-domain>/ns/linkerd/sa/destination)
  --default-policy P          for ports no Server selects, unless the proxy sends its own:
                              all-unauthenticated (default), all-authenticated, cluster-authenticated, deny
  --cluster-networks CIDRS    comma-separated (default ${DEFAULT_CLUSTER_NETWORKS.join(',')})
  --cluster-domain D          default cluster.local
  --registration-grace MS     after start, hold empty endpoint sets this long while proxies re-register (default 5000)`;

const POLICIES = ['all-unauthenticated', 'all-authenticated', 'cluster-authenticated', 'deny'];

export async function run(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        resources: { type: 'string' },
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
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`mesh destination serve: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const fail = (message: string) => {
    console.error(`mesh destination serve: ${message}\n${USAGE}`);
    return 2;
  };
  if (!values.resources) return fail('--resources is required');
  if (!POLICIES.includes(values['default-policy'])) return fail(`--default-policy must be one of ${POLICIES.join(', ')}, got "${values['default-policy']}"`);
  const grace = Number(values['registration-grace']);
  if (!Number.isInteger(grace) || grace < 0) return fail(`--registration-grace must be milliseconds, got "${values['registration-grace']}"`);
  let source: IdentitySource;
  if (values['identity-addr']) {
    if (!values['trust-anchors'] || !values['token-file']) return fail('--identity-addr needs --trust-anchors and --token-file');
    source = { kind: 'ca', identityAddr: values['identity-addr'], trustAnchorsFile: values['trust-anchors'], tokenFile: values['token-file'], identity: values.identity };
  } else if (values['ca-dir']) {
    source = { kind: 'ca-dir', dir: values['ca-dir'], identity: values.identity };
  } else if (values['tls-cert'] && values['tls-key'] && values['trust-anchors']) {
    source = { kind: 'files', certFile: values['tls-cert'], keyFile: values['tls-key'], trustAnchorsFile: values['trust-anchors'], identity: values.identity };
  } else return fail('a certificate source is required');

  const log = createLogger('destination');
  let server;
  let identity;
  try {
    identity = await servingIdentity(source, log);
    server = await startDestination({
      resourcesDir: values.resources,
      addr: values.listen ?? values.addr ?? '127.0.0.1:8086',
      tls: identity.tls,
      logger: log,
      defaultPolicy: values['default-policy'] as DefaultPolicy,
      clusterNetworks: values['cluster-networks']?.split(',').map((s) => s.trim()).filter(Boolean),
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
  console.log(`destination serving on ${running.address} as ${identity.identity} from ${values.resources}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'destination shutting down');
      identity.close();
      void running.close().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
