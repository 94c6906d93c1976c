// Pieces every kind shares: metadata, label selectors, identities and CIDRs, checked field by field.
import { parseCidr } from '../../../api/cidr.ts';
import { Fields, FieldError, shown } from '../field-reader.ts';
import type { LabelSelector, Meta } from '../resources.ts';

export interface ParseContext {
  file: string;
  /** SPIFFE trust domain: ServerAuthorization serviceAccounts become `spiffe://<td>/ns/<ns>/sa/<name>`. */
  trustDomain: string;
  /** Problems that do not reject the document but that its author must hear about. */
  warn(path: string, message: string): void;
}

/** A Kubernetes namespace's form (RFC 1123 label); `mesh rollout restart -n` checks by it too. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function readMeta(doc: Fields, ctx: ParseContext): Meta {
  const md = doc.object('metadata');
  const name = md.string('name');
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) md.fail('name', `must be a lowercase DNS name, got ${shown(name)}`);
  const namespace = md.optionalString('namespace') || 'default';
  if (!DNS_LABEL.test(namespace)) md.fail('namespace', `must be a lowercase DNS label, got ${shown(namespace)}`);
  return {
    kind: doc.string('kind'),
    apiVersion: doc.string('apiVersion'),
    name,
    namespace,
    labels: md.stringMap('labels'),
    annotations: md.stringMap('annotations'),
    file: ctx.file,
  };
}

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/** A Kubernetes label selector (matchLabels and matchExpressions). */
export function readSelector(value: unknown, path: string): LabelSelector {
  const sel = Fields.of(value, path);
  const matchExpressions = sel.list('matchExpressions', (raw, p) => {
    const e = Fields.of(raw, p);
    const operator = e.string('operator');
    if (!OPERATORS.has(operator)) e.fail('operator', `must be In, NotIn, Exists or DoesNotExist, got ${shown(operator)}`);
    const values = e.list('values', (v, vp) => stringAt(v, vp));
    if ((operator === 'In' || operator === 'NotIn') && values.length === 0) e.fail('values', `must not be empty for ${operator}`);
    return { key: e.string('key'), operator: operator as LabelSelector['matchExpressions'][number]['operator'], values };
  });
  return { matchLabels: sel.stringMap('matchLabels'), matchExpressions };
}

export function stringAt(value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '') throw new FieldError(path, `must be a non-empty string, got ${shown(value)}`);
  return value;
}

/**
 * A CIDR (`10.0.0.0/8`, `::/0`) or a bare IP, which means a single address, in the mesh's one
 * reading (api/cidr.ts), the one the proxy matches callers with.
 */
export function cidrAt(value: unknown, path: string): string {
  const text = stringAt(value, path);
  const cidr = parseCidr(text);
  if (!cidr) throw new FieldError(path, `must be a CIDR such as "10.0.0.0/8", got ${shown(text)}`);
  return cidr.text;
}

/**
 * A meshTLS identity: `*` (any authenticated client), a SPIFFE id, or Linkerd's DNS-style name
 * `<sa>.<ns>.serviceaccount.identity.linkerd.<td>` (converted to the SPIFFE id this mesh issues).
 * `*.<ns>.serviceaccount.identity.linkerd.<td>` (every account of a namespace) becomes the
 * SPIFFE prefix `spiffe://<td>/ns/<ns>/sa/`.
 */
export function identityAt(value: unknown, path: string): { identity?: string; prefix?: string } {
  const text = stringAt(value, path);
  if (text === '*') return { identity: '*' };
  if (/^spiffe:\/\/[a-z0-9.-]+\/.+/.test(text)) return { identity: text };
  const dns = /^([a-z0-9.-]+|\*)\.([a-z0-9-]+)\.serviceaccount\.identity\.linkerd\.([a-z0-9.-]+)$/.exec(text);
  if (dns && dns[1] === '*') return { prefix: `spiffe://${dns[3]}/ns/${dns[2]}/sa/` };
  if (dns) return { identity: `spiffe://${dns[3]}/ns/${dns[2]}/sa/${dns[1]}` };
  throw new FieldError(
    path,
    `must be "*", a SPIFFE id, or an identity name like "checkout.production.serviceaccount.identity.linkerd.cluster.local" (or "*.production.serviceaccount..."), got ${shown(text)}`,
  );
}

/** Refuses an apiVersion this kind never had, so a typo does not silently load as something else. */
export function checkVersion(doc: Fields, allowed: string[]): void {
  const v = doc.string('apiVersion');
  if (!allowed.includes(v)) doc.fail('apiVersion', `must be one of ${allowed.join(', ')} for kind ${doc.raw['kind'] as string}, got ${shown(v)}`);
}
