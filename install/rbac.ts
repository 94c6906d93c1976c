// The least each component may do through the Kubernetes API, as ServiceAccounts, ClusterRoles,
// Roles and their bindings. Every rule says which code needs it.
import { CONTROL_PLANE_NS, VIZ_NS, ISSUER_SECRET, componentLabels, type Component } from './names.ts';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

const READ = ['get', 'list', 'watch'];

/** Cluster-wide rules by component (none for the viz: it learns the pods from the destination). */
const CLUSTER_RULES: Record<Component, Rule[]> = {
  identity: [
    // Checks a proxy's projected service-account token (audience identity.l5d.io).
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  ],
  destination: [
    // Discovery: Services, their EndpointSlices (v1 or v1beta1), Pods for labels, IPs and identity.
    { apiGroups: [''], resources: ['services', 'pods', 'namespaces'], verbs: READ },
    { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: READ },
    // Every CRD the destination reads (install/crds/).
    { apiGroups: ['linkerd.io'], resources: ['serviceprofiles'], verbs: READ },
    {
      apiGroups: ['policy.linkerd.io'],
      resources: ['servers', 'serverauthorizations', 'authorizationpolicies', 'meshtlsauthentications', 'networkauthentications', 'httproutes'],
      verbs: READ,
    },
    { apiGroups: ['gateway.networking.k8s.io'], resources: ['httproutes', 'grpcroutes'], verbs: READ },
    // Validation warnings become Events on the offending resource.
    { apiGroups: ['', 'events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  ],
  injector: [
    // A pod's namespace decides injection (linkerd.io/inject and config.linkerd.io/* annotations).
    { apiGroups: [''], resources: ['namespaces'], verbs: READ },
  ],
  viz: [],
};

/** Rules inside the control plane's namespace. */
const NAMESPACE_RULES: Partial<Record<Component, Rule[]>> = {
  identity: [
    // The issuer, read and watched so a rotated one (cert-manager) is taken up without a restart.
    { apiGroups: [''], resources: ['secrets'], verbs: READ, resourceNames: [ISSUER_SECRET] },
  ],
};

export function serviceAccount(c: Component): object {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: c === 'viz' ? 'tap' : c, namespace: c === 'viz' ? VIZ_NS : CONTROL_PLANE_NS, labels: componentLabels(c) } };
}

/** The ServiceAccount's name: its SPIFFE identity is spiffe://<td>/ns/<ns>/sa/<name> (DESIGN.md). */
const subject = (c: Component) => ({ kind: 'ServiceAccount', name: c === 'viz' ? 'tap' : c, namespace: c === 'viz' ? VIZ_NS : CONTROL_PLANE_NS });

export function rbac(c: Component): object[] {
  const out: object[] = [];
  const name = `mesh-${c}`;
  const rules = CLUSTER_RULES[c];
  if (rules.length > 0) {
    out.push(
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name, labels: componentLabels(c) }, rules },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name, labels: componentLabels(c) },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
        subjects: [subject(c)],
      },
    );
  }
  const local = NAMESPACE_RULES[c];
  if (local) {
    const metadata = { name, namespace: CONTROL_PLANE_NS, labels: componentLabels(c) };
    out.push(
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata, rules: local },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata,
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: [subject(c)],
      },
    );
  }
  return out;
}
