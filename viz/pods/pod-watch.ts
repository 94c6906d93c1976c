// The registered pods, from the destination's Pods.WatchPods stream (api/destination.proto),
// presenting the viz's own certificate; reconnects with backoff and keeps the last list meanwhile.
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { destinationStubs, type DestinationStubs } from '../../api/destination-channel.ts';
// The proxy's reconnecting stream is reused as is: the viz watches the destination as a proxy does.
import { ResilientStream } from '../../proxy/discovery/resilient-stream.ts';
import type { TlsCredentials } from '../../proxy/identity/credentials.ts';

export interface MeshPod {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  ip: string;
  identity: string;
  serviceAccount: string;
  /** The Deployment that owns the pod (see deploymentOf). */
  deployment: string;
}

/**
 * The owning Deployment's name: what the proxy announced, else the pod's name without its
 * replica suffix (`orders-stable-0`, or Kubernetes' `checkout-5d9f7c-x2x8k`).
 */
export function deploymentOf(name: string, announced: string | undefined): string {
  if (announced) return announced;
  const k8s = /^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$/.exec(name);
  if (k8s) return k8s[1]!;
  return name.replace(/-\d+$/, '');
}

/** A pod as Pods.WatchPods sends it (proto-loader leaves unset strings empty). */
interface WirePod {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  ip: string;
  identity: string;
  serviceAccount: string;
  deployment?: string;
}

function podFromWire(p: WirePod): MeshPod {
  const labels = { ...(p.labels ?? {}) };
  return { name: p.name, namespace: p.namespace, labels, ip: p.ip, identity: p.identity, serviceAccount: p.serviceAccount, deployment: deploymentOf(p.name, p.deployment) };
}

export class PodWatch {
  private pods: MeshPod[] = [];
  private received = false;
  private readonly stream: ResilientStream<{ pods?: WirePod[] }>;
  private stubs?: DestinationStubs;
  private readonly listeners = new Set<(pods: MeshPod[]) => void>();

  constructor(addr: string, credentials: TlsCredentials, serverIdentity: string, logger: Logger) {
    this.stream = new ResilientStream<{ pods?: WirePod[] }>('pods', {
      open: () => {
        // A fresh channel each time, so a renewed certificate is the one presented.
        this.stubs?.close();
        this.stubs = destinationStubs(addr, { trustAnchorsPem: credentials.trustAnchorsPem, client: credentials, serverIdentity });
        return this.stubs.pods.watchPods({ namespace: '' }) as ClientReadableStream<{ pods?: WirePod[] }>;
      },
      onMessage: (list) => {
        this.pods = (list.pods ?? []).map(podFromWire);
        this.received = true;
        for (const l of this.listeners) l(this.pods);
      },
    }, { minMs: 200, maxMs: 5_000 }, logger);
    this.stream.start();
    // A renewed certificate: reopen, so the destination sees the current one.
    credentials.onRotate(() => this.stream.restart());
  }

  /** The latest list (empty until the destination first answers). */
  current(): MeshPod[] {
    return this.pods;
  }

  /** True once the destination answered at least once. */
  get known(): boolean {
    return this.received;
  }

  onChange(listener: (pods: MeshPod[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.stream.stop();
    this.stubs?.close();
  }
}
