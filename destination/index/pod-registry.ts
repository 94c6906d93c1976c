// The pods whose proxies are registered right now. A pod lives exactly as long as its
// registration stream; a newer registration of the same pod replaces the older one.
import type { PodInfo } from '../../api/destination-types.ts';

export interface RegisteredPod extends PodInfo {
  /** The pod's inbound proxy port (4143). */
  inboundPort: number;
  /** From the proxy's client certificate, never from the announcement. */
  identity: string;
  serviceAccount: string;
  /** The pod's Ready condition, as its proxy announces it from the kubelet (true when not said). */
  ready: boolean;
}

export class PodRegistry {
  private readonly pods = new Map<string, { pod: RegisteredPod; token: symbol }>();
  private readonly listeners = new Set<() => void>();

  /** Registers `pod`; the returned function removes it, unless a newer registration replaced it. */
  register(pod: RegisteredPod): () => void {
    const key = `${pod.namespace}/${pod.name}`;
    const token = Symbol(key);
    this.pods.set(key, { pod, token });
    this.changed();
    return () => {
      if (this.pods.get(key)?.token !== token) return;
      this.pods.delete(key);
      this.changed();
    };
  }

  get(namespace: string, name: string): RegisteredPod | undefined {
    return this.pods.get(`${namespace}/${name}`)?.pod;
  }

  all(): RegisteredPod[] {
    return [...this.pods.values()].map((e) => e.pod);
  }

  /** The pod at `ip`: its pod IP, or a dual-stack pod's address of its other family. */
  byIp(ip: string): RegisteredPod | undefined {
    for (const { pod } of this.pods.values()) if (pod.ip === ip || pod.otherIps?.includes(ip)) return pod;
    return undefined;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}
