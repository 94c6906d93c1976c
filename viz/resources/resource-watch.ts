// Every resource the destination holds, with its state, from Resources.WatchResources
// (api/destination.proto), presenting the viz's own certificate as the pod watch does;
// reconnects with backoff and keeps the last list meanwhile.
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { destinationStubs, type DestinationStubs } from '../../api/destination-channel.ts';
import { ResilientStream } from '../../proxy/discovery/resilient-stream.ts';
import type { TlsCredentials } from '../../proxy/identity/credentials.ts';

export interface HeldResource {
  kind: string;
  namespace: string;
  name: string;
  file: string;
  yaml: string;
  state: 'applied' | 'warnings' | 'refused';
  problems: string[];
  authorizations: string[];
}

export class ResourceWatch {
  private list: HeldResource[] = [];
  private received = false;
  private readonly stream: ResilientStream<{ resources?: HeldResource[] }>;
  private stubs?: DestinationStubs;

  constructor(addr: string, credentials: TlsCredentials, serverIdentity: string, logger: Logger) {
    this.stream = new ResilientStream<{ resources?: HeldResource[] }>('resources', {
      open: () => {
        // A fresh channel each time, so a renewed certificate is the one presented.
        this.stubs?.close();
        this.stubs = destinationStubs(addr, { trustAnchorsPem: credentials.trustAnchorsPem, client: credentials, serverIdentity });
        return this.stubs.resources.watchResources({}) as ClientReadableStream<{ resources?: HeldResource[] }>;
      },
      onMessage: (message) => {
        this.list = (message.resources ?? []).map((r) => ({ ...r, problems: [...(r.problems ?? [])], authorizations: [...(r.authorizations ?? [])] }));
        this.received = true;
      },
    }, { minMs: 200, maxMs: 5_000 }, logger);
    this.stream.start();
    credentials.onRotate(() => this.stream.restart());
  }

  current(): HeldResource[] {
    return this.list;
  }

  /** True once the destination answered at least once. */
  get known(): boolean {
    return this.received;
  }

  close(): void {
    this.stream.stop();
    this.stubs?.close();
  }
}
