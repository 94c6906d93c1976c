// Pod addresses on the node: 127.0.10.N inside the cluster's network namespace (all of
// 127.0.0.0/8 is loopback there too), the lowest free N, given back when the pod is gone.
import { CodedError } from '../../../../api/errors.ts';

export class PodIpsExhausted extends CodedError<'POD_IPS_EXHAUSTED'> {
  constructor(prefix: string) {
    super('POD_IPS_EXHAUSTED', `no free pod address left in ${prefix}.1-${prefix}.249`);
  }
}

export class PodIps {
  private readonly taken = new Map<string, number>();

  /** `prefix` is the first three parts, like 127.0.10; .250 and up stay free for the control plane's own addresses. */
  constructor(private readonly prefix = '127.0.10') {}

  /** The pod's address: the one it has, else the lowest free one. */
  assign(podUid: string): string {
    const had = this.taken.get(podUid);
    if (had !== undefined) return `${this.prefix}.${had}`;
    const used = new Set(this.taken.values());
    for (let n = 1; n < 250; n++) {
      if (used.has(n)) continue;
      this.taken.set(podUid, n);
      return `${this.prefix}.${n}`;
    }
    throw new PodIpsExhausted(this.prefix);
  }

  release(podUid: string): void {
    this.taken.delete(podUid);
  }
}
