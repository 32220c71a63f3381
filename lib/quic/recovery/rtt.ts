/** RTT estimation (RFC 9002 §5). All times in milliseconds. */

/** RFC 9002 §6.2.2: kInitialRtt = 333 ms. */
export const INITIAL_RTT = 333;
/** RFC 9002 §6.1.2: kGranularity = 1 ms (system timer granularity). */
export const GRANULARITY = 1;

export class RttEstimator {
  /** Most recent sample, ack delay not removed (§5.2). */
  latestRtt = 0;
  /** Exponentially weighted moving average (§5.3). */
  smoothedRtt: number;
  /** Mean deviation (§5.3). */
  rttVar: number;
  /** Minimum over the connection, ack delay not removed (§5.2); Infinity before a sample. */
  minRtt = Infinity;
  /** Time of the first sample, or -1 (persistent congestion needs it, §7.6.2). */
  firstSampleTime = -1;

  constructor(readonly initialRtt: number = INITIAL_RTT) {
    if (!(initialRtt > 0)) throw new RangeError('initialRtt must be > 0');
    // §5.3: before any sample, smoothed_rtt = kInitialRtt and rttvar = kInitialRtt / 2.
    this.smoothedRtt = initialRtt;
    this.rttVar = initialRtt / 2;
  }

  get hasSample(): boolean {
    return this.firstSampleTime >= 0;
  }

  /**
   * Adds a sample (RFC 9002 §5.3 / Appendix A.7).
   * @param latestRtt now - send time of the largest newly acknowledged packet
   * @param ackDelay the peer's reported ack delay (ms, already decoded)
   * @param handshakeConfirmed once confirmed, ack delay is capped at the peer's max_ack_delay
   * @param maxAckDelay the peer's max_ack_delay (ms)
   */
  update(
    latestRtt: number,
    ackDelay: number,
    handshakeConfirmed: boolean,
    maxAckDelay: number,
    now: number,
  ): void {
    this.latestRtt = latestRtt;
    if (this.firstSampleTime < 0) {
      // §5.3: the first sample initialises the estimator.
      this.minRtt = latestRtt;
      this.smoothedRtt = latestRtt;
      this.rttVar = latestRtt / 2;
      this.firstSampleTime = now;
      return;
    }
    // §5.2: min_rtt ignores ack delay.
    if (latestRtt < this.minRtt) this.minRtt = latestRtt;
    // §5.3: after confirmation, the peer's ack delay is capped at its max_ack_delay.
    if (handshakeConfirmed && ackDelay > maxAckDelay) ackDelay = maxAckDelay;
    // §5.3: subtract ack delay only if the result does not go below min_rtt.
    let adjusted = latestRtt;
    if (latestRtt >= this.minRtt + ackDelay) adjusted = latestRtt - ackDelay;
    this.rttVar = 0.75 * this.rttVar + 0.25 * Math.abs(this.smoothedRtt - adjusted);
    this.smoothedRtt = 0.875 * this.smoothedRtt + 0.125 * adjusted;
  }

  /** PTO base period without max_ack_delay and backoff (RFC 9002 §6.2.1). */
  ptoBase(): number {
    return this.smoothedRtt + Math.max(4 * this.rttVar, GRANULARITY);
  }

  /** Loss time threshold (RFC 9002 §6.1.2): 9/8 * max(smoothed_rtt, latest_rtt), >= 1 ms. */
  lossDelay(): number {
    return Math.max((9 / 8) * Math.max(this.latestRtt, this.smoothedRtt), GRANULARITY);
  }

  /** Forget all samples (e.g. after a path change, RFC 9000 §9.4). */
  reset(): void {
    this.latestRtt = 0;
    this.smoothedRtt = this.initialRtt;
    this.rttVar = this.initialRtt / 2;
    this.minRtt = Infinity;
    this.firstSampleTime = -1;
  }
}
