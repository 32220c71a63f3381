// New connections for bench/fuzz-server.ts: the real client's ClientHello (its Initial CRYPTO
// frames), mutated, on a fresh DCID with that DCID's Initial keys, sent from other loopback
// addresses (127.0.1.x, another IPv4 /24: their half-open handshakes do not use up the fuzzed
// clients' admission slots). Under load the server answers with Retry (RFC 9000 §8.1.2): the
// same Initial is then sent again with the token, to the CID the Retry gave, so the mutated
// ClientHello still reaches the TLS parser. The server's Initial answers are opened to count
// its CONNECTION_CLOSEs (TLS alerts are 0x100 + alert, RFC 9001 §4.8).
import type { Socket } from 'node:dgram';

import { PacketKey, initialSecrets } from '../lib/crypto/packet.js';
import type { Frame } from '../lib/quic/frames.js';
import { splitDatagram } from '../lib/quic/header.js';
import { parseDatagram } from '../lib/quic/parser.js';
import { bindLoopback, sealDatagram } from './fuzz-flow.js';
import type { Mutator } from './fuzz-mutate.js';

interface Pending {
  frames: Frame[];
  version: number;
  /** The server's Initial key for the DCID last used (to open its answers). */
  serverKey: PacketKey;
  retried: boolean;
}

/** Hellos remembered for their answers (oldest forgotten first). */
const MAX_PENDING = 256;

export class Hellos {
  /** Initials sent again after a Retry (not counted in the run's datagrams). */
  retried = 0;
  private readonly pending = new Map<string, Pending>();

  private constructor(
    private readonly sockets: Socket[],
    private readonly serverPort: number,
    private readonly m: Mutator,
    private readonly onClose: (what: string) => void,
  ) {
    for (const s of sockets) s.on('message', (msg) => this.answer(s, msg));
  }

  static async open(
    serverPort: number,
    m: Mutator,
    onClose: (what: string) => void,
  ): Promise<Hellos> {
    const sockets = await Promise.all(
      Array.from({ length: 8 }, (_, i) => bindLoopback(`127.0.1.${i + 1}`)),
    );
    return new Hellos(sockets, serverPort, m, onClose);
  }

  /** The datagrams of one new connection carrying `hello` (mutated CRYPTO frames). */
  send(hello: readonly Frame[], version: number): number {
    const m = this.m;
    const frames = hello.map((f) => (m.chance(0.5) ? m.mutateFrame(f) : f));
    const scid = m.bytes(8);
    const socket = m.pick(this.sockets);
    const sent = this.sendInitials(socket, frames, version, m.bytes(8 + m.int(13)), scid);
    if (this.pending.size >= MAX_PENDING) {
      const [oldest, p] = this.pending.entries().next().value!;
      p.serverKey.destroy();
      this.pending.delete(oldest);
    }
    return sent;
  }

  private sendInitials(
    socket: Socket,
    frames: Frame[],
    version: number,
    dcid: Uint8Array,
    scid: Uint8Array,
    token?: Uint8Array,
  ): number {
    const secrets = initialSecrets(version, dcid);
    const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secrets.client, version);
    const k = Buffer.from(scid).toString('hex');
    this.pending.get(k)?.serverKey.destroy();
    this.pending.set(k, {
      frames,
      version,
      serverKey: PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secrets.server, version),
      retried: token !== undefined,
    });
    // One Initial per CRYPTO frame, each in its own datagram (a post-quantum ClientHello
    // does not fit in one).
    frames.forEach((f, i) =>
      socket.send(
        sealDatagram(
          [{ type: 'initial', frames: [f], dcid, key, token, packetNumber: i }],
          version,
          scid,
          true,
        ),
        this.serverPort,
        '127.0.0.1',
      ),
    );
    key.destroy();
    return frames.length;
  }

  private answer(socket: Socket, msg: Buffer): void {
    const first = splitDatagram(msg, 8).packets[0];
    if (!first) return;
    const k = Buffer.from(first.dcid).toString('hex');
    const p = this.pending.get(k);
    if (!p) return;
    if (first.type === 'retry') {
      if (p.retried) return;
      this.retried += this.sendInitials(
        socket,
        p.frames,
        p.version,
        first.scid,
        first.dcid,
        first.token,
      );
      return;
    }
    const lookup = () => ({ key: p.serverKey, largestPn: -1 });
    for (const pk of parseDatagram(msg, 8, (h) => (h.type === 'initial' ? lookup() : undefined)))
      for (const f of pk.frames ?? [])
        if (f.type === 'connection_close') {
          this.onClose(`hello: transport 0x${f.errorCode.toString(16)}`);
          p.serverKey.destroy();
          this.pending.delete(k);
          return;
        }
  }

  close(): void {
    for (const s of this.sockets) s.close();
    for (const p of this.pending.values()) p.serverKey.destroy();
    this.pending.clear();
  }
}
