/**
 * Receive side of one packet number space (RFC 9000 §13.2): which packet numbers arrived
 * (duplicate detection, §12.3), when an ACK frame is due, and what it carries.
 */
import { RangeSet, type AckRange } from './range-set.js';

/** Packet number spaces (RFC 9000 §12.3), usable as array indices. */
export const PacketSpace = { Initial: 0, Handshake: 1, ApplicationData: 2 } as const;
export type PacketSpace = (typeof PacketSpace)[keyof typeof PacketSpace];

/** ECN codepoint of a received datagram (the IP TOS low bits). */
export const Ecn = { NotEct: 0, Ect1: 1, Ect0: 2, Ce: 3 } as const;
export type Ecn = (typeof Ecn)[keyof typeof Ecn];

/**
 * Decodes a peer's ACK Delay field to milliseconds (RFC 9000 §19.3: microseconds scaled by
 * 2^ack_delay_exponent of the ACK's sender; the exponent defaults to 3, §18.2).
 */
export function decodeAckDelay(field: number, ackDelayExponent: number = 3): number {
  return (field * 2 ** ackDelayExponent) / 1000;
}

export interface AckTrackerOptions {
  /** Our max_ack_delay in ms (RFC 9000 §18.2, default 25). */
  maxAckDelay?: number;
  /** Our ack_delay_exponent (RFC 9000 §18.2, default 3). */
  ackDelayExponent?: number;
  /** Ack-eliciting packets received before an ACK is sent at once (RFC 9000 §13.2.2: 2). */
  ackElicitingThreshold?: number;
  /** Ranges remembered for ACK frames and for duplicate detection (memory bound). */
  maxRanges?: number;
  /** Once decimating (startDecimation()): ack-eliciting packets per ACK (default 10). */
  decimationThreshold?: number;
  /** Ack-eliciting packets received before decimation starts (default 100). */
  decimationAfter?: number;
}

/**
 * ACK decimation. RFC 9000 §13.2.2 asks for an ACK at least every second ack-eliciting packet;
 * at high packet rates that costs the receiver a packet and the sender an ACK to process per
 * two packets. Once the handshake is confirmed and the peer has sent enough packets to leave
 * its first round trips of slow start (whose window growth is paced by ACKs), we ACK every
 * `decimationThreshold` ack-eliciting packets or after min(max_ack_delay, smoothed RTT / 4),
 * whichever comes first (the RTT bound keeps a sender with a small window from waiting a full
 * max_ack_delay). The receiver decides alone: draft-ietf-quic-ack-frequency, whose
 * ACK_FREQUENCY frame lets the sender choose, is not implemented. Packets that reveal loss or
 * congestion are still acknowledged at once (§13.2.1): reordered ones, ones above a gap, and
 * ECN-CE marked ones. An ACK never waits longer than max_ack_delay.
 */
const DECIMATION_THRESHOLD = 10;
const DECIMATION_AFTER = 100;

/**
 * Contents of the ACK frame to send, shaped like the wire layer's AckFrame (lib/quic/frames.ts)
 * minus `type`: ranges descending, the first containing `largest`.
 */
export interface AckFrameData {
  largest: number;
  ranges: AckRange[];
  /** Encoded ACK Delay field: microseconds >> ack_delay_exponent (RFC 9000 §19.3). */
  ackDelay: number;
  /** ECN counts (RFC 9000 §19.3.2); undefined when no ECN-marked packet was received. */
  ecn: { ect0: number; ect1: number; ce: number } | undefined;
}

export class AckTracker {
  readonly maxAckDelay: number;
  readonly ackDelayExponent: number;
  private readonly threshold: number;
  private readonly maxRanges: number;
  private readonly decimationThreshold: number;
  private readonly decimationAfter: number;
  /** Our RTT estimate once decimation was started (undefined: not decimating). */
  private rtt: { readonly smoothedRtt: number } | undefined;
  /** Ack-eliciting packets received (counts up to decimationAfter). */
  private elicitingReceived = 0;

  /** Packet numbers to report in the next ACK frame (pruned per §13.2.4). */
  private readonly toAck: RangeSet;
  /** Packet numbers seen, for duplicate detection; values below `floor` count as seen. */
  private readonly seen: RangeSet;
  private floor = 0;

  /** Largest packet number received and when (for the ACK Delay field, §13.2.5). */
  largestReceived = -1;
  private largestReceivedTime = 0;
  /** Largest ack-eliciting packet number received (reordering/gap detection, §13.2.1). */
  private largestAckEliciting = -1;

  /** Ack-eliciting packets received since the last ACK frame was sent. */
  private unackedEliciting = 0;
  /** An ACK frame should go out at once. */
  private immediate = false;
  /** Deadline (ms) by which an ACK must be sent; Infinity when none is pending. */
  ackDeadline = Infinity;
  /** New packet numbers arrived since the last ACK frame (an ACK can be piggybacked). */
  private changed = false;

  ect0 = 0;
  ect1 = 0;
  ce = 0;

  constructor(
    readonly space: PacketSpace,
    options: AckTrackerOptions = {},
  ) {
    this.maxAckDelay = options.maxAckDelay ?? 25;
    this.ackDelayExponent = options.ackDelayExponent ?? 3;
    this.threshold = options.ackElicitingThreshold ?? 2;
    this.maxRanges = options.maxRanges ?? 64;
    this.decimationThreshold = options.decimationThreshold ?? DECIMATION_THRESHOLD;
    this.decimationAfter = options.decimationAfter ?? DECIMATION_AFTER;
    if (!(this.maxAckDelay >= 0)) throw new RangeError('maxAckDelay must be >= 0');
    if (!(this.ackDelayExponent >= 0 && this.ackDelayExponent <= 20)) {
      throw new RangeError('ackDelayExponent must be in 0..20');
    }
    if (!(this.threshold >= 1)) throw new RangeError('ackElicitingThreshold must be >= 1');
    if (!(this.decimationThreshold >= this.threshold))
      throw new RangeError('decimationThreshold must be >= ackElicitingThreshold');
    if (!(this.decimationAfter >= 0)) throw new RangeError('decimationAfter must be >= 0');
    this.toAck = new RangeSet(this.maxRanges);
    this.seen = new RangeSet(this.maxRanges * 4);
  }

  /**
   * The handshake is confirmed (RFC 9001 §4.1.2): ACK decimation may start (see
   * DECIMATION_THRESHOLD) once enough packets arrived. `rtt` is read when an ACK is delayed.
   */
  startDecimation(rtt: { readonly smoothedRtt: number }): void {
    if (this.space === PacketSpace.ApplicationData) this.rtt = rtt;
  }

  /** Whether ACKs are decimated now. */
  get decimating(): boolean {
    return this.rtt !== undefined && this.elicitingReceived >= this.decimationAfter;
  }

  /**
   * True if `pn` was already processed (or is too old to tell, which RFC 9000 §12.3 lets us
   * treat as a duplicate). Call after removing packet protection, before processing frames.
   */
  isDuplicate(pn: number): boolean {
    return pn < this.floor || this.seen.contains(pn);
  }

  /**
   * Records a packet for duplicate detection only, without acknowledging it: some of its frames
   * could not be kept, so the peer must declare it lost and send them again (a replay of it is
   * still a duplicate).
   */
  onPacketRefused(pn: number): void {
    if (this.isDuplicate(pn)) return;
    this.seen.addOne(pn);
    if (this.seen.droppedBelow > this.floor) this.floor = this.seen.droppedBelow;
  }

  /**
   * Records a successfully unprotected packet. Returns false (and records nothing) for a
   * duplicate, which the caller must drop.
   */
  onPacketReceived(pn: number, ackEliciting: boolean, now: number, ecn: Ecn = Ecn.NotEct): boolean {
    if (this.isDuplicate(pn)) return false;
    this.seen.addOne(pn);
    // When the cap drops old ranges, everything below what is left counts as seen.
    if (this.seen.droppedBelow > this.floor) this.floor = this.seen.droppedBelow;
    this.toAck.addOne(pn);
    this.changed = true;
    if (pn > this.largestReceived) {
      this.largestReceived = pn;
      this.largestReceivedTime = now;
    }
    // RFC 9000 §13.4.1: count ECN marks of every packet (ack-eliciting or not).
    if (ecn === Ecn.Ect0) this.ect0++;
    else if (ecn === Ecn.Ect1) this.ect1++;
    else if (ecn === Ecn.Ce) this.ce++;
    if (!ackEliciting) return true;

    this.unackedEliciting++;
    if (this.elicitingReceived < this.decimationAfter) this.elicitingReceived++;
    const decimating = this.decimating;
    if (this.space !== PacketSpace.ApplicationData) {
      // §13.2.1: Initial and Handshake ack-eliciting packets are acknowledged immediately.
      this.immediate = true;
    } else if (this.largestAckEliciting >= 0 && pn < this.largestAckEliciting) {
      // §13.2.1: reordered (lower than one already received): ACK at once.
      this.immediate = true;
    } else if (this.gapBelow(pn)) {
      // §13.2.1: a gap opened below this packet: ACK at once.
      this.immediate = true;
    } else if (ecn === Ecn.Ce) {
      // §13.2.1: CE-marked packets should be acknowledged immediately.
      this.immediate = true;
    } else if (this.unackedEliciting >= (decimating ? this.decimationThreshold : this.threshold)) {
      // §13.2.2: at least every second ack-eliciting packet (or every tenth, decimating).
      this.immediate = true;
    } else if (this.ackDeadline === Infinity) {
      // §13.2.1: otherwise within max_ack_delay.
      const rtt = decimating ? this.rtt!.smoothedRtt / 4 : Infinity;
      this.ackDeadline = now + Math.min(this.maxAckDelay, rtt);
    }
    if (pn > this.largestAckEliciting) this.largestAckEliciting = pn;
    if (this.immediate) this.ackDeadline = now;
    return true;
  }

  /** A gap exists right below `pn`, which is above the previous largest ack-eliciting pn. */
  private gapBelow(pn: number): boolean {
    if (this.largestAckEliciting < 0 || pn <= this.largestAckEliciting) return false;
    // Missing packets between the previous largest ack-eliciting packet and this one.
    return !this.seen.containsRange(this.largestAckEliciting, pn);
  }

  /** An ACK frame must be sent now (or as soon as possible). */
  get ackImmediately(): boolean {
    return this.immediate;
  }

  /** An ACK frame would report something new (piggyback it on any packet being sent). */
  get hasNewAcks(): boolean {
    return this.changed && !this.toAck.isEmpty;
  }

  /**
   * An ACK-only packet is justified (RFC 9000 §13.2.1: never ACK-only in response to only
   * non-ack-eliciting packets) and due at `now`.
   */
  ackDue(now: number): boolean {
    return this.unackedEliciting > 0 && now >= this.ackDeadline;
  }

  /** Deadline of the delayed-ACK timer for the connection's nextTimeout(), or Infinity. */
  nextTimeout(): number {
    return this.unackedEliciting > 0 ? this.ackDeadline : Infinity;
  }

  /**
   * Builds the ACK frame contents; null if nothing to acknowledge. `maxRanges` bounds the
   * frame size (the highest ranges are kept).
   */
  buildAck(now: number, maxRanges: number = this.maxRanges): AckFrameData | null {
    if (this.toAck.isEmpty) return null;
    // Initial/Handshake ACKs are sent at once (§13.2.1) and may be read before the peer knows
    // our ack_delay_exponent (RFC 9002 §5.3 lets it ignore them): report 0 there.
    const delayUs =
      this.space === PacketSpace.ApplicationData
        ? Math.max(0, now - this.largestReceivedTime) * 1000
        : 0;
    const ackDelay = Math.floor(delayUs / 2 ** this.ackDelayExponent);
    const hasEcn = this.ect0 + this.ect1 + this.ce > 0;
    return {
      largest: this.toAck.max,
      ranges: this.toAck.toAckRanges(maxRanges),
      ackDelay,
      ecn: hasEcn ? { ect0: this.ect0, ect1: this.ect1, ce: this.ce } : undefined,
    };
  }

  /** The ACK frame built by buildAck() was put in a packet: reset the pending state. */
  onAckSent(): void {
    this.unackedEliciting = 0;
    this.immediate = false;
    this.ackDeadline = Infinity;
    this.changed = false;
  }

  /**
   * A packet of ours carrying an ACK frame whose Largest Acknowledged was `largestAcked` has
   * been acknowledged: stop reporting packet numbers <= largestAcked (RFC 9000 §13.2.4).
   */
  onAckAcknowledged(largestAcked: number): void {
    this.toAck.removeBelow(largestAcked + 1);
  }

  /** Ranges currently reported (descending), for inspection. */
  ranges(): AckRange[] {
    return this.toAck.toAckRanges();
  }
}
