// ServiceProfiles that can never apply. Linkerd silently ignores a profile in the wrong
// namespace or with a misspelled name; here the operator is told, naming the profile.
import type { ResourceSet } from './resource-set.ts';

export function profileWarnings(set: ResourceSet, clusterDomain: string): string[] {
  const warnings: string[] = [];
  for (const sp of set.ofKind('ServiceProfile')) {
    const { name, namespace, file } = sp.meta;
    const where = `${file}: ServiceProfile ${namespace}/${name}`;
    const suffix = `.svc.${clusterDomain}`;
    const parts = name.endsWith(suffix) ? name.slice(0, -suffix.length).split('.') : [];
    if (parts.length !== 2) {
      warnings.push(`${where}: metadata.name: WILL NEVER APPLY: the name must be <service>.<namespace>${suffix}`);
      continue;
    }
    const [svc, svcNs] = parts as [string, string];
    if (svcNs !== namespace) {
      warnings.push(
        `${where}: metadata.namespace: WILL NEVER APPLY: a profile for ${svc}.${svcNs} must live in namespace ${svcNs} (the server's), not ${namespace}`,
      );
    } else if (!set.get('Service', namespace, svc)) {
      warnings.push(`${where}: metadata.name: WILL NOT APPLY: there is no Service ${namespace}/${svc}`);
    }
  }
  return warnings;
}
