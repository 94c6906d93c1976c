// `mesh install`: prints the manifests that install the mesh into a Kubernetes cluster, for
// `kubectl apply -f -`, as `linkerd install` does (`--crds` first, then the control plane).
import { InstallError } from '../../install/errors.ts';
import { controlPlaneObjects, crdObjects, toYaml } from '../../install/render.ts';
import { applySet, defaultValues, highAvailability, SETTABLE_KEYS } from '../../install/values.ts';
import { parseCommandArgs, runCommand, UsageError } from '../args.ts';

export const summary = 'print the Kubernetes manifests that install the mesh (pipe to kubectl apply -f -)';

const USAGE = `usage: mesh install [--crds] [--ha] [--identity-external-issuer] [--set key=value ...]
  --crds                      only the CustomResourceDefinitions (apply them first)
  --ha                        high availability: 3 replicas of each controller, never two on one node
  --identity-external-issuer  identity reads its issuer from the Secret mesh-system/mesh-identity-issuer
                              that something else writes (cert-manager) and reloads it when it changes;
                              needs --set identityTrustAnchorsPEM
  --set key=value             one setting (repeat for more); the value may be a whole PEM:
                              --set identityTrustAnchorsPEM="$(cat ca.crt)"
keys: ${SETTABLE_KEYS.join(', ')}

Without identity.issuer.tls.* a trust anchor and issuer are generated, as linkerd install does.`;

const OPTIONS = {
  crds: { type: 'boolean', default: false },
  ha: { type: 'boolean', default: false },
  'identity-external-issuer': { type: 'boolean', default: false },
  set: { type: 'string', multiple: true },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('install', USAGE, async () => {
    const { values: flags } = parseCommandArgs(args, OPTIONS);
    const sets = flags.set ?? [];
    if (flags.crds) {
      if (sets.length > 0 || flags.ha || flags['identity-external-issuer']) throw new UsageError('--crds prints the CRDs alone: it takes no --set, --ha or --identity-external-issuer');
      process.stdout.write(toYaml(crdObjects()));
      return 0;
    }
    const values = defaultValues();
    // As Linkerd does: --ha's values first, so a --set (controllerReplicas=2) still wins.
    if (flags.ha) highAvailability(values);
    if (flags['identity-external-issuer']) values.identity.issuer.scheme = 'kubernetes.io/tls';
    try {
      for (const assignment of sets) applySet(values, assignment);
      process.stdout.write(toYaml(await controlPlaneObjects(values)));
      return 0;
    } catch (err) {
      // Nothing was printed: a half-written install piped into kubectl would apply half a mesh.
      if (!(err instanceof InstallError)) throw err;
      console.error(`mesh install: ${err.message}`);
      return 1;
    }
  });
}
