/** NewReno congestion control as specified by RFC 9002 §7 and Appendix B. */
import { WindowController, minimumWindow } from './congestion.js';

/** RFC 9002 §7.3.2 kLossReductionFactor. */
export const LOSS_REDUCTION_FACTOR = 0.5;

export class NewReno extends WindowController {
  readonly name = 'newreno';
  /** Acknowledged bytes not yet turned into window growth (avoids per-ack rounding loss). */
  private acc = 0;

  protected congestionAvoidance(bytes: number): void {
    // §7.3.3: one max_datagram_size per congestion window acknowledged (§B.5:
    // cwnd += mds * acked / cwnd), accumulated exactly in bytes.
    this.acc += bytes;
    if (this.acc >= this.cwnd) {
      this.acc -= this.cwnd;
      this.cwnd += this.mds;
    }
  }

  protected reduceWindow(): void {
    // §B.6: ssthresh = cwnd * kLossReductionFactor; cwnd = max(ssthresh, kMinimumWindow).
    this.ssthresh = Math.floor(this.cwnd * LOSS_REDUCTION_FACTOR);
    this.cwnd = Math.max(this.ssthresh, minimumWindow(this.mds));
    this.acc = 0;
  }

  protected override onCollapse(): void {
    this.acc = 0;
  }
}
