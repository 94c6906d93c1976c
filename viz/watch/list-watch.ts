// A list the destination streams whole on every change (Pods.WatchPods, Resources.WatchResources),
// kept by the viz: opened with the viz's own certificate, reopened with backoff (and on a renewed
// certificate), the last list kept meanwhile.
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { destinationStubs, type DestinationStubs } from '../../api/destination-channel.ts';
// The proxy's reconnecting stream is reused as is: the viz watches the destination as a proxy does.
import { ResilientStream } from '../../proxy/discovery/resilient-stream.ts';
import type { TlsCredentials } from '../../proxy/identity/credentials.ts';

export interface DestinationPeer {
  addr: string;
  credentials: TlsCredentials;
  /** The destination's SPIFFE identity, checked on every connection. */
  serverIdentity: string;
  logger: Logger;
}

export interface ListStream<Message, Item> {
  /** For logs: `pods`, `resources`. */
  name: string;
  open(stubs: DestinationStubs): ClientReadableStream<Message>;
  /** One message is the whole list. */
  itemsOf(message: Message): Item[];
}

export class ListWatch<Message, Item> {
  private items: Item[] = [];
  private received = false;
  private readonly stream: ResilientStream<Message>;
  private stubs?: DestinationStubs;
  private readonly listeners = new Set<(items: Item[]) => void>();

  constructor(peer: DestinationPeer, list: ListStream<Message, Item>) {
    const { addr, credentials, serverIdentity } = peer;
    this.stream = new ResilientStream<Message>(list.name, {
      open: () => {
        // A fresh channel each time, so a renewed certificate is the one presented.
        this.stubs?.close();
        this.stubs = destinationStubs(addr, { trustAnchorsPem: credentials.trustAnchorsPem, client: credentials, serverIdentity });
        return list.open(this.stubs);
      },
      onMessage: (message) => {
        this.items = list.itemsOf(message);
        this.received = true;
        for (const l of this.listeners) l(this.items);
      },
    }, { minMs: 200, maxMs: 5_000 }, peer.logger);
    this.stream.start();
    credentials.onRotate(() => this.stream.restart());
  }

  /** The latest list (empty until the destination first answers). */
  current(): Item[] {
    return this.items;
  }

  /** True once the destination answered at least once. */
  get known(): boolean {
    return this.received;
  }

  onChange(listener: (items: Item[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.stream.stop();
    this.stubs?.close();
  }
}
