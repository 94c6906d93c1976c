// Turns a request's context into the bounded label set of its HTTP metrics series.
import type { MeshRequest } from '../http/message.ts';
import { BoundedLabelValues } from './bounded-values.ts';

/** Labels every request series carries (absent ones are omitted from the output, as Linkerd does). */
export const REQUEST_LABELS = ['direction', 'authority', 'tls', 'client_id', 'server_id', 'route'] as const;
/** The dst_* labels, as exported. */
export const DST_LABELS = ['dst_namespace', 'dst_service', 'dst_deployment', 'dst_pod'] as const;
/** Labels only responses carry. */
export const RESPONSE_LABELS = ['status_code', 'classification', 'grpc_status', 'error'] as const;
/**
 * Keys of `req.ctx.labels` that become labels. Anything else a layer puts there is ignored:
 * Prometheus series need their label names fixed up front, and an allowlist keeps the set bounded.
 */
export const DEFAULT_CONTEXT_LABELS = ['backend', 'srv_name', 'authz_name'];
/**
 * Keys of the endpoint's metric labels (discovery's `metric_labels`, `ctx.dstLabels`), exported
 * with a `dst_` prefix as linkerd2-proxy does: `dst_namespace`, `dst_service`, `dst_deployment`, `dst_pod`.
 */
export const DST_LABEL_KEYS = ['namespace', 'service', 'deployment', 'pod'] as const;

export type LabelSet = Record<string, string>;

/** What keyOf reads from a request, before bounding (compared with `===`, no string built). */
export interface LabelInputs {
  direction: string;
  authority: string;
  tls: boolean;
  clientId: string | undefined;
  serverId: string | undefined;
  route: string | undefined;
  context: Array<string | undefined>;
  /** The endpoint's metric labels, compared by identity: discovery hands one object per endpoint. */
  dst: Readonly<Record<string, string>> | undefined;
}

export interface LabelBounds {
  authority: number;
  identity: number;
  route: number;
  /** Distinct values of each allowlisted context label. */
  contextLabel: number;
  /** Distinct values of dst_namespace, dst_service and dst_deployment. */
  dstWorkload: number;
  /** Distinct values of dst_pod (a Deployment has many pods). */
  dstPod: number;
}

export class HttpLabeller {
  readonly contextLabels: readonly string[];
  readonly authority: BoundedLabelValues;
  readonly identity: BoundedLabelValues;
  readonly route: BoundedLabelValues;
  /**
   * The allowlisted context labels and their bounds, as two parallel arrays: keyOf runs twice per
   * request, and iterating a Map with `[name, bounded]` makes an iterator and an entry array
   * per label each time.
   */
  private readonly contextNames: string[] = [];
  private readonly contextBounds: BoundedLabelValues[] = [];
  /** Bounds of the dst_* labels, in DST_LABEL_KEYS order. */
  readonly dstBounds: BoundedLabelValues[];
  /**
   * Each endpoint's dst_* labels, bounded once: discovery gives an endpoint one metric-labels
   * object, so the bounded form (and its key) is worked out per endpoint, not per request. A
   * bounded value never changes once given (a value seen stays, "other" stays "other").
   */
  private readonly dstForms = new WeakMap<object, { key: string; labels: LabelSet }>();

  constructor(contextLabels: readonly string[], bounds: LabelBounds) {
    this.contextLabels = contextLabels;
    this.authority = new BoundedLabelValues('authority', bounds.authority);
    this.identity = new BoundedLabelValues('identity', bounds.identity);
    this.route = new BoundedLabelValues('route', bounds.route);
    for (const name of new Set(contextLabels)) {
      this.contextNames.push(name);
      this.contextBounds.push(new BoundedLabelValues(name, bounds.contextLabel));
    }
    this.dstBounds = DST_LABEL_KEYS.map((k) => new BoundedLabelValues(`dst_${k}`, k === 'pod' ? bounds.dstPod : bounds.dstWorkload));
  }

  /** The bounded dst_* labels of one endpoint's metric labels, and a key string naming them. */
  private dstForm(dst: Readonly<Record<string, string>>): { key: string; labels: LabelSet } {
    let form = this.dstForms.get(dst);
    if (form === undefined) {
      const labels: LabelSet = {};
      let key = '';
      for (let i = 0; i < DST_LABEL_KEYS.length; i++) {
        const raw = dst[DST_LABEL_KEYS[i]!];
        if (typeof raw !== 'string' || raw === '') continue;
        const value = this.dstBounds[i]!.value(raw);
        labels[`dst_${DST_LABEL_KEYS[i]}`] = value;
        key += `\u0000dst_${DST_LABEL_KEYS[i]}=${value}`;
      }
      form = { key, labels };
      this.dstForms.set(dst, form);
    }
    return form;
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
    for (let i = 0; i < this.contextNames.length; i++) {
      const value = extra[this.contextNames[i]!];
      if (value !== undefined) key += `\u0000${this.contextNames[i]}=${this.contextBounds[i]!.value(value)}`;
    }
    if (ctx.dstLabels !== undefined) key += this.dstForm(ctx.dstLabels).key;
    return key;
  }

  /**
   * The raw inputs keyOf reads, remembered so that a later request with the very same inputs
   * can reuse its series without building the key again (see HttpSeriesTable.of).
   */
  inputsOf(req: MeshRequest): LabelInputs {
    const ctx = req.ctx;
    const extra = ctx.labels;
    const context: Array<string | undefined> = [];
    for (const name of this.contextNames) context.push(extra[name]);
    return {
      direction: ctx.direction,
      authority: req.authority,
      tls: (extra.tls ?? String(ctx.tls)) === 'true',
      clientId: ctx.clientIdentity,
      serverId: extra.server_id,
      route: ctx.route,
      context,
      dst: ctx.dstLabels,
    };
  }

  /** True when `req` would give the same key as the request `inputs` were taken from. */
  sameInputs(inputs: LabelInputs, req: MeshRequest): boolean {
    const ctx = req.ctx;
    const extra = ctx.labels;
    if (
      inputs.authority !== req.authority ||
      inputs.direction !== ctx.direction ||
      inputs.tls !== ((extra.tls ?? String(ctx.tls)) === 'true') ||
      inputs.clientId !== ctx.clientIdentity ||
      inputs.serverId !== extra.server_id ||
      inputs.route !== ctx.route ||
      inputs.dst !== ctx.dstLabels
    ) {
      return false;
    }
    for (let i = 0; i < this.contextNames.length; i++) if (inputs.context[i] !== extra[this.contextNames[i]!]) return false;
    return true;
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
    for (let i = 0; i < this.contextNames.length; i++) {
      const value = extra[this.contextNames[i]!];
      if (value !== undefined) labels[this.contextNames[i]!] = this.contextBounds[i]!.value(value);
    }
    if (ctx.dstLabels !== undefined) Object.assign(labels, this.dstForm(ctx.dstLabels).labels);
    return labels;
  }
}
