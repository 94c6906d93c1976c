// The inbound policy of each app port, as the authorization layers read it: the resolver's live
// cell, held open (a discovery watch nobody subscribes to is stopped when idle, which would
// freeze a cached layer's policy), with this proxy's own settings laid over it.
import type { DefaultPolicy, InboundPolicy } from '../../api/destination-types.ts';
import type { Resolver } from '../discovery/resolver.ts';
import { Watched } from '../discovery/watched.ts';

export interface PolicyOverrides {
  /** Replaces the policy's cluster networks (`--cluster-networks`). */
  clusterNetworks?: string[];
  /** Replaces the default of a port no Server selects (static development mode only: the destination gets it in the request). */
  defaultPolicy?: DefaultPolicy;
}

/** Ports held open; beyond this (ports come from a caller's header) a port is looked up per use. */
const MAX_HELD_PORTS = 256;

/** A cell whose value is the source's with the overrides applied (authorize reads `get()` per request). */
class OverriddenPolicy extends Watched<InboundPolicy> {
  constructor(
    readonly source: Watched<InboundPolicy>,
    private readonly overrides: PolicyOverrides,
  ) {
    super();
  }

  private lastSource: InboundPolicy | undefined;
  private lastApplied: InboundPolicy | undefined;

  /**
   * The same object for as long as the source's policy is the same: the authorization layer
   * caches its decisions per policy object, and a fresh copy per request would defeat that.
   */
  override get(): InboundPolicy | undefined {
    const p = this.source.get();
    if (p === undefined) return undefined;
    if (p !== this.lastSource) {
      this.lastSource = p;
      this.lastApplied = applyOverrides(p, this.overrides);
    }
    return this.lastApplied;
  }

  override subscribe(listener: (value: InboundPolicy) => void): () => void {
    return this.source.subscribe((p) => listener(applyOverrides(p, this.overrides)));
  }

  override first(timeoutMs: number, what?: string): Promise<InboundPolicy> {
    return this.source.first(timeoutMs, what).then((p) => applyOverrides(p, this.overrides));
  }
}

function applyOverrides(p: InboundPolicy, o: PolicyOverrides): InboundPolicy {
  if (!o.clusterNetworks && !o.defaultPolicy) return p;
  return { ...p, ...(o.clusterNetworks ? { clusterNetworks: o.clusterNetworks } : {}), ...(o.defaultPolicy ? { defaultPolicy: o.defaultPolicy } : {}) };
}

export class InboundPolicySource {
  private readonly held = new Map<number, { cell: OverriddenPolicy; release: () => void }>();

  constructor(
    private readonly resolver: Resolver,
    private readonly overrides: PolicyOverrides = {},
  ) {}

  policyFor(port: number): Watched<InboundPolicy> {
    const hit = this.held.get(port);
    if (hit) return hit.cell;
    const cell = new OverriddenPolicy(this.resolver.inboundPolicy(port), this.overrides);
    if (this.held.size < MAX_HELD_PORTS) {
      // A subscriber keeps the watch live for as long as this proxy runs.
      this.held.set(port, { cell, release: cell.source.subscribe(() => {}) });
    }
    return cell;
  }

  close(): void {
    for (const { release } of this.held.values()) release();
    this.held.clear();
  }
}
