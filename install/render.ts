// `mesh install`'s output: the objects in the order `kubectl apply` needs them (namespaces and
// CRDs first, the webhook last, so it never calls an injector that does not exist yet), as YAML.
import { stringify } from 'yaml';
import { identityMaterial, webhookMaterial } from './certificates.ts';
import { components, configMaps, namespaces, secrets, webhookConfiguration } from './control-plane.ts';
import { serviceProfile, policyCrds } from './crds/linkerd.ts';
import { routeCrds } from './crds/routes.ts';
import { COMPONENTS } from './names.ts';
import { rbac, serviceAccount } from './rbac.ts';
import { checkValues, type InstallValues } from './values.ts';

/** Every CRD the mesh reads (`mesh install --crds`). */
export function crdObjects(): object[] {
  return [serviceProfile(), ...policyCrds(), ...routeCrds()];
}

/** The control plane (`mesh install`); the values are checked first, so nothing half-made is printed. */
export async function controlPlaneObjects(v: InstallValues): Promise<object[]> {
  checkValues(v);
  const [identity, webhook] = await Promise.all([identityMaterial(v), webhookMaterial(v, 'injector')]);
  const { deployments, services, extra } = components(v, identity);
  return [
    ...namespaces(),
    ...COMPONENTS.map(serviceAccount),
    ...COMPONENTS.flatMap(rbac),
    ...configMaps(v, identity),
    ...extra,
    ...secrets(identity, webhook),
    ...services,
    ...deployments,
    webhookConfiguration(v, webhook),
  ];
}

/** Multi-document YAML, each document introduced by `---` as `kubectl apply -f -` reads it. */
export function toYaml(objects: object[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })}`).join('');
}
