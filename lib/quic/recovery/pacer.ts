/**
 * Pacer (RFC 9002 §7.7): a token bucket filled at N * cwnd / smoothed_rtt (N = 1.25) whose
 * capacity bounds bursts (default: the initial window, as §7.7 suggests). Returns the time at
 * which the next packet may leave; the connection sends when `now >= nextSendTime(...)`.
 */

/** RFC 9002 §7.7: N = 1.25, so pacing does not cap the rate below the window. */
export const PACING_GAIN = 1.25;

export class Pacer {
  /** Bucket capacity (bytes). */
  capacity: number;
  /** Tokens (bytes) at `lastUpdate`. */
  private tokens: number;
  private lastUpdate = -1;

  /** @param burst bucket capacity in bytes (>= one datagram), e.g. the initial window. */
  constructor(burst: number = 10 * 1200) {
    if (!(burst >= 1200)) throw new RangeError('burst must be >= 1200');
    this.capacity = burst;
    this.tokens = burst;
  }

  /** Pacing rate in bytes per ms: N * cwnd / smoothed_rtt (§7.7). */
  static rate(cwnd: number, smoothedRtt: number): number {
    return (PACING_GAIN * cwnd) / Math.max(smoothedRtt, 0.001);
  }

  private refill(now: number, cwnd: number, smoothedRtt: number): void {
    if (this.lastUpdate < 0) {
      this.lastUpdate = now;
      return;
    }
    const elapsed = now - this.lastUpdate;
    if (elapsed > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + elapsed * Pacer.rate(cwnd, smoothedRtt));
      this.lastUpdate = now;
    }
  }

  /**
   * Earliest time (ms) at which a packet of `bytes` may be sent; `<= now` means now.
   */
  nextSendTime(now: number, bytes: number, cwnd: number, smoothedRtt: number): number {
    this.refill(now, cwnd, smoothedRtt);
    const need = Math.min(bytes, this.capacity);
    if (this.tokens >= need) return now;
    return now + (need - this.tokens) / Pacer.rate(cwnd, smoothedRtt);
  }

  /** A packet of `bytes` was sent at `now` (consumes tokens; may go negative by one packet). */
  onPacketSent(now: number, bytes: number, cwnd: number, smoothedRtt: number): void {
    this.refill(now, cwnd, smoothedRtt);
    this.tokens -= bytes;
    if (this.tokens < -this.capacity) this.tokens = -this.capacity;
  }

  /** Refill completely (e.g. after an idle period the window restarts, RFC 9002 §7.7). */
  reset(): void {
    this.tokens = this.capacity;
    this.lastUpdate = -1;
  }
}
