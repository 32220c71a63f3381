/**
 * HyStart++ (RFC 9406): leaves the initial slow start when the round's minimum RTT rises
 * (queues are building), through Conservative Slow Start (CSS), before losses happen.
 * Rounds are delimited by send time: a round ends when a packet sent after it began is
 * acknowledged (RFC 9406 §4.2 uses SND.NXT; send times order packets the same way). The
 * sender paces, so the per-ACK increase limit L is infinite (§4.3).
 */

/** RFC 9406 §4.3 constants (ms where a time). */
export const MIN_RTT_THRESH = 4;
export const MAX_RTT_THRESH = 16;
export const MIN_RTT_DIVISOR = 8;
export const N_RTT_SAMPLE = 8;
export const CSS_GROWTH_DIVISOR = 4;
export const CSS_ROUNDS = 5;

export class HyStart {
  /** Send time that ends the current round (packets sent at or after it close it). */
  private roundEnd = -Infinity;
  lastRoundMinRtt = Infinity;
  currentRoundMinRtt = Infinity;
  rttSampleCount = 0;
  /** cssBaselineMinRtt; Infinity when not in CSS. */
  cssBaseline = Infinity;
  cssRounds = 0;
  /** Slow start ended by CSS_ROUNDS of CSS: ssthresh should be set to cwnd. */
  done = false;

  get inCss(): boolean {
    return this.cssBaseline !== Infinity;
  }

  /**
   * An RTT sample from an ACK whose largest newly acknowledged packet was sent at `timeSent`.
   * Call only during the initial slow start.
   */
  onRttSample(latestRtt: number, timeSent: number, now: number): void {
    if (this.done) return;
    if (timeSent >= this.roundEnd) {
      // §4.2: a new round: remember the last round's minimum and start over.
      this.roundEnd = now;
      this.lastRoundMinRtt = this.currentRoundMinRtt;
      this.currentRoundMinRtt = Infinity;
      this.rttSampleCount = 0;
      if (this.inCss && ++this.cssRounds >= CSS_ROUNDS) {
        // §4.3: CSS lasted CSS_ROUNDS rounds: enter congestion avoidance.
        this.done = true;
        return;
      }
    }
    if (latestRtt < this.currentRoundMinRtt) this.currentRoundMinRtt = latestRtt;
    this.rttSampleCount++;
    if (this.rttSampleCount < N_RTT_SAMPLE) return;
    if (!this.inCss) {
      if (this.lastRoundMinRtt === Infinity) return;
      // §4.3: RttThresh = clamp(lastRoundMinRTT / 8, 4 ms, 16 ms).
      const thresh = Math.max(
        MIN_RTT_THRESH,
        Math.min(this.lastRoundMinRtt / MIN_RTT_DIVISOR, MAX_RTT_THRESH),
      );
      if (this.currentRoundMinRtt >= this.lastRoundMinRtt + thresh) {
        this.cssBaseline = this.currentRoundMinRtt;
        this.cssRounds = 0;
      }
    } else if (this.currentRoundMinRtt < this.cssBaseline) {
      // §4.3: the RTT increase was spurious: back to slow start.
      this.cssBaseline = Infinity;
    }
  }

  /** Slow start growth for `bytes` acknowledged (§4.3: divided by 4 during CSS). */
  growth(bytes: number): number {
    return this.inCss ? bytes / CSS_GROWTH_DIVISOR : bytes;
  }
}
