// One fuzzed connection of bench/fuzz-server.ts: a real client handshake and exchange through
// a capturing relay (so the fuzzer learns the client's datagrams, both sides' secrets from the
// key log and the server's connection ID), then the relay's upstream socket is the fuzzer's:
// the real client is cut off and its socket to the server sends forged datagrams, sealed with
// the client's genuine keys so they reach the server's frame and TLS parsers. The server's
// answers are opened with its key-logged secrets to see how it closes.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';

import { PacketKey, initialSecrets } from '../lib/crypto/packet.js';
import type { CipherSuiteName } from '../lib/crypto/suites.js';
import { connect, connectHttp3, type QuicSession } from '../lib/index.js';
import { PacketBuilder } from '../lib/quic/builder.js';
import { encodeFrame, frameSize, type Frame } from '../lib/quic/frames.js';
import type { PacketHeader } from '../lib/quic/header.js';
import { parseDatagram, type KeyLookup } from '../lib/quic/parser.js';
import { secretFromKeylog } from '../test/support/forge.js';
import type { Mutator } from './fuzz-mutate.js';
import type { ServeMode } from './server-child.js';

export type Space = 'initial' | 'handshake' | '1rtt';

/** A packet to seal into a forged datagram. */
export interface ForgedPacket {
  type: Space;
  frames: Frame[];
  /** Default: the flow's server CID. */
  dcid?: Uint8Array;
  /** Initial packets: a Retry or NEW_TOKEN token. */
  token?: Uint8Array;
  /** Initial packets of a new connection: their own key. */
  key?: PacketKey;
  packetNumber?: number;
}

/** A UDP socket on a loopback address (127.0.0.1 unless given: all of 127/8 is loopback). */
export function bindLoopback(host = '127.0.0.1'): Promise<Socket> {
  const s = createSocket('udp4');
  s.on('error', () => {});
  return new Promise((resolve) => s.bind(0, host, () => resolve(s)));
}

const builder = new PacketBuilder(1500, 4);
const scratch = Buffer.alloc(65536);

/** Whether `f` can be encoded at all (a mutated frame may break an encoder invariant). */
function encodable(f: Frame): boolean {
  try {
    return frameSize(f) <= scratch.length && encodeFrame(scratch, 0, f) > 0;
  } catch {
    return false;
  }
}

/** Seals `packets` into one datagram (coalesced, §12.2). Frames that do not fit are left out. */
export function sealDatagram(
  packets: readonly (ForgedPacket & { dcid: Uint8Array; key: PacketKey; packetNumber: number })[],
  version: number,
  scid: Uint8Array,
  pad: boolean,
): Buffer {
  const b = builder;
  b.reset();
  b.startDatagram(1500);
  for (const p of packets) {
    if (
      !b.startPacket({
        type: p.type,
        version,
        dcid: p.dcid,
        scid,
        token: p.token,
        packetNumber: p.packetNumber,
        largestAcked: -1,
        keyIndex: b.keyIndex(p.key),
      })
    )
      break;
    let wrote = false;
    for (const f of p.frames) {
      if (!encodable(f) || frameSize(f) > b.room) continue;
      b.writeFrame(f);
      wrote = true;
    }
    if (!wrote) b.writeFrame({ type: 'padding', length: 1 });
    b.finishPacket();
  }
  b.finishDatagram(pad);
  b.protect();
  return Buffer.from(b.datagram(0));
}

export interface FlowOptions {
  mode: ServeMode;
  serverPort: number;
  ca: string;
  keylogFile: string;
  mutator: Mutator;
  /** Called with each close the server sends on this flow: 'transport 0x0a', ... */
  onClose: (what: string) => void;
}

export class Flow {
  /** The client's datagrams as captured, and the 1-RTT frames they carried. */
  readonly real: Buffer[] = [];
  readonly realFrames: Frame[] = [];
  /** The CRYPTO frames of the client's Initial packets (its ClientHello). */
  readonly helloFrames: Frame[] = [];
  serverCid!: Buffer;
  /** Every CID the server issued (NEW_CONNECTION_ID, §5.1.1): a fuzzed RETIRE_CONNECTION_ID
   * may have retired the first one. */
  readonly serverCids: Buffer[] = [];
  clientCid!: Buffer;
  version!: number;
  suite!: CipherSuiteName;
  /** The client's keys per space, to seal with; the server's, to open with. */
  private tx = new Map<Space, PacketKey>();
  private rx = new Map<Space, PacketKey>();
  private attached = true;
  private clientAddr: { port: number } | undefined;
  private front!: Socket;
  private upstream!: Socket;
  private serverLargest = { initial: -1, handshake: -1, '1rtt': -1 };
  /** Next packet number of a forged packet per space: well above the real client's. */
  private pn = { initial: 100_000, handshake: 100_000, '1rtt': 100_000 };
  nextBidi = 400;
  nextUni = 402;
  sent = 0;
  /** Sends not yet handed to the kernel: the socket closes after them. */
  private pending = 0;
  private destroyed = false;
  /** Set when the server closed (CONNECTION_CLOSE seen). */
  closed = false;

  private constructor(private readonly o: FlowOptions) {}

  /** Runs a real client exchange through a capturing relay and takes over its socket. */
  static async open(o: FlowOptions, keylogOffset: number): Promise<{ flow: Flow; offset: number }> {
    const f = new Flow(o);
    f.front = await bindLoopback();
    f.upstream = await bindLoopback();
    f.front.on('message', (msg, from) => {
      if (!f.attached) return;
      f.clientAddr = from;
      if (f.real.length < 64) f.real.push(Buffer.from(msg));
      f.upstream.send(msg, o.serverPort, '127.0.0.1');
    });
    f.upstream.on('message', (msg) => {
      if (f.attached && f.clientAddr) f.front.send(msg, f.clientAddr.port, '127.0.0.1');
      else f.readServer(msg);
    });
    let session: QuicSession | undefined;
    try {
      session = await f.exchange();
      await f.learnKeys(session, keylogOffset);
    } catch (e) {
      f.destroy();
      session?.destroy();
      throw e;
    }
    // Cut the real client off: from now on the socket to the server is the fuzzer's.
    f.attached = false;
    session.destroy();
    f.front.close();
    return { flow: f, offset: readFileSync(o.keylogFile).length };
  }

  /** One real exchange for the server's kind: echo bytes, an HTTP/3 POST, a file GET. */
  private async exchange(): Promise<QuicSession> {
    const o = this.o;
    const port = this.front.address().port;
    const common = { ca: o.ca, servername: 'localhost', keylog: o.keylogFile, qlog: false };
    const body = o.mutator.bytes(1 + o.mutator.int(3000));
    if (o.mode === 'echo') {
      const s = await connect(`127.0.0.1:${port}`, { ...common, alpn: 'echo' });
      await s.opened;
      const st = await s.createBidirectionalStream();
      st.end(body);
      const parts: Buffer[] = [];
      for await (const c of st) parts.push(c as Buffer);
      if (!Buffer.concat(parts).equals(body)) throw new Error('echo mismatch');
      return s;
    }
    const c = await connectHttp3(`127.0.0.1:${port}`, common);
    const res =
      o.mode === 'h3'
        ? await c.request('/echo', { method: 'POST', body })
        : await c.request('/small.bin');
    await res.bytes();
    if (res.status !== 200) throw new Error(`HTTP status ${res.status}`);
    return c.session;
  }

  /** The secrets this handshake appended to the key log (handshakes run one at a time). */
  private async learnKeys(session: QuicSession, offset: number): Promise<void> {
    let lines: string[] = [];
    for (let i = 0; i < 200; i++) {
      lines = readFileSync(this.o.keylogFile).subarray(offset).toString().split('\n');
      if (lines.some((l) => l.startsWith('SERVER_TRAFFIC_SECRET_0 '))) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    const hs = session.handshake!;
    this.suite = hs.cipher as CipherSuiteName;
    this.version = hs.version;
    this.serverCid = Buffer.from(session.conn.dcid);
    this.serverCids.push(this.serverCid);
    this.clientCid = Buffer.from(session.conn.localConnectionIds()[0]!);
    const first = this.real[0]!;
    const odcid = first.subarray(6, 6 + first[5]!);
    const init = initialSecrets(this.version, odcid);
    const key = (secret: Uint8Array, sha256 = false) =>
      PacketKey.fromSecret(sha256 ? 'TLS_AES_128_GCM_SHA256' : this.suite, secret, this.version);
    this.tx.set('initial', key(init.client, true));
    this.rx.set('initial', key(init.server, true));
    this.tx.set('handshake', key(secretFromKeylog(lines, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET')));
    this.rx.set('handshake', key(secretFromKeylog(lines, 'SERVER_HANDSHAKE_TRAFFIC_SECRET')));
    this.tx.set('1rtt', key(secretFromKeylog(lines, 'CLIENT_TRAFFIC_SECRET_0')));
    this.rx.set('1rtt', key(secretFromKeylog(lines, 'SERVER_TRAFFIC_SECRET_0')));
    // The real 1-RTT frames, templates for frame-level mutation.
    const lookup: KeyLookup = (h: PacketHeader) => {
      const k = this.tx.get(h.type as Space);
      return k && { key: k, largestPn: -1, expectedKeyPhase: h.type === '1rtt' ? 0 : -1 };
    };
    for (const d of this.real)
      for (const p of parseDatagram(d, this.serverCid.length, lookup))
        for (const fr of p.frames ?? []) {
          if (p.header.type === '1rtt' && fr.type !== 'padding') this.realFrames.push(fr);
          if (p.header.type === 'initial' && fr.type === 'crypto') this.helloFrames.push(fr);
        }
  }

  /** The server's answers: a CONNECTION_CLOSE in any of them is counted. */
  private readServer(msg: Buffer): void {
    const lookup: KeyLookup = (h) => {
      const space = h.type as Space;
      const k = this.rx.get(space);
      if (!k) return undefined;
      return {
        key: k,
        largestPn: this.serverLargest[space],
        expectedKeyPhase: space === '1rtt' ? 0 : -1,
      };
    };
    for (const p of parseDatagram(msg, this.clientCid.length, lookup)) {
      const space = p.header.type as Space;
      if (p.packetNumber >= 0 && space in this.serverLargest)
        this.serverLargest[space] = Math.max(this.serverLargest[space], p.packetNumber);
      for (const fr of p.frames ?? [])
        if (fr.type === 'new_connection_id' && this.serverCids.length < 64)
          this.serverCids.push(Buffer.from(fr.connectionId));
        else if (fr.type === 'connection_close' && !this.closed) {
          this.closed = true;
          const kind = fr.application ? 'application' : 'transport';
          this.o.onClose(`${kind} 0x${fr.errorCode.toString(16)}`);
        }
    }
  }

  /** A datagram of forged packets sealed with this client's keys. */
  forge(packets: readonly ForgedPacket[]): Buffer {
    return sealDatagram(
      packets.map((p) => ({
        ...p,
        dcid: p.dcid ?? this.serverCid,
        key: p.key ?? this.tx.get(p.type)!,
        packetNumber: p.packetNumber ?? this.pn[p.type]++,
      })),
      this.version,
      this.clientCid,
      packets.some((p) => p.type === 'initial'),
    );
  }

  /** Sends `d` from the real client's address. */
  send(d: Uint8Array): void {
    this.sent++;
    this.pending++;
    this.upstream.send(d, this.o.serverPort, '127.0.0.1', () => {
      if (--this.pending === 0 && this.destroyed) this.closeSockets();
    });
  }

  /** Forgets the keys; the sockets close once the datagrams already sent are out. */
  destroy(): void {
    this.attached = false;
    this.destroyed = true;
    for (const k of [...this.tx.values(), ...this.rx.values()]) k.destroy();
    this.tx.clear();
    this.rx.clear();
    if (this.pending === 0) this.closeSockets();
  }

  private closeSockets(): void {
    for (const s of [this.front, this.upstream])
      try {
        s.close();
      } catch {
        // already closed
      }
  }
}
