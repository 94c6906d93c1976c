// The settings `mesh install` renders from: Linkerd's value names, defaults, and `--set key=value`
// read hostile-ly (an unknown key, a bad number or PEM is refused, naming the key).
import { parseDuration } from '../api/duration.ts';
import { validateCaMaterial } from '../identity/ca-validate.ts';
import { meshVersion } from '../api/locate.ts';
import { wholeNumber } from '../api/whole-number.ts';
import { MESH_IMAGE } from '../injector/options.ts';
import { InstallError } from './errors.ts';

export interface InstallValues {
  /** Replicas of identity, destination and the injector (Linkerd's `controllerReplicas`). */
  controllerReplicas: number;
  /** Pods of one component on different nodes (`--ha`; Linkerd's `enablePodAntiAffinity`). */
  enablePodAntiAffinity: boolean;
  /** The one image every part runs (`mesh` on its PATH), proxy included. */
  image: { name: string; version: string };
  clusterDomain: string;
  identityTrustDomain: string;
  /** PEM; generated with the issuer when not given. */
  identityTrustAnchorsPEM?: string;
  identity: {
    issuer: {
      /** `linkerd.io/tls`: the issuer is in the Secret this install writes; `kubernetes.io/tls`: something else (cert-manager) writes it. */
      scheme: 'linkerd.io/tls' | 'kubernetes.io/tls';
      tls: { crtPEM?: string; keyPEM?: string };
      /** How long workload certificates live (Linkerd's `identity.issuer.issuanceLifetime`). */
      issuanceLifetime: string;
    };
  };
  proxy: {
    /**
     * How injected apps' traffic reaches their proxy: `iptables` (proxy-init, each pod in its own
     * network namespace: a cluster), or `http-proxy` (HTTP_PROXY, for a node whose pods share one
     * network namespace, such as the demo's runner playing the node).
     */
    capture: 'iptables' | 'http-proxy';
  };
  /** `Ignore` (the default): a webhook that is down never blocks pod creation. */
  webhookFailurePolicy: 'Ignore' | 'Fail';
  proxyInjector: {
    /** Where the API server calls the webhook when not through its Service (a node that is not in the cluster network). */
    url?: string;
  };
  controllerLogLevel: string;
  /**
   * An external Prometheus the viz reads instead of scraping every proxy itself (Linkerd viz's
   * `prometheusUrl`); that Prometheus scrapes the proxies (`mesh viz prometheus-config`).
   */
  prometheusUrl?: string;
}

export function defaultValues(): InstallValues {
  return {
    controllerReplicas: 1,
    enablePodAntiAffinity: false,
    image: { name: MESH_IMAGE, version: meshVersion() },
    clusterDomain: 'cluster.local',
    identityTrustDomain: 'cluster.local',
    identity: { issuer: { scheme: 'linkerd.io/tls', tls: {}, issuanceLifetime: '24h' } },
    proxy: { capture: 'iptables' },
    webhookFailurePolicy: 'Ignore',
    proxyInjector: {},
    controllerLogLevel: 'info',
  };
}

/** `--ha`, as Linkerd's values-ha.yaml: three replicas, never two on one node (a --set applied later still wins). */
export function highAvailability(v: InstallValues): void {
  v.controllerReplicas = 3;
  v.enablePodAntiAffinity = true;
}

/** How each settable key is read; the keys are exactly Linkerd's where Linkerd has one. */
const SETTERS: Record<string, (v: InstallValues, text: string, key: string) => void> = {
  controllerReplicas: (v, t, k) => (v.controllerReplicas = integer(t, k, 1, 100)),
  enablePodAntiAffinity: (v, t, k) => (v.enablePodAntiAffinity = boolean(t, k)),
  'image.name': (v, t, k) => (v.image.name = imageName(t, k)),
  'image.version': (v, t, k) => (v.image.version = matching(t, k, /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'an image tag')),
  clusterDomain: (v, t, k) => (v.clusterDomain = dnsName(t, k)),
  identityTrustDomain: (v, t, k) => (v.identityTrustDomain = dnsName(t, k)),
  identityTrustAnchorsPEM: (v, t, k) => (v.identityTrustAnchorsPEM = pem(t, k, 'CERTIFICATE')),
  'identity.issuer.tls.crtPEM': (v, t, k) => (v.identity.issuer.tls.crtPEM = pem(t, k, 'CERTIFICATE')),
  'identity.issuer.tls.keyPEM': (v, t, k) => (v.identity.issuer.tls.keyPEM = pem(t, k, 'PRIVATE KEY')),
  'identity.issuer.scheme': (v, t, k) => (v.identity.issuer.scheme = oneOf(t, k, ['linkerd.io/tls', 'kubernetes.io/tls'] as const)),
  'identity.issuer.issuanceLifetime': (v, t, k) => (v.identity.issuer.issuanceLifetime = duration(t, k)),
  'proxy.capture': (v, t, k) => (v.proxy.capture = oneOf(t, k, ['iptables', 'http-proxy'] as const)),
  webhookFailurePolicy: (v, t, k) => (v.webhookFailurePolicy = oneOf(t, k, ['Ignore', 'Fail'] as const)),
  'proxyInjector.url': (v, t, k) => (v.proxyInjector.url = serverUrl(t, k, ['https:'])),
  controllerLogLevel: (v, t, k) => (v.controllerLogLevel = oneOf(t, k, ['trace', 'debug', 'info', 'warn', 'error'] as const)),
  prometheusUrl: (v, t, k) => (v.prometheusUrl = serverUrl(t, k, ['http:', 'https:'])),
};

export const SETTABLE_KEYS = Object.keys(SETTERS);

/** The key of one `key=value` (the value may hold `=` and newlines, as a PEM does); '' when there is none. */
export function settingKey(assignment: string): string {
  const eq = assignment.indexOf('=');
  return eq <= 0 ? '' : assignment.slice(0, eq).trim();
}

/** Applies one `key=value`. */
export function applySet(values: InstallValues, assignment: string): void {
  const key = settingKey(assignment);
  if (!key) throw new InstallError('BAD_SET', `--set ${JSON.stringify(short(assignment))}: expected key=value`);
  const eq = assignment.indexOf('=');
  const setter = Object.hasOwn(SETTERS, key) ? SETTERS[key] : undefined;
  if (!setter) throw new InstallError('UNKNOWN_KEY', `--set ${key}: unknown key; the keys are ${SETTABLE_KEYS.join(', ')}`);
  setter(values, assignment.slice(eq + 1), key);
}

/**
 * Checks the settings as a whole: the issuer's certificate and key come together, are signed by
 * the trust anchors and match; an external issuer needs the anchors (its Secret is not ours to write).
 */
export function checkValues(v: InstallValues, nowMs = Date.now()): void {
  const { crtPEM, keyPEM } = v.identity.issuer.tls;
  const external = v.identity.issuer.scheme === 'kubernetes.io/tls';
  if (external) {
    if (crtPEM || keyPEM) {
      throw new InstallError('BAD_SET', 'identity.issuer.tls.crtPEM/keyPEM: not used with an external issuer (its Secret mesh-identity-issuer is written by something else, e.g. cert-manager)');
    }
    if (!v.identityTrustAnchorsPEM) {
      throw new InstallError('BAD_SET', 'identityTrustAnchorsPEM: required with an external issuer (the anchor that signs the issuer it will write)');
    }
    return;
  }
  if (Boolean(crtPEM) !== Boolean(keyPEM)) {
    const missing = crtPEM ? 'identity.issuer.tls.keyPEM' : 'identity.issuer.tls.crtPEM';
    throw new InstallError('BAD_SET', `${missing}: required with ${crtPEM ? 'identity.issuer.tls.crtPEM' : 'identity.issuer.tls.keyPEM'} (the issuer is a certificate and its key)`);
  }
  if (crtPEM && !v.identityTrustAnchorsPEM) {
    throw new InstallError('BAD_SET', 'identityTrustAnchorsPEM: required with identity.issuer.tls.crtPEM (the anchor that signed it)');
  }
  if (v.identityTrustAnchorsPEM && !crtPEM) {
    throw new InstallError('BAD_SET', 'identity.issuer.tls.crtPEM and keyPEM: required with identityTrustAnchorsPEM (an issuer cannot be generated for an anchor whose key this install does not have)');
  }
  if (crtPEM && keyPEM && v.identityTrustAnchorsPEM) {
    try {
      validateCaMaterial(
        { trustAnchorsPem: v.identityTrustAnchorsPEM, issuerChainPem: crtPEM, issuerKeyPem: keyPEM },
        { trustAnchors: 'identityTrustAnchorsPEM', issuerCert: 'identity.issuer.tls.crtPEM', issuerKey: 'identity.issuer.tls.keyPEM' },
        nowMs,
      );
    } catch (err) {
      throw new InstallError('BAD_SET', (err as Error).message, { cause: err });
    }
  }
}

const short = (text: string) => (text.length > 60 ? `${text.slice(0, 57)}...` : text);
const bad = (key: string, expected: string, text: string): never => {
  throw new InstallError('BAD_VALUE', `--set ${key}: expected ${expected}, got ${JSON.stringify(short(text))}`);
};

function integer(text: string, key: string, min: number, max: number): number {
  return wholeNumber(text.trim(), min, max) ?? bad(key, `an integer from ${min} to ${max}`, text);
}

function boolean(text: string, key: string): boolean {
  return text === 'true' ? true : text === 'false' ? false : bad(key, 'true or false', text);
}

function oneOf<T extends string>(text: string, key: string, allowed: readonly T[]): T {
  return (allowed as readonly string[]).includes(text) ? (text as T) : bad(key, `one of ${allowed.join(', ')}`, text);
}

function matching(text: string, key: string, re: RegExp, what: string): string {
  return re.test(text) ? text : bad(key, what, text);
}

function dnsName(text: string, key: string): string {
  return matching(text, key, /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, 'a DNS name such as cluster.local');
}

function imageName(text: string, key: string): string {
  return matching(text, key, /^[a-z0-9]+([._\-/:][a-z0-9]+)*$/, 'an image name without tag, such as ghcr.io/mesh/mesh');
}

function duration(text: string, key: string): string {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    return bad(key, 'a duration such as 24h', text);
  }
  return ms >= 60_000 ? text : bad(key, 'a duration of at least 1m', text);
}

/**
 * A server's URL with one of `schemes` and no user, query or fragment: the webhook's address
 * (https only), a Prometheus's (http or https).
 */
function serverUrl(text: string, key: string, schemes: Array<'http:' | 'https:'>): string {
  const expected = schemes.map((s) => `${s}//`).join(' or ');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return bad(key, `an ${expected} URL`, text);
  }
  // The text goes into manifests and messages as given: only what the parser reads back unchanged
  // (no blank, control character, quote or angle bracket that it drops or escapes).
  const clean = !/[\s\x00-\x1f\x7f"'<>\\^`{|}]/.test(text);
  const plain = clean && (schemes as string[]).includes(url.protocol) && !url.username && !url.password && !url.search && !url.hash;
  return plain ? text : bad(key, `an ${expected} URL without user, query or fragment`, text);
}

/**
 * A PEM value must hold at least one block of `label` and nothing but blocks (and blank space),
 * so a path given where the contents belong (`--set x=ca.crt` instead of `"$(cat ca.crt)"`) says so.
 */
function pem(text: string, key: string, label: 'CERTIFICATE' | 'PRIVATE KEY'): string {
  const trimmed = text.trim();
  const blocks = [...trimmed.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)];
  const rest = trimmed.replace(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g, '').trim();
  if (blocks.length === 0 || rest !== '') {
    const hint = !trimmed.includes('-----BEGIN') && /^[\w./-]+$/.test(trimmed) ? ` (a file name? pass its contents: --set ${key}="$(cat ${trimmed})")` : '';
    return bad(key, `PEM (-----BEGIN ${label}-----)${hint}`, text);
  }
  const wrong = blocks.find((b) => (label === 'CERTIFICATE' ? b[1] !== 'CERTIFICATE' : !b[1]!.endsWith('PRIVATE KEY')));
  if (wrong) bad(key, `PEM ${label} blocks only, found ${wrong[1]}`, text);
  return `${trimmed}\n`;
}
