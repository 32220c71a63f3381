/**
 * CUBIC congestion control (RFC 9438) on top of the RFC 9002 window machinery: slow start,
 * recovery period and persistent congestion as in RFC 9002; the congestion avoidance growth
 * and the multiplicative decrease from RFC 9438 §4. Window arithmetic in segments of
 * max_datagram_size, time in seconds, as the RFC's formulas are written.
 */
import { WindowController, minimumWindow, type CongestionOptions } from './congestion.js';

/** RFC 9438 §4.1: C = 0.4. */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.6: beta_cubic = 0.7. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: alpha_cubic = 3 * (1 - beta) / (1 + beta). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** RFC 9438 §4.2 Figure 2: K = cbrt((W_max - cwnd_epoch) / C), in seconds. */
export function cubicK(wMax: number, cwndEpoch: number): number {
  return Math.cbrt(Math.max(0, wMax - cwndEpoch) / CUBIC_C);
}

/** RFC 9438 §4.2 Figure 1: W_cubic(t) = C * (t - K)^3 + W_max (segments, t in seconds). */
export function wCubic(t: number, k: number, wMax: number): number {
  // (Multiplied out: `** 3` is a call to pow, and this runs twice per acknowledged packet.)
  const d = t - k;
  return CUBIC_C * d * d * d + wMax;
}

export interface CubicOptions extends CongestionOptions {
  /** RFC 9438 §4.7 fast convergence (default on). */
  fastConvergence?: boolean;
}

export class Cubic extends WindowController {
  readonly name = 'cubic';
  readonly fastConvergence: boolean;
  /** W_max: window (segments) just before the last reduction; 0 before any. */
  wMax = 0;
  /** K (seconds) of the current congestion avoidance stage. */
  k = 0;
  /** W_est: Reno-friendly estimate (segments, RFC 9438 §4.3). */
  wEst = 0;
  /** cwnd_prior: window (segments) when ssthresh was last set (RFC 9438 §4.6); 0 if never. */
  cwndPrior = 0;
  /** t_epoch (ms): start of the current congestion avoidance stage, -1 if not started. */
  epochStart = -1;
  private lastAckTime = -1;
  /** After persistent congestion: K = 0 and W_max = cwnd at the next stage (RFC 9438 §4.8). */
  private afterCollapse = false;

  constructor(options: CubicOptions = {}) {
    super(options);
    this.fastConvergence = options.fastConvergence ?? true;
  }

  protected congestionAvoidance(bytes: number, now: number, smoothedRtt: number): void {
    const mds = this.mds;
    let cwnd = this.cwnd / mds;
    if (this.epochStart < 0) this.startEpoch(now, cwnd);
    this.lastAckTime = now;
    const t = (now - this.epochStart) / 1000;
    // §4.3 Figure 4: W_est += alpha_cubic * segments_acked / cwnd, where alpha_cubic becomes
    // 1 once W_est has reached cwnd_prior.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA;
    this.wEst += (alpha * (bytes / mds)) / cwnd;
    if (wCubic(t, this.k, this.wMax) < this.wEst) {
      // §4.3 Reno-friendly region: cwnd = W_est.
      cwnd = this.wEst;
    } else {
      // §4.4/§4.5 concave and convex regions: aim for W_cubic(t + RTT), clamped to
      // [cwnd, 1.5 cwnd], and grow by (target - cwnd) / cwnd per acknowledged segment.
      let target = wCubic(t + smoothedRtt / 1000, this.k, this.wMax);
      if (target < cwnd) target = cwnd;
      else if (target > 1.5 * cwnd) target = 1.5 * cwnd;
      cwnd += ((target - cwnd) / cwnd) * (bytes / mds);
    }
    this.cwnd = Math.max(cwnd * mds, this.cwnd);
  }

  private startEpoch(now: number, cwnd: number): void {
    this.epochStart = now;
    this.lastAckTime = now;
    // §4.2: after a timeout-like collapse, or if the window already exceeds W_max (leaving
    // slow start without a loss), W_max = cwnd and K = 0.
    if (this.afterCollapse || this.wMax < cwnd) this.wMax = cwnd;
    this.afterCollapse = false;
    this.k = cubicK(this.wMax, cwnd);
    // §4.3: W_est = cwnd_epoch at the start of the stage.
    this.wEst = cwnd;
  }

  protected reduceWindow(): void {
    const cwnd = this.cwnd / this.mds;
    this.cwndPrior = cwnd;
    // §4.7 fast convergence: release bandwidth if the window shrank since the last event.
    if (this.fastConvergence && cwnd < this.wMax) this.wMax = (cwnd * (1 + CUBIC_BETA)) / 2;
    else this.wMax = cwnd;
    // §4.6: ssthresh = cwnd * beta_cubic, and not below the minimum window (RFC 9002 §7.2).
    this.ssthresh = Math.max(Math.floor(this.cwnd * CUBIC_BETA), minimumWindow(this.mds));
    this.cwnd = this.ssthresh;
    this.epochStart = -1;
  }

  protected override onCollapse(): void {
    this.epochStart = -1;
    this.afterCollapse = true;
  }

  protected override onAppLimitedAck(now: number): void {
    // §5.8: do not grow while app-limited, and leave the idle time out of t.
    if (this.epochStart >= 0 && this.lastAckTime >= 0) this.epochStart += now - this.lastAckTime;
    this.lastAckTime = now;
  }
}
