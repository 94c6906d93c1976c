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

/** What keyOf reads from a request, before bounding (compared with `===`, no string built). */
export interface LabelInputs {
  direction: string;
  authority: string;
  tls: boolean;
  clientId: string | undefined;
  serverId: string | undefined;
  route: string | undefined;
  context: Array<string | undefined>;
}

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
  /**
   * The allowlisted context labels and their bounds, as two parallel arrays: keyOf runs twice per
   * request, and iterating a Map with `[name, bounded]` makes an iterator and an entry array
   * per label each time.
   */
  private readonly contextNames: string[] = [];
  private readonly contextBounds: BoundedLabelValues[] = [];

  constructor(contextLabels: readonly string[], bounds: LabelBounds) {
    this.contextLabels = contextLabels;
    this.authority = new BoundedLabelValues('authority', bounds.authority);
    this.identity = new BoundedLabelValues('identity', bounds.identity);
    this.route = new BoundedLabelValues('route', bounds.route);
    for (const name of new Set(contextLabels)) {
      this.contextNames.push(name);
      this.contextBounds.push(new BoundedLabelValues(name, bounds.contextLabel));
    }
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
      inputs.route !== ctx.route
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
    return labels;
  }
}
