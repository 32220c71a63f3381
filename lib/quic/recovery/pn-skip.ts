/**
 * When to leave a packet number unused (RFC 9000 §21.4): a peer that acknowledges packets it
 * never received, to make us send faster, sooner or later acknowledges one that was never
 * sent. LossDetection.skipPacketNumber() remembers the number and treats an ACK of it as
 * PROTOCOL_VIOLATION; the number is not recorded as sent, so it is never declared lost.
 */
import { uniform, type RandomSource } from '../random.js';

/** A gap every MIN_GAP..MAX_GAP packets, at a random place: unpredictable to the peer, rare
 * enough to cost nothing (one unused number; the peer's ACK carries one more range). */
export const MIN_GAP = 256;
export const MAX_GAP = 1024;

export class PacketNumberSkipper {
  /** Packet numbers to use before the next skip (0: not drawn yet). */
  private countdown = 0;

  constructor(private readonly random: RandomSource) {}

  /** Asked once per packet about to be numbered: true when the next number is to be skipped. */
  skipNext(): boolean {
    if (this.countdown === 0) this.countdown = this.draw();
    if (--this.countdown > 0) return false;
    this.countdown = this.draw();
    return true;
  }

  private draw(): number {
    return MIN_GAP + Math.floor(uniform(this.random) * (MAX_GAP - MIN_GAP + 1));
  }
}
