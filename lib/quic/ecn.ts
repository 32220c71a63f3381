/**
 * ECN on our sends (RFC 9000 §13.4.2, Appendix A.4): which codepoint our datagrams carry, and
 * the validation of the ECN counts the peer reports in its ACK frames.
 *
 * A path starts 'testing': the first TESTING_PACKETS packets carry ECT(0). Then marking pauses
 * ('unknown') until an ACK settles it: counts that account for every newly acknowledged marked
 * packet make the path 'capable' (every packet marked from then on); missing counts, counts that
 * lose marks, report ECT(1) we never sent or more marks than we sent, or the loss of every
 * testing packet make it 'failed' (no marks for the rest of the path). A new path tests again.
 */
import type { EcnCounts } from './frames.js';

/** Packets marked while testing (RFC 9000 §13.4.2: "the first ten outgoing packets"). */
export const TESTING_PACKETS = 10;
/** ECT(0), the codepoint we mark with (RFC 3168 §5). */
export const ECT0 = 2;

/** Per packet number space counters, one array of three entries each (memory per connection:
 * one array instead of four): index + space. */
const LARGEST_ACKED = 0;
const SENT = 3;
const ECT0_COUNT = 6;
const CE_COUNT = 9;

/** 'off': the socket cannot mark (config.ecn false). */
export type EcnPathState = 'off' | 'testing' | 'unknown' | 'capable' | 'failed';

export class EcnValidator {
  private _state: EcnPathState;
  /** The codepoint of the packets of the current send call. */
  private marking = 0;
  private testingSent = 0;
  private testingLost = 0;
  /** Per packet number space: the largest acknowledged packet number (to ignore reordered
   * ACKs), marked packets sent, and the peer's ECT(0) and CE counts last validated. */
  private readonly counts = [-1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0];

  /** `enabled`: the socket can mark (otherwise no packet is ever marked). */
  constructor(enabled: boolean) {
    this._state = enabled ? 'testing' : 'off';
  }

  get state(): EcnPathState {
    return this._state;
  }

  /** The codepoint of the datagrams of the current send call. */
  get codepoint(): number {
    return this.marking;
  }

  /** A send call begins: its datagrams all carry the codepoint fixed here. */
  startSend(): number {
    if (this._state === 'testing' && this.testingSent >= TESTING_PACKETS) this._state = 'unknown';
    this.marking = this._state === 'capable' || this._state === 'testing' ? ECT0 : 0;
    return this.marking;
  }

  /** A packet went out in `space` in the current send call; returns whether it was marked. */
  onSent(space: number): boolean {
    if (this.marking === 0) return false;
    this.counts[SENT + space]!++;
    if (this._state === 'testing') this.testingSent++;
    return true;
  }

  /** A marked packet was declared lost: when all testing packets are, marks are being
   * dropped on the path (RFC 9000 §13.4.2). */
  onMarkedLost(): void {
    if (this._state !== 'testing' && this._state !== 'unknown') return;
    if (++this.testingLost >= TESTING_PACKETS) this._state = 'failed';
  }

  /**
   * An ACK frame in `space` with Largest Acknowledged `largest` that newly acknowledged
   * `markedAcked` packets we sent with ECT(0), with the ECN counts it carried. Returns the
   * increase of the CE count once the counts are valid (a congestion signal, RFC 9002 §7.1),
   * 0 otherwise. An ACK that does not increase the largest acknowledged packet number is not
   * validated (RFC 9000 §13.4.2.1: reordered ACKs carry older counts).
   */
  onAck(
    space: number,
    largest: number,
    markedAcked: number,
    counts: EcnCounts | undefined,
  ): number {
    if (this._state === 'off' || this._state === 'failed') return 0;
    const n = this.counts;
    if (largest <= n[LARGEST_ACKED + space]!) return 0;
    n[LARGEST_ACKED + space] = largest;
    if (!counts) {
      if (markedAcked > 0) this._state = 'failed'; // the peer or the path erased the marks
      return 0;
    }
    const dEct0 = counts.ect0 - n[ECT0_COUNT + space]!;
    const dCe = counts.ce - n[CE_COUNT + space]!;
    const valid =
      dEct0 >= 0 &&
      dCe >= 0 &&
      counts.ect1 === 0 && // we never send ECT(1)
      dEct0 + dCe >= markedAcked && // every marked packet acknowledged kept a mark
      counts.ect0 + counts.ce <= n[SENT + space]!; // no more marks than we sent
    if (!valid) {
      this._state = 'failed';
      return 0;
    }
    n[ECT0_COUNT + space] = counts.ect0;
    n[CE_COUNT + space] = counts.ce;
    if (markedAcked > 0 && this._state !== 'capable') this._state = 'capable';
    return dCe;
  }

  /** A new path (RFC 9000 §13.4.2: validation is per path): test again. */
  onNewPath(enabled: boolean): void {
    this._state = enabled ? 'testing' : 'off';
    this.testingSent = this.testingLost = 0;
  }
}
