/**
 * Pacer (RFC 9002 §7.7): a token bucket filled at N * cwnd / smoothed_rtt (N = 1.25). Returns
 * the time at which the next packet may leave; the connection sends when
 * `now >= nextSendTime(...)` and otherwise arms its timer for that time.
 *
 * Bucket capacity: what the rate delivers in `burstInterval` (default 2 ms), clamped to
 * [minBurst, maxBurst]. The lower bound is the initial window (RFC 9002 §7.7 limits bursts to
 * it); above it, the bucket must cover at least one timer tick, since an event loop cannot
 * wake up more often than every ~1 ms: with a fixed 10-packet bucket a 1 ms timer would cap
 * the rate at ~100 Mbit/s whatever the window. §7.7 allows larger bursts when the path
 * absorbs them, which is the case when the window itself has grown that large.
 *
 * Send quantum: once the bucket runs dry, nothing goes until a whole quantum has refilled,
 * which then leaves at once: the rate stays N * cwnd / smoothed_rtt on average, but packets
 * go in batches a batched socket can hand to the kernel in one call (and one GSO buffer)
 * instead of one packet per timer wake-up. The quantum is what the rate delivers in 0.25 ms,
 * clamped to [minBurst, maxQuantum] (10 to 64 packets of 1200 bytes by default) and never
 * above the bucket. It is kept well below the bucket's 2 ms: the timer that ends the wait
 * fires late (event loop timers have a granularity of about 1 ms), and what the rate
 * delivers meanwhile must still fit the bucket, or the average rate would fall below §7.7's.
 */

/** RFC 9002 §7.7: N = 1.25, so pacing does not cap the rate below the window. */
export const PACING_GAIN = 1.25;

export interface PacerOptions {
  /** Time (ms) the bucket covers at the current rate; default 2. */
  burstInterval?: number;
  /** Minimum capacity (bytes); default 10 * 1200 (the initial window). */
  minBurst?: number;
  /** Maximum capacity (bytes); default 256 * 1200. */
  maxBurst?: number;
  /** Largest send quantum (bytes); default 64 * 1200. */
  maxQuantum?: number;
}

/** Time (ms) of sending at the pacing rate that one quantum covers. */
const QUANTUM_INTERVAL = 0.25;

export class Pacer {
  readonly burstInterval: number;
  readonly minBurst: number;
  readonly maxBurst: number;
  readonly maxQuantum: number;
  /** Tokens (bytes) at `lastUpdate`; starts full. */
  private tokens: number;
  private lastUpdate = -1;
  /** The bucket ran dry: wait for a whole quantum. */
  private dry = false;

  constructor(options: PacerOptions = {}) {
    this.burstInterval = options.burstInterval ?? 2;
    this.minBurst = options.minBurst ?? 10 * 1200;
    this.maxBurst = options.maxBurst ?? 256 * 1200;
    this.maxQuantum = options.maxQuantum ?? 64 * 1200;
    if (!(this.burstInterval > 0)) throw new RangeError('burstInterval must be > 0');
    if (!(this.minBurst >= 1200)) throw new RangeError('minBurst must be >= 1200');
    if (!(this.maxBurst >= this.minBurst)) throw new RangeError('maxBurst must be >= minBurst');
    if (!(this.maxQuantum >= this.minBurst)) throw new RangeError('maxQuantum must be >= minBurst');
    this.tokens = this.minBurst;
  }

  /** Pacing rate in bytes per ms: N * cwnd / smoothed_rtt (§7.7). */
  static rate(cwnd: number, smoothedRtt: number): number {
    return (PACING_GAIN * cwnd) / Math.max(smoothedRtt, 0.001);
  }

  /** Bucket capacity (bytes) at this window and RTT. */
  capacity(cwnd: number, smoothedRtt: number): number {
    const c = Pacer.rate(cwnd, smoothedRtt) * this.burstInterval;
    return Math.min(this.maxBurst, Math.max(this.minBurst, c));
  }

  /** Send quantum (bytes) at this window and RTT, for a bucket of capacity `cap`. */
  quantum(cwnd: number, smoothedRtt: number, cap = this.capacity(cwnd, smoothedRtt)): number {
    const q = Pacer.rate(cwnd, smoothedRtt) * QUANTUM_INTERVAL;
    return Math.min(cap, this.maxQuantum, Math.max(this.minBurst, q));
  }

  private refill(now: number, cwnd: number, smoothedRtt: number): number {
    const cap = this.capacity(cwnd, smoothedRtt);
    if (this.lastUpdate < 0) {
      this.lastUpdate = now;
      this.tokens = cap;
    } else if (now > this.lastUpdate) {
      this.tokens += (now - this.lastUpdate) * Pacer.rate(cwnd, smoothedRtt);
      this.lastUpdate = now;
    }
    if (this.tokens > cap) this.tokens = cap;
    return cap;
  }

  /** Earliest time (ms) at which a packet of `bytes` may be sent; `<= now` means now. */
  nextSendTime(now: number, bytes: number, cwnd: number, smoothedRtt: number): number {
    const cap = this.refill(now, cwnd, smoothedRtt);
    const need = Math.min(bytes, cap);
    if (!this.dry && this.tokens >= need) return now;
    // Dry: wait for a whole quantum (at least this packet), then release it at once.
    const target = Math.max(need, this.quantum(cwnd, smoothedRtt, cap));
    // (1 byte of slack: the refill at the promised time may fall short by rounding, which
    // must not cost the quantum a packet.)
    if (this.tokens + 1 >= target) {
      this.dry = false;
      this.tokens = Math.max(this.tokens, target);
      return now;
    }
    this.dry = true;
    return now + (target - this.tokens) / Pacer.rate(cwnd, smoothedRtt);
  }

  /** A packet of `bytes` was sent at `now` (consumes tokens; the debt is bounded). */
  onPacketSent(now: number, bytes: number, cwnd: number, smoothedRtt: number): void {
    const cap = this.refill(now, cwnd, smoothedRtt);
    this.tokens -= bytes;
    if (this.tokens < -cap) this.tokens = -cap;
  }

  /** Refill completely on the next call (e.g. after an idle period, RFC 9002 §7.7). */
  reset(): void {
    this.lastUpdate = -1;
    this.dry = false;
  }
}
