// `mesh identity serve`: runs the CA's gRPC service until SIGINT/SIGTERM, from a directory made by
// `mesh identity init`, or in Kubernetes mode (issuer from a Secret, tokens proven by TokenReview).
import type { Logger } from 'pino';
import { IdentityError } from '../../identity/errors.ts';
import { loadIdentityDir } from '../../identity/files.ts';
import { startIdentityServer, type IdentityServerOptions } from '../../identity/server.ts';
import { createLogger } from '../../api/log.ts';
import { durationFlag, parseCommandArgs, runCommand, UsageError } from '../args.ts';
import { stopSignal } from '../stop-signal.ts';

export const summary = 'run the identity CA (gRPC over TLS) from a directory made by `mesh identity init`, or from Kubernetes';

const USAGE = `usage: mesh identity serve --dir DIR [--addr 127.0.0.1:8080] [--cert-lifetime 24h]
       mesh identity serve --kubernetes [--kubeconfig FILE] [--issuer-secret NS/NAME] [--trust-domain TD] [--addr ADDR] [--cert-lifetime 24h]

  --kubernetes             tokens are proxies' projected service-account tokens, checked with a TokenReview
                           (audience identity.l5d.io); the issuer is a kubernetes.io/tls Secret, watched and
                           reloaded when it changes (an external issuer such as cert-manager rotates it)
  --kubeconfig FILE        the API's address and credentials (default: in-cluster configuration)
  --issuer-secret NS/NAME  default mesh-system/mesh-identity-issuer
  --trust-domain TD        default cluster.local`;

const OPTIONS = {
  dir: { type: 'string' },
  kubernetes: { type: 'boolean', default: false },
  kubeconfig: { type: 'string' },
  'issuer-secret': { type: 'string', default: 'mesh-system/mesh-identity-issuer' },
  'trust-domain': { type: 'string', default: 'cluster.local' },
  addr: { type: 'string', default: '127.0.0.1:8080' },
  'cert-lifetime': { type: 'string', default: '24h' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('identity serve', USAGE, async () => {
    const { values } = parseCommandArgs(args, OPTIONS);
    if (values.kubernetes === Boolean(values.dir)) throw new UsageError('exactly one of --dir DIR and --kubernetes is required');
    const log = createLogger('identity');
    const certLifetimeMs = durationFlag(values['cert-lifetime'], '--cert-lifetime');
    let server;
    let stopKubernetes = () => {};
    try {
      let source: Pick<IdentityServerOptions, 'ca' | 'tokens' | 'trustDomain'>;
      if (values.kubernetes) {
        const k = await kubernetesSource(values.kubeconfig ?? process.env['KUBECONFIG'], values['issuer-secret'], values['trust-domain'], log);
        source = k;
        stopKubernetes = k.stop;
      } else {
        source = loadIdentityDir(values.dir!);
      }
      server = await startIdentityServer({ ...source, certLifetimeMs, addr: values.addr, logger: log });
    } catch (err) {
      // Refusing to start is the point: a CA with a bad chain would issue certificates no peer accepts.
      const code = err instanceof IdentityError || (err as { code?: unknown }).code ? `${(err as { code: string }).code}: ` : '';
      log.fatal({ err }, `identity CA refused to start: ${code}${(err as Error).message}`);
      console.error(`mesh identity serve: refusing to start: ${code}${(err as Error).message}`);
      stopKubernetes();
      return 1;
    }
    log.info({ signal: await stopSignal() }, 'identity CA shutting down');
    stopKubernetes();
    await server.close();
    return 0;
  });
}

/** Kubernetes mode, loaded only when asked for (the API client is a large import). */
async function kubernetesSource(kubeconfig: string | undefined, issuerSecret: string, trustDomain: string, log: Logger) {
  const [{ KubeApi }, { IssuerSecret }, { TokenReviewValidator }] = await Promise.all([
    import('../../api/kubernetes/kube-api.ts'),
    import('../../identity/issuer-secret.ts'),
    import('../../identity/token-review.ts'),
  ]);
  const api = KubeApi.load(kubeconfig);
  const issuer = await IssuerSecret.load(api, issuerSecret, log);
  return { ca: issuer, tokens: new TokenReviewValidator(api), trustDomain, stop: () => issuer.stop() };
}
