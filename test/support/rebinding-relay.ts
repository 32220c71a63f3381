// A UDP relay that stands for a NAT between clients and a server: each client gets its own
// outbound socket (its public port), and rebind() gives a client a new one, as a NAT that
// forgets a mapping does (RFC 9000 §9.3: the server sees the connection arrive from a new port).
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';

import type * as Zquic from '../../lib/index.js';

interface Mapping {
  out: Socket;
  client: RemoteInfo;
}

export class RebindingRelay {
  /** Clients rebound so far. */
  rebinds = 0;
  private readonly inside: Socket;
  private readonly mappings = new Map<string, Mapping>();

  private constructor(
    private readonly server: { address: string; port: number },
    inside: Socket,
  ) {
    this.inside = inside;
    inside.on('message', (msg, client) => {
      const key = `${client.address}:${client.port}`;
      let m = this.mappings.get(key);
      if (!m) this.mappings.set(key, (m = this.outbound(client)));
      m.out.send(msg, this.server.port, this.server.address);
    });
  }

  static async start(server: { address: string; port: number }): Promise<RebindingRelay> {
    const inside = createSocket('udp4');
    await new Promise<void>((resolve) => inside.bind(0, '127.0.0.1', resolve));
    return new RebindingRelay(server, inside);
  }

  /** Where clients send. */
  get port(): number {
    return this.inside.address().port;
  }

  /** The client at `port` (its local port) goes out through a new port from now on. */
  rebind(clientPort: number): void {
    for (const [key, m] of this.mappings) {
      if (m.client.port !== clientPort) continue;
      m.out.close();
      this.mappings.set(key, this.outbound(m.client));
      this.rebinds++;
    }
  }

  /**
   * One client of `zq` (the package, from its sources or compiled) through this relay to an
   * echo server: it sends `bytes` random bytes on a stream, half of them before and half after
   * the NAT gives it a new port once the echo flows. True if the echo came back whole.
   */
  async echoAcrossRebind(
    zq: typeof Zquic,
    tls: { alpn: string; ca: string; servername: string },
    bytes: number,
  ): Promise<boolean> {
    const endpoint = await zq.QuicEndpoint.create({ host: '127.0.0.1' });
    try {
      const session = await zq.connect(`127.0.0.1:${this.port}`, { ...tls, endpoint });
      await session.opened;
      const stream = await session.createBidirectionalStream();
      const sent = randomBytes(bytes);
      const chunks: Buffer[] = [];
      let flowing!: () => void;
      const echoed = new Promise<void>((r) => (flowing = r));
      stream.on('data', (c: Buffer) => {
        chunks.push(c);
        flowing();
      });
      const ended = once(stream, 'end');
      stream.write(sent.subarray(0, bytes / 2));
      await echoed;
      this.rebind(endpoint.address.port);
      stream.end(sent.subarray(bytes / 2));
      await ended;
      const ok = Buffer.concat(chunks).equals(sent);
      await session.close();
      return ok;
    } finally {
      endpoint.destroy();
    }
  }

  close(): void {
    for (const m of this.mappings.values()) m.out.close();
    this.inside.close();
  }

  private outbound(client: RemoteInfo): Mapping {
    const out = createSocket('udp4');
    out.bind(0, '127.0.0.1');
    out.on('message', (msg) => this.inside.send(msg, client.port, client.address));
    return { out, client };
  }
}
