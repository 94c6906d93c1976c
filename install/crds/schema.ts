// Small builders for the OpenAPI v3 schemas of CustomResourceDefinitions, and the CRD object itself.
// Schemas are structural (every node typed), as apiextensions.k8s.io/v1 requires.

export type Schema = Record<string, unknown>;

export const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
export const bool = (): Schema => ({ type: 'boolean' });
export const int = (minimum?: number, maximum?: number): Schema => ({
  type: 'integer',
  ...(minimum !== undefined ? { minimum } : {}),
  ...(maximum !== undefined ? { maximum } : {}),
});
export const num = (minimum?: number): Schema => ({ type: 'number', ...(minimum !== undefined ? { minimum } : {}) });
export const list = (items: Schema, extra: Schema = {}): Schema => ({ type: 'array', items, ...extra });
export const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: 'object',
  properties,
  ...(required.length > 0 ? { required } : {}),
});
/** A nested object whose shape the reader checks itself (recursive matchers cannot be written in a CRD schema). */
export const anyObject = (): Schema => ({ type: 'object', 'x-kubernetes-preserve-unknown-fields': true });
export const enumOf = (values: string[]): Schema => ({ type: 'string', enum: values });
export const port = (): Schema => int(1, 65535);
/** A port number or an IANA port name, as a Server's `port` and a Service's `targetPort` take. */
export const portOrName = (): Schema => ({ 'x-kubernetes-int-or-string': true });

/** Go's time.ParseDuration without sign, the grammar api/duration.ts reads ("500ms", "1.5h", "2h45m", "0"). */
export const duration = (): Schema => str({ pattern: '^(0|(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$' });

/** metav1.LabelSelector. */
export const labelSelector = (): Schema =>
  obj({
    matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
    matchExpressions: list(obj({ key: str(), operator: enumOf(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: list(str()) }, ['key', 'operator'])),
  });

export interface CrdVersion {
  name: string;
  /** The one version etcd stores; every other served version converts to it unchanged (strategy None). */
  storage?: boolean;
  /** Served but deprecated, with the message kubectl prints. */
  deprecated?: string;
}

export interface CrdSpec {
  group: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  categories?: string[];
  versions: CrdVersion[];
  spec: Schema;
  /** The spec is required (every kind here but a ServiceProfile with defaults has one). */
  specRequired?: boolean;
  /** The kind has a status written by a controller (Gateway API routes). */
  status?: boolean;
  printerColumns?: Array<{ name: string; type: string; jsonPath: string }>;
}

/** Where each Kubernetes-owned group's API was approved (the Gateway API's own CRDs say the same). */
const API_APPROVALS: Record<string, string> = { 'gateway.networking.k8s.io': 'https://github.com/kubernetes-sigs/gateway-api/pull/2466' };

/** One apiextensions.k8s.io/v1 CustomResourceDefinition, labelled as part of the mesh. */
export function crd(s: CrdSpec): object {
  const schema = {
    openAPIV3Schema: {
      type: 'object',
      properties: {
        apiVersion: str(),
        kind: str(),
        metadata: { type: 'object' },
        spec: s.spec,
        ...(s.status ? { status: anyObject() } : {}),
      },
      ...(s.specRequired ? { required: ['spec'] } : {}),
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${s.plural}.${s.group}`,
      labels: { 'app.kubernetes.io/part-of': 'mesh' },
      // The API server refuses a CRD in a *.k8s.io group without the API review that approved it.
      ...(s.group.endsWith('.k8s.io') ? { annotations: { 'api-approved.kubernetes.io': API_APPROVALS[s.group] ?? 'unapproved' } } : {}),
    },
    spec: {
      group: s.group,
      scope: 'Namespaced',
      names: {
        kind: s.kind,
        listKind: `${s.kind}List`,
        plural: s.plural,
        singular: s.singular,
        ...(s.shortNames ? { shortNames: s.shortNames } : {}),
        ...(s.categories ? { categories: s.categories } : {}),
      },
      versions: s.versions.map((v) => ({
        name: v.name,
        served: true,
        storage: v.storage ?? false,
        ...(v.deprecated ? { deprecated: true, deprecationWarning: v.deprecated } : {}),
        schema,
        ...(s.status ? { subresources: { status: {} } } : {}),
        ...(s.printerColumns ? { additionalPrinterColumns: s.printerColumns } : {}),
      })),
    },
  };
}
