// Who may call a Server: ServerAuthorization (v1beta1), and AuthorizationPolicy with the
// MeshTLSAuthentication / NetworkAuthentication it requires.
import { Fields, shown } from '../field-reader.ts';
import type {
  AuthorizationPolicyResource,
  MeshTLSAuthenticationResource,
  NetworkAuthenticationResource,
  ServerAuthorizationResource,
  TargetRef,
} from '../resources.ts';
import { checkVersion, cidrAt, identityAt, readMeta, readSelector, type ParseContext } from './meta.ts';

const POLICY_ALPHA = ['policy.linkerd.io/v1alpha1'];

export function parseServerAuthorization(doc: Fields, ctx: ParseContext): ServerAuthorizationResource {
  checkVersion(doc, ['policy.linkerd.io/v1alpha1', 'policy.linkerd.io/v1beta1']);
  const meta = readMeta(doc, ctx);
  const spec = doc.object('spec');
  const serverRef = spec.object('server');
  const server = {
    name: serverRef.optionalString('name'),
    selector: serverRef.has('selector') ? readSelector(serverRef.raw['selector'], serverRef.at('selector')) : undefined,
  };
  if (!server.name && !server.selector) serverRef.fail('name', 'is required (or a selector)');
  const client = spec.object('client');
  const unauthenticated = client.optionalBoolean('unauthenticated') ?? false;
  const mesh = client.optionalObject('meshTLS');
  let meshTLS: ServerAuthorizationResource['meshTLS'];
  if (mesh) {
    const { identities, identityPrefixes } = readIdentities(mesh);
    mesh.list('serviceAccounts', (raw, path) => {
      const sa = Fields.of(raw, path);
      identities.push(`spiffe://${ctx.trustDomain}/ns/${sa.optionalString('namespace') || meta.namespace}/sa/${sa.string('name')}`);
    });
    const unauthenticatedTLS = mesh.optionalBoolean('unauthenticatedTLS') ?? false;
    if (!unauthenticatedTLS && identities.length === 0 && identityPrefixes.length === 0) {
      mesh.fail('identities', 'must name at least one identity or service account (or set unauthenticatedTLS)');
    }
    meshTLS = { unauthenticatedTLS, identities, identityPrefixes };
  }
  if (!unauthenticated && !meshTLS) client.fail('meshTLS', 'is required unless unauthenticated is true');
  if (unauthenticated && meshTLS) client.fail('unauthenticated', 'cannot be combined with meshTLS');
  return { kind: 'ServerAuthorization', meta, server, unauthenticated, meshTLS, networks: readNetworks(client) };
}

/** `networks: [{cidr, except}]`; `except` narrows a grant, and this mesh cannot express it yet. */
function readNetworks(f: Fields): string[] {
  return f.list('networks', (raw, path) => {
    const n = Fields.of(raw, path);
    if (n.has('except')) n.fail('except', 'is not supported: split the cidr into the ranges to allow');
    return cidrAt(n.raw['cidr'], n.at('cidr'));
  });
}

function readRef(raw: unknown, path: string, namespace: string): TargetRef {
  const r = Fields.of(raw, path);
  return { group: r.optionalString('group') ?? '', kind: r.string('kind'), name: r.string('name'), namespace: r.optionalString('namespace') || namespace };
}

export function parseAuthorizationPolicy(doc: Fields, ctx: ParseContext): AuthorizationPolicyResource {
  checkVersion(doc, POLICY_ALPHA);
  const meta = readMeta(doc, ctx);
  const spec = doc.object('spec');
  const targetRef = readRef(spec.raw['targetRef'], spec.at('targetRef'), meta.namespace);
  if (!['Server', 'HTTPRoute', 'GRPCRoute', 'Namespace'].includes(targetRef.kind)) {
    spec.fail('targetRef.kind', `must be Server, HTTPRoute, GRPCRoute or Namespace, got ${shown(targetRef.kind)}`);
  }
  const requiredAuthenticationRefs = spec.list('requiredAuthenticationRefs', (raw, path) => {
    const ref = readRef(raw, path, meta.namespace);
    if (!['MeshTLSAuthentication', 'NetworkAuthentication', 'ServiceAccount'].includes(ref.kind)) {
      Fields.of(raw, path).fail('kind', `must be MeshTLSAuthentication, NetworkAuthentication or ServiceAccount, got ${shown(ref.kind)}`);
    }
    return ref;
  });
  return { kind: 'AuthorizationPolicy', meta, targetRef, requiredAuthenticationRefs };
}

export function parseMeshTLSAuthentication(doc: Fields, ctx: ParseContext): MeshTLSAuthenticationResource {
  checkVersion(doc, POLICY_ALPHA);
  const meta = readMeta(doc, ctx);
  const spec = doc.object('spec');
  const { identities, identityPrefixes } = readIdentities(spec);
  spec.list('identityRefs', (raw, path) => {
    const ref = readRef(raw, path, meta.namespace);
    if (ref.kind === 'ServiceAccount') identities.push(`spiffe://${ctx.trustDomain}/ns/${ref.namespace}/sa/${ref.name}`);
    else if (ref.kind === 'Namespace') identityPrefixes.push(`spiffe://${ctx.trustDomain}/ns/${ref.name}/sa/`);
    else Fields.of(raw, path).fail('kind', `must be ServiceAccount or Namespace, got ${shown(ref.kind)}`);
  });
  if (identities.length === 0 && identityPrefixes.length === 0) spec.fail('identities', 'must name at least one identity (or identityRefs)');
  return { kind: 'MeshTLSAuthentication', meta, identities, identityPrefixes };
}

export function parseNetworkAuthentication(doc: Fields, ctx: ParseContext): NetworkAuthenticationResource {
  checkVersion(doc, POLICY_ALPHA);
  const meta = readMeta(doc, ctx);
  const spec = doc.object('spec');
  const networks = readNetworks(spec);
  if (networks.length === 0) spec.fail('networks', 'must list at least one network');
  return { kind: 'NetworkAuthentication', meta, networks };
}

/** The `identities` list, split into exact ids and namespace-wide prefixes (`*.<ns>.serviceaccount...`). */
function readIdentities(f: Fields): { identities: string[]; identityPrefixes: string[] } {
  const identities: string[] = [];
  const identityPrefixes: string[] = [];
  for (const id of f.list('identities', identityAt)) {
    if (id.identity) identities.push(id.identity);
    if (id.prefix) identityPrefixes.push(id.prefix);
  }
  return { identities, identityPrefixes };
}
