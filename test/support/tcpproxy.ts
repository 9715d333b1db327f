/**
 * A TCP proxy on loopback for network faults (as etcd3's own tests do, instead of mocks): a
 * component talks to etcd through it, and the test cuts the path.
 * - `cut()`: a partition. Bytes stop flowing both ways on open connections and new connections
 *   are accepted but not forwarded, as when packets are dropped: the client's calls and
 *   keep-alives hang and time out; nothing is refused.
 * - `heal()`: the path is back; what was held flows on (TCP would retransmit it), new connections
 *   are forwarded.
 * - `reset()`: every open connection is destroyed (a middlebox restart).
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  upstream: Socket | null;
  /** Bytes from the client held while cut (or before the upstream connected). */
  held: Buffer[];
  /** Bytes from upstream held while cut. */
  heldBack: Buffer[];
}

export class TcpProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<Pair>();
  private isCut = false;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<number> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  cut(): void {
    this.isCut = true;
  }

  heal(): void {
    this.isCut = false;
    for (const p of this.pairs) {
      if (!p.upstream) this.connectUpstream(p);
      else this.flush(p);
    }
  }

  reset(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.reset();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  private accept(client: Socket): void {
    const p: Pair = { client, upstream: null, held: [], heldBack: [] };
    this.pairs.add(p);
    client.on('data', (d) => {
      if (this.isCut || !p.upstream || p.upstream.connecting) p.held.push(d);
      else p.upstream.write(d);
    });
    const drop = () => {
      this.pairs.delete(p);
      client.destroy();
      p.upstream?.destroy();
    };
    client.on('error', drop);
    client.on('close', drop);
    if (!this.isCut) this.connectUpstream(p);
  }

  private connectUpstream(p: Pair): void {
    const up = connect({ host: this.targetHost, port: this.targetPort });
    p.upstream = up;
    up.on('connect', () => this.flush(p));
    up.on('data', (d) => {
      if (this.isCut) p.heldBack.push(d);
      else p.client.write(d);
    });
    const drop = () => {
      this.pairs.delete(p);
      p.client.destroy();
      up.destroy();
    };
    up.on('error', drop);
    up.on('close', drop);
  }

  private flush(p: Pair): void {
    if (this.isCut || !p.upstream || p.upstream.connecting) return;
    for (const d of p.held.splice(0)) p.upstream.write(d);
    for (const d of p.heldBack.splice(0)) p.client.write(d);
  }
}
