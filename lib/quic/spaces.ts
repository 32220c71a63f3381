/**
 * Per packet number space state of a connection (RFC 9000 §12.3): packet protection keys,
 * the ACK tracker, the CRYPTO stream in both directions, and what each sent packet carried.
 */
import type { PacketKey } from '../crypto/packet.js';
import { AckTracker, type PacketSpace } from './ack-tracker.js';
import type { FrameWriter } from './builder.js';
import { cryptoHeaderSize, frameSize, writeCryptoHeader, type Frame } from './frames.js';
import { RecvBuffer } from './recv-buffer.js';
import { SendBuffer } from './send-buffer.js';
import type { StreamSentFrame } from './streams.js';

/** RFC 9000 §7.5: CRYPTO data buffered beyond the read offset (at least 4096). */
export const CRYPTO_BUFFER_LIMIT = 64 * 1024;
/** ACK ranges we report at most (the oldest are left out, RFC 9000 §13.2.3). */
const MAX_ACK_RANGES = 32;
/** CRYPTO offsets stay below 2^40 here: the header is sized for that. */
const MAX_CRYPTO_OFFSET = 2 ** 40;

/** What a sent packet carried, for acknowledgement and loss (retransmission). */
export type SentFrame =
  | StreamSentFrame
  | { t: 'ack'; largest: number }
  | { t: 'crypto'; offset: number; len: number }
  | { t: 'ctrl'; f: Frame }
  | { t: 'handshake_done' }
  | { t: 'challenge' }
  | { t: 'other'; name: 'ping' | 'path_response' | 'datagram' };

export interface PacketMeta {
  frames: SentFrame[];
  /** 1-RTT key phase the packet was sent with (-1: not 1-RTT). */
  phase: number;
  /** Sent with ECT(0) (lib/quic/ecn.ts). */
  ecn: boolean;
}

export class Space {
  readKey: PacketKey | undefined;
  writeKey: PacketKey | undefined;
  acks: AckTracker;
  /** The CRYPTO stream's buffers, created on first use and let go when drained (an idle
   * connection's 1-RTT CRYPTO stream holds nothing between NewSessionTickets). */
  private send: SendBuffer | undefined;
  private recv: RecvBuffer | undefined;
  /** Where a buffer created again starts: the CRYPTO stream's offsets go on (RFC 9000 §19.6). */
  private sendOffset = 0;
  private recvOffset = 0;
  nextPn = 0;
  discarded = false;
  probes = 0;
  constructor(space: PacketSpace, maxAckDelay: number, ackDelayExponent: number) {
    this.acks = new AckTracker(space, { maxAckDelay, ackDelayExponent });
  }

  /** The CRYPTO stream's send side (created if needed). */
  get cryptoSend(): SendBuffer {
    return (this.send ??= new SendBuffer(this.sendOffset));
  }

  /** The CRYPTO stream's receive side (created if needed). */
  get cryptoRecv(): RecvBuffer {
    return (this.recv ??= new RecvBuffer({
      cryptoBufferLimit: CRYPTO_BUFFER_LIMIT,
      copy: true,
      offset: this.recvOffset,
    }));
  }

  /** CRYPTO data waits to be sent (or sent again). */
  get cryptoPending(): boolean {
    return this.send?.hasPending === true;
  }

  /** A CRYPTO frame was acknowledged (below a drained buffer's start: nothing to do). */
  cryptoAcked(offset: number, len: number): void {
    this.send?.onAcked(offset, len, false);
  }

  /** A CRYPTO frame was declared lost (below a drained buffer's start: nothing to do). */
  cryptoLost(offset: number, len: number): void {
    this.send?.onLost(offset, len, false);
  }

  /** RFC 9002 §6.2.4: a probe carries the unacknowledged CRYPTO data again. */
  resendCrypto(): void {
    const cs = this.send;
    if (cs && cs.sentOffset > 0) cs.onLost(0, cs.sentOffset, false);
  }

  /**
   * Lets drained CRYPTO buffers go (memory per idle connection). A copy of acknowledged data
   * still in flight is acknowledged or lost below the new buffer's start: nothing to do.
   */
  compactCrypto(): void {
    const s = this.send;
    if (s?.drained) {
      this.sendOffset = s.written;
      this.send = undefined;
    }
    const r = this.recv;
    if (r?.drained) {
      this.recvOffset = r.readOffset;
      this.recv = undefined;
    }
  }

  /** Whether CRYPTO buffers are held (memory per connection; tests). */
  get cryptoHeld(): boolean {
    return this.send !== undefined || this.recv !== undefined;
  }

  /** An ACK frame of what this space received, when it fits (RFC 9000 §13.2). */
  writeAck(w: FrameWriter, frames: SentFrame[], now: number): void {
    const ack = this.acks.buildAck(now, MAX_ACK_RANGES);
    if (!ack) return;
    const largest = ack.ranges[0]!.end;
    const { ackDelay, ranges, ecn } = ack;
    const f: Frame = { type: 'ack', largest, ackDelay, ranges, ecn };
    if (frameSize(f) > w.room) return;
    w.writeFrame(f);
    this.acks.onAckSent();
    frames.push({ t: 'ack', largest });
  }

  /** CRYPTO frames of the handshake data waiting to be sent (or sent again), as much as fits. */
  writeCrypto(w: FrameWriter, frames: SentFrame[]): boolean {
    let wrote = false;
    const cs = this.send;
    while (cs?.hasPending) {
      const room = w.room - cryptoHeaderSize(MAX_CRYPTO_OFFSET, w.room);
      if (room <= 0) break;
      const c = cs.nextChunk(room);
      if (!c) break;
      const p = writeCryptoHeader(w.slab, w.pos, c.offset, c.data.length);
      w.slab.set(c.data, p);
      w.advance(p - w.pos + c.data.length);
      frames.push({ t: 'crypto', offset: c.offset, len: c.data.length });
      wrote = true;
    }
    return wrote;
  }

  /**
   * Keys discarded (RFC 9001 §4.9): the space is never used again. Its ACK state and CRYPTO
   * buffers are replaced by shared, deeply frozen empty ones (memory per idle connection); a
   * write to them would throw (a bug, closing the connection with INTERNAL_ERROR) rather than
   * touch another connection.
   */
  release(): void {
    this.acks = DISCARDED.acks;
    this.send = DISCARDED.cryptoSend;
    this.recv = DISCARDED.cryptoRecv;
  }
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v !== null && typeof v === 'object') deepFreeze(v);
  return Object.freeze(o);
}

const DISCARDED = deepFreeze({
  acks: new AckTracker(0),
  cryptoSend: new SendBuffer(),
  cryptoRecv: new RecvBuffer({ cryptoBufferLimit: 0 }),
});

/**
 * What a connection keeps for a space once its keys are discarded (RFC 9001 §4.9): one frozen
 * Space shared by every connection (memory per idle connection); reads see a discarded space
 * without keys, and a write would throw (a bug, closing the connection with INTERNAL_ERROR)
 * rather than touch another connection.
 */
export const DISCARDED_SPACE: Space = (() => {
  const sp = new Space(0 as PacketSpace, 0, 3);
  sp.discarded = true;
  sp.release();
  return Object.freeze(sp) as Space;
})();
