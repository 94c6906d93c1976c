// Every resource the destination holds, with its state, from Resources.WatchResources
// (api/destination.proto), presenting the viz's own certificate as the pod watch does;
// reconnects with backoff and keeps the last list meanwhile.
import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { destinationProto } from '../../api/destination-proto.ts';
import { ResilientStream } from '../../proxy/discovery/resilient-stream.ts';
import { spiffeIdOfPeer } from '../../api/spiffe.ts';
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
  private client?: grpc.Client;

  constructor(addr: string, credentials: TlsCredentials, serverIdentity: string, logger: Logger) {
    this.stream = new ResilientStream<{ resources?: HeldResource[] }>('resources', {
      open: () => {
        const key = credentials.current();
        const creds = grpc.credentials.createSsl(Buffer.from(credentials.trustAnchorsPem), Buffer.from(String(key.key)), Buffer.from(String(key.cert)), {
          checkServerIdentity: (_host: string, cert: PeerCertificate) => {
            const id = spiffeIdOfPeer(cert.subjectaltname);
            return id === serverIdentity ? undefined : new Error(`destination at ${addr} presented ${id ?? 'no SPIFFE id'}, expected ${serverIdentity}`);
          },
        });
        this.client?.close();
        const { Resources } = destinationProto();
        this.client = new Resources(addr, creds, { 'grpc.ssl_target_name_override': 'destination.mesh-system', 'grpc.keepalive_time_ms': 30_000 });
        return (this.client as unknown as { watchResources(req: object): grpc.ClientReadableStream<{ resources?: HeldResource[] }> }).watchResources({});
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
    this.client?.close();
  }
}
