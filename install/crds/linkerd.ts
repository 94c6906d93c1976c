// The CRDs of Linkerd's own groups the destination reads: ServiceProfile (linkerd.io) and the
// policy.linkerd.io kinds. Each schema has the fields destination/store/kinds/ reads, with the
// types and bounds it checks, so what the API server stores is what the destination can read.
import { anyObject, bool, crd, duration, enumOf, int, labelSelector, list, num, obj, portOrName, str, type Schema } from './schema.ts';

/** A ServiceProfile's request condition: one level typed, the recursive all/any/not left to the reader. */
const requestMatch = (): Schema =>
  obj({ method: str({ pattern: '^[A-Z]+$' }), pathRegex: str(), all: list(anyObject()), any: list(anyObject()), not: anyObject() });

const responseMatch = (): Schema =>
  obj({ status: obj({ min: int(100, 599), max: int(100, 599) }), all: list(anyObject()), any: list(anyObject()), not: anyObject() });

const retryBudget = (): Schema => obj({ retryRatio: num(0), minRetriesPerSecond: int(0), ttl: duration() });

export const serviceProfile = () =>
  crd({
    group: 'linkerd.io',
    kind: 'ServiceProfile',
    plural: 'serviceprofiles',
    singular: 'serviceprofile',
    shortNames: ['sp'],
    categories: ['linkerd'],
    versions: [{ name: 'v1alpha1', deprecated: 'linkerd.io/v1alpha1 ServiceProfile is deprecated; use v1alpha2' }, { name: 'v1alpha2', storage: true }],
    spec: obj({
      routes: list(
        obj(
          {
            name: str({ minLength: 1 }),
            condition: requestMatch(),
            responseClasses: list(obj({ condition: responseMatch(), isFailure: bool() }, ['condition'])),
            timeout: duration(),
            isRetryable: bool(),
            // Linkerd's place for a budget is spec.retryBudget, and its CRD would prune this one
            // silently. The lesson writes it inside a route, so it is kept here and the destination
            // applies it with a warning, in Kubernetes mode as in YAML mode.
            retryBudget: retryBudget(),
          },
          ['name', 'condition'],
        ),
      ),
      retryBudget: retryBudget(),
      opaquePorts: list(int(1, 65535)),
      dstOverrides: list(obj({ authority: str(), weight: { 'x-kubernetes-int-or-string': true } }, ['authority', 'weight'])),
    }),
    specRequired: true,
  });

const POLICY = 'policy.linkerd.io';

const server = () =>
  crd({
    group: POLICY,
    kind: 'Server',
    plural: 'servers',
    singular: 'server',
    shortNames: ['srv'],
    categories: ['policy'],
    versions: [{ name: 'v1alpha1' }, { name: 'v1beta1' }, { name: 'v1beta2' }, { name: 'v1beta3', storage: true }],
    spec: obj(
      {
        podSelector: labelSelector(),
        port: portOrName(),
        proxyProtocol: enumOf(['unknown', 'HTTP/1', 'HTTP/2', 'gRPC', 'opaque', 'TLS']),
        accessPolicy: str(),
      },
      ['podSelector', 'port'],
    ),
    specRequired: true,
    printerColumns: [
      { name: 'Port', type: 'string', jsonPath: '.spec.port' },
      { name: 'Protocol', type: 'string', jsonPath: '.spec.proxyProtocol' },
    ],
  });

const network = () => obj({ cidr: str({ minLength: 1 }), except: list(str()) }, ['cidr']);

const serverAuthorization = () =>
  crd({
    group: POLICY,
    kind: 'ServerAuthorization',
    plural: 'serverauthorizations',
    singular: 'serverauthorization',
    shortNames: ['saz', 'serverauthz', 'srvauthz'],
    categories: ['policy'],
    versions: [{ name: 'v1alpha1' }, { name: 'v1beta1', storage: true }],
    spec: obj(
      {
        server: obj({ name: str(), selector: labelSelector() }),
        client: obj({
          networks: list(network()),
          unauthenticated: bool(),
          meshTLS: obj({
            unauthenticatedTLS: bool(),
            identities: list(str()),
            serviceAccounts: list(obj({ name: str({ minLength: 1 }), namespace: str() }, ['name'])),
          }),
        }),
      },
      ['server', 'client'],
    ),
    specRequired: true,
  });

/** A reference to another object (targetRef, requiredAuthenticationRefs, identityRefs). */
const ref = () => obj({ group: str(), kind: str({ minLength: 1 }), name: str({ minLength: 1 }), namespace: str() }, ['kind', 'name']);

const authorizationPolicy = () =>
  crd({
    group: POLICY,
    kind: 'AuthorizationPolicy',
    plural: 'authorizationpolicies',
    singular: 'authorizationpolicy',
    shortNames: ['authzpolicy'],
    categories: ['policy'],
    versions: [{ name: 'v1alpha1', storage: true }],
    spec: obj({ targetRef: ref(), requiredAuthenticationRefs: list(ref()) }, ['targetRef', 'requiredAuthenticationRefs']),
    specRequired: true,
  });

const meshTLSAuthentication = () =>
  crd({
    group: POLICY,
    kind: 'MeshTLSAuthentication',
    plural: 'meshtlsauthentications',
    singular: 'meshtlsauthentication',
    shortNames: ['meshtlsauthn'],
    categories: ['policy'],
    versions: [{ name: 'v1alpha1', storage: true }],
    spec: obj({ identities: list(str({ minLength: 1 })), identityRefs: list(ref()) }),
    specRequired: true,
  });

const networkAuthentication = () =>
  crd({
    group: POLICY,
    kind: 'NetworkAuthentication',
    plural: 'networkauthentications',
    singular: 'networkauthentication',
    shortNames: ['netauthn', 'networkauthn'],
    categories: ['policy'],
    versions: [{ name: 'v1alpha1', storage: true }],
    spec: obj({ networks: list(network(), { minItems: 1 }) }, ['networks']),
    specRequired: true,
  });

export const policyCrds = () => [server(), serverAuthorization(), authorizationPolicy(), meshTLSAuthentication(), networkAuthentication()];
