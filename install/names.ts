// The names `mesh install` gives what it creates, in one place: the injector, identity and
// `mesh check` find the objects by these names.

export const CONTROL_PLANE_NS = 'mesh-system';
/** The viz runs as service account `tap` here: proxies serve tap only to spiffe://<td>/ns/mesh-viz/sa/tap. */
export const VIZ_NS = 'mesh-viz';

export type Component = 'identity' | 'destination' | 'injector' | 'viz';
export const COMPONENTS: Component[] = ['identity', 'destination', 'injector', 'viz'];

/** ConfigMap with the trust anchors under `ca-bundle.crt` (injector/options.ts names it too). */
export const TRUST_ROOTS_CONFIGMAP = 'mesh-identity-trust-roots';
/** kubernetes.io/tls Secret with the issuer: `tls.crt`, `tls.key` (and `ca.crt`), as cert-manager writes one. */
export const ISSUER_SECRET = 'mesh-identity-issuer';
/** kubernetes.io/tls Secret with the webhook's serving certificate. */
export const INJECTOR_TLS_SECRET = 'mesh-injector-tls';
/** ConfigMap with the settings this install was made with (no secrets): what `mesh check` compares against. */
export const CONFIG_CONFIGMAP = 'mesh-config';
export const WEBHOOK_CONFIGURATION = 'mesh-proxy-injector';
/** A webhook's name must be a fully qualified domain name. */
export const WEBHOOK_NAME = 'injector.mesh.linkerd.io';

/** Ports the components serve on (DESIGN.md's table). */
export const PORTS = { identity: 8080, destination: 8086, injector: 8443, viz: 8085, dashboard: 8084 } as const;

/** Labels on every object of a component, Linkerd's names, so selectors and `kubectl get -l` work alike. */
export function componentLabels(c: Component): Record<string, string> {
  return {
    'app.kubernetes.io/part-of': 'mesh',
    'linkerd.io/control-plane-component': c,
    'linkerd.io/control-plane-ns': CONTROL_PLANE_NS,
  };
}
