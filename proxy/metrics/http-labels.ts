// Turns a request's context into the bounded label set of its HTTP metrics series.
import type { MeshRequest } from '../http/message.ts';
import { BoundedLabelValues } from './bounded-values.ts';

/** Labels every request series carries (absent ones are omitted from the output, as Linkerd does). */
export const REQUEST_LABELS = ['direction', 'authority', 'tls', 'client_id', 'server_id', 'route'] as const;
/** Labels only responses carry. */
export const RESPONSE_LABELS = ['status_code', 'classification', 'grpc_status', 'error'] as const;
/**
 * Keys of `req.ctx.labels` that become labels. Anything else a layer puts there is ignored:
 * Prometheus series need their label names fixed up front, and an allowlist keeps the set bounded.
 */
export const DEFAULT_CONTEXT_LABELS = ['dst_namespace', 'dst_service', 'backend', 'srv_name', 'authz_name'];

export type LabelSet = Record<string, string>;

export interface LabelBounds {
  authority: number;
  identity: number;
  route: number;
  /** Distinct values of each allowlisted context label. */
  contextLabel: number;
}

export class HttpLabeller {
  readonly contextLabels: readonly string[];
  readonly authority: BoundedLabelValues;
  readonly identity: BoundedLabelValues;
  readonly route: BoundedLabelValues;
  private readonly context = new Map<string, BoundedLabelValues>();

  constructor(contextLabels: readonly string[], bounds: LabelBounds) {
    this.contextLabels = contextLabels;
    this.authority = new BoundedLabelValues('authority', bounds.authority);
    this.identity = new BoundedLabelValues('identity', bounds.identity);
    this.route = new BoundedLabelValues('route', bounds.route);
    for (const name of contextLabels) this.context.set(name, new BoundedLabelValues(name, bounds.contextLabel));
  }

  /**
   * The series labels as the request's context says now. Called when the request enters the
   * layer and again at the response, since inner layers may have filled in the route or the
   * endpoint's identity (`ctx.labels.server_id`, `ctx.labels.tls`) meanwhile.
   */
  /**
   * A string naming the series `labelsOf(req)` would return, made without building the label
   * object: the request layer looks its series up twice per request, and the objects (plus
   * the key built from them) were a tenth of the proxy's allocations. Reads exactly the fields
   * labelsOf reads, in the same order; keep the two together.
   */
  keyOf(req: MeshRequest): string {
    const ctx = req.ctx;
    const extra = ctx.labels;
    let key = `${ctx.direction}\u0000${this.authority.value(req.authority.toLowerCase())}\u0000${(extra.tls ?? String(ctx.tls)) === 'true'}`;
    if (ctx.clientIdentity) key += `\u0000client_id=${this.identity.value(ctx.clientIdentity)}`;
    if (extra.server_id) key += `\u0000server_id=${this.identity.value(extra.server_id)}`;
    if (ctx.route) key += `\u0000route=${this.route.value(ctx.route)}`;
    for (const [name, bounded] of this.context) {
      const value = extra[name];
      if (value !== undefined) key += `\u0000${name}=${bounded.value(value)}`;
    }
    return key;
  }

  labelsOf(req: MeshRequest): LabelSet {
    const ctx = req.ctx;
    const extra = ctx.labels;
    const labels: LabelSet = {
      direction: ctx.direction,
      authority: this.authority.value(req.authority.toLowerCase()),
      tls: (extra.tls ?? String(ctx.tls)) === 'true' ? 'true' : 'false',
    };
    if (ctx.clientIdentity) labels.client_id = this.identity.value(ctx.clientIdentity);
    if (extra.server_id) labels.server_id = this.identity.value(extra.server_id);
    if (ctx.route) labels.route = this.route.value(ctx.route);
    for (const [name, bounded] of this.context) {
      const value = extra[name];
      if (value !== undefined) labels[name] = bounded.value(value);
    }
    return labels;
  }
}
