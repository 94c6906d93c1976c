// Transport metrics: connections opened and closed, open now, and bytes each way, per peer.
//
// Bytes are read from the sockets themselves (bytesRead/bytesWritten) at scrape time, so a
// long-lived connection (the one HTTP/2 session between two proxies) shows its traffic while
// it is open, not only once it closes, and the data path pays nothing per byte.
import type { Socket } from 'node:net';
import { Counter, Gauge, type Registry } from './prom-client-parts.ts';
import type { BoundedLabelValues } from './bounded-values.ts';
import { DST_LABEL_KEYS, DST_LABELS } from './http-labels.ts';

export interface ConnectionLabels {
  direction: 'inbound' | 'outbound';
  /** `src`: the connection came to us (the peer is the client); `dst`: we opened it. */
  peer: 'src' | 'dst';
  tls: boolean;
  authority?: string;
  /** The peer's identity: the client's on `src` connections, the server's on `dst` ones. */
  identity?: string;
  /** Outbound `dst` connections: discovery's metric labels of the endpoint, exported as `dst_*`. */
  dst?: Readonly<Record<string, string>>;
}

const LABELS = ['direction', 'peer', 'tls', 'authority', 'client_id', 'server_id', ...DST_LABELS] as const;
type TcpLabels = Partial<Record<(typeof LABELS)[number], string>>;

/** One label set's sockets: the bytes of those already closed, and the live ones. */
interface PeerTraffic {
  labels: TcpLabels;
  closedRead: number;
  closedWritten: number;
  open: Set<Socket>;
}

export class TcpMetrics {
  private readonly opened: Counter<string>;
  private readonly closed: Counter<string>;
  private readonly openNow: Gauge<string>;
  private readonly traffic = new Map<string, PeerTraffic>();
  private readonly tracked = new WeakSet<Socket>();

  constructor(
    registry: Registry,
    private readonly bound: { authority: BoundedLabelValues; identity: BoundedLabelValues; dst: readonly BoundedLabelValues[] },
  ) {
    const labelNames = [...LABELS];
    const registers = [registry];
    this.opened = new Counter({ name: 'tcp_open_total', help: 'Connections opened', labelNames, registers });
    this.closed = new Counter({
      name: 'tcp_close_total',
      help: 'Connections closed; errno names the socket error when one closed it',
      labelNames: [...labelNames, 'errno'],
      registers,
    });
    this.openNow = new Gauge({ name: 'tcp_open_connections', help: 'Connections open now', labelNames, registers });
    const traffic = this.traffic;
    const sum = (pick: (t: PeerTraffic) => number) =>
      function (this: Counter<string>) {
        this.reset();
        for (const t of traffic.values()) this.inc(t.labels, pick(t));
      };
    new Counter({
      name: 'tcp_read_bytes_total',
      help: 'Bytes read from peers, as the tracked socket counts them (a raw socket under TLS: TLS records)',
      labelNames,
      registers,
      collect: sum((t) => t.closedRead + sumOf(t.open, (s) => s.bytesRead)),
    });
    new Counter({
      name: 'tcp_write_bytes_total',
      help: 'Bytes written to peers, as the tracked socket counts them (a raw socket under TLS: TLS records)',
      labelNames,
      registers,
      collect: sum((t) => t.closedWritten + sumOf(t.open, (s) => s.bytesWritten)),
    });
  }

  track(socket: Socket, labels: ConnectionLabels): void {
    if (this.tracked.has(socket)) return; // counted once, however many layers report it
    this.tracked.add(socket);
    const tcpLabels = this.toLabels(labels);
    const key = LABELS.map((name) => tcpLabels[name] ?? '').join('\u0000');
    let traffic = this.traffic.get(key);
    if (!traffic) {
      traffic = { labels: tcpLabels, closedRead: 0, closedWritten: 0, open: new Set() };
      this.traffic.set(key, traffic);
    }
    const entry = traffic;
    entry.open.add(socket);
    this.opened.inc(tcpLabels);
    this.openNow.inc(tcpLabels);

    let errno: string | undefined;
    // Also keeps an unexpected socket error from crashing the process if its owner forgot a listener.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      errno ??= typeof err.code === 'string' ? err.code : 'EUNKNOWN';
    });
    socket.once('close', () => {
      entry.open.delete(socket);
      entry.closedRead += socket.bytesRead;
      entry.closedWritten += socket.bytesWritten;
      this.openNow.dec(tcpLabels);
      this.closed.inc(errno ? { ...tcpLabels, errno } : tcpLabels);
    });
  }

  private toLabels(labels: ConnectionLabels): TcpLabels {
    const out: TcpLabels = { direction: labels.direction, peer: labels.peer, tls: labels.tls ? 'true' : 'false' };
    if (labels.authority) out.authority = this.bound.authority.value(labels.authority.toLowerCase());
    if (labels.identity) {
      out[labels.peer === 'src' ? 'client_id' : 'server_id'] = this.bound.identity.value(labels.identity);
    }
    if (labels.dst) {
      for (let i = 0; i < DST_LABEL_KEYS.length; i++) {
        const raw = labels.dst[DST_LABEL_KEYS[i]!];
        if (typeof raw === 'string' && raw !== '') out[DST_LABELS[i]!] = this.bound.dst[i]!.value(raw);
      }
    }
    return out;
  }
}

function sumOf(sockets: Set<Socket>, pick: (s: Socket) => number): number {
  let total = 0;
  for (const s of sockets) total += pick(s);
  return total;
}
