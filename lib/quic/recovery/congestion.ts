/**
 * Congestion controller interface (RFC 9002 §7 / Appendix B) and the parts every window-based
 * controller shares: bytes in flight, the recovery period, app-limited handling, the minimum
 * window on persistent congestion. Sizes in bytes, times in ms.
 */

import { HyStart } from './hystart.js';

/** What a controller needs to know about an acknowledged or lost packet. */
export interface CcPacket {
  timeSent: number;
  size: number;
  inFlight: boolean;
  /** A path MTU probe: its loss is no congestion signal (RFC 9000 §14.4). */
  mtuProbe?: boolean;
}

export interface CongestionController {
  readonly name: string;
  /** Congestion window (bytes). */
  readonly cwnd: number;
  /** Slow start threshold (bytes; Infinity until the first congestion event). */
  readonly ssthresh: number;
  /** In-flight bytes counted by this controller. */
  readonly bytesInFlight: number;
  /** Bytes that may still be sent now (cwnd - bytes in flight, >= 0). */
  readonly available: number;
  /** True if a packet of `bytes` fits the window (RFC 9002 §7: bytes_in_flight + bytes <= cwnd). */
  canSend(bytes: number): boolean;
  /** The sender has less to send than the window allows (RFC 9002 §7.8). */
  appLimited: boolean;
  onPacketSent(bytes: number, now: number): void;
  /** RFC 9002 §B.5 OnPacketAcked, per packet (smoothed RTT in ms, used by CUBIC). */
  onPacketAcked(p: CcPacket, now: number, smoothedRtt: number): void;
  /**
   * An RTT sample was taken from an ACK whose largest newly acknowledged packet was sent at
   * `timeSent` (called before the acked packets are reported; drives HyStart++).
   */
  onRttSample(latestRtt: number, timeSent: number, now: number): void;
  /** RFC 9002 §B.8 OnPacketsLost (removes them from flight, one congestion event at most). */
  onPacketsLost(lost: readonly CcPacket[], now: number): void;
  /** RFC 9002 §B.6 OnCongestionEvent for a packet sent at `timeSent` (loss or ECN-CE). */
  onCongestionEvent(timeSent: number, now: number): void;
  /** RFC 9002 §7.6.2: persistent congestion collapses the window to the minimum. */
  onPersistentCongestion(now: number): void;
  /** Packets removed from flight without a congestion signal (discarded keys, §6.4). */
  onPacketsDiscarded(bytes: number): void;
  /** The path MTU changed. */
  setMaxDatagramSize(bytes: number): void;
}

export interface CongestionOptions {
  /** Max datagram size (RFC 9002 §7.2), default 1200. */
  maxDatagramSize?: number;
  /** Initial window in bytes; default min(10 * mds, max(2 * mds, 14720)) (RFC 9002 §7.2). */
  initialWindow?: number;
  /** HyStart++ (RFC 9406) in the initial slow start; default true. */
  hystart?: boolean;
}

/** RFC 9002 §7.2 kInitialWindow. */
export function initialWindow(mds: number): number {
  return Math.min(10 * mds, Math.max(2 * mds, 14720));
}

/** RFC 9002 §7.2: kMinimumWindow = 2 * max_datagram_size. */
export function minimumWindow(mds: number): number {
  return 2 * mds;
}

/** Shared state and behaviour; subclasses decide how the window grows and shrinks. */
export abstract class WindowController implements CongestionController {
  abstract readonly name: string;
  cwnd: number;
  ssthresh = Infinity;
  bytesInFlight = 0;
  appLimited = false;
  protected mds: number;
  /** RFC 9002 §B.2 congestion_recovery_start_time; -Infinity when not in recovery. */
  protected recoveryStart = -Infinity;
  /** HyStart++ state during the initial slow start (RFC 9406 §4.2), else null. */
  hystart: HyStart | null;

  constructor(options: CongestionOptions = {}) {
    this.mds = options.maxDatagramSize ?? 1200;
    if (!(this.mds >= 1200)) throw new RangeError('maxDatagramSize must be >= 1200');
    this.cwnd = options.initialWindow ?? initialWindow(this.mds);
    if (!(this.cwnd >= minimumWindow(this.mds))) {
      throw new RangeError('initialWindow must be >= 2 * maxDatagramSize');
    }
    this.hystart = options.hystart === false ? null : new HyStart();
  }

  get available(): number {
    // CUBIC's window is fractional: report whole bytes.
    return Math.max(0, Math.floor(this.cwnd - this.bytesInFlight));
  }

  canSend(bytes: number): boolean {
    return this.bytesInFlight + bytes <= this.cwnd;
  }

  get inSlowStart(): boolean {
    return this.cwnd < this.ssthresh;
  }

  /** RFC 9002 §B.4 InCongestionRecovery: packets sent before the recovery period began. */
  inRecovery(timeSent: number): boolean {
    return timeSent <= this.recoveryStart;
  }

  onPacketSent(bytes: number, _now: number): void {
    this.bytesInFlight += bytes;
  }

  onPacketAcked(p: CcPacket, now: number, smoothedRtt: number): void {
    if (!p.inFlight) return;
    this.removeFromFlight(p.size);
    // §7.8: an under-utilised window is not increased.
    if (this.appLimited) {
      this.onAppLimitedAck(now);
      return;
    }
    // §7.3.2: no increase for packets sent before the recovery period began.
    if (this.inRecovery(p.timeSent)) return;
    // §7.3.2: leaving recovery when a packet sent during it is acknowledged.
    if (this.cwnd < this.ssthresh) {
      // §7.3.1 slow start: one byte per byte acknowledged (a quarter in HyStart++ CSS).
      this.cwnd += this.hystart ? this.hystart.growth(p.size) : p.size;
    } else {
      this.congestionAvoidance(p.size, now, smoothedRtt);
    }
  }

  onRttSample(latestRtt: number, timeSent: number, now: number): void {
    const hs = this.hystart;
    if (hs === null) return;
    hs.onRttSample(latestRtt, timeSent, now);
    if (hs.done) {
      // RFC 9406 §4.3: after CSS_ROUNDS of CSS, congestion avoidance from the current window.
      this.ssthresh = this.cwnd;
      this.hystart = null;
    }
  }

  onPacketsLost(lost: readonly CcPacket[], now: number): void {
    let lastLossSent = -Infinity;
    for (const p of lost) {
      if (!p.inFlight) continue;
      this.removeFromFlight(p.size);
      if (p.mtuProbe) continue;
      if (p.timeSent > lastLossSent) lastLossSent = p.timeSent;
    }
    // §B.8: one congestion event for the most recently sent lost packet.
    if (lastLossSent !== -Infinity) this.onCongestionEvent(lastLossSent, now);
  }

  onCongestionEvent(timeSent: number, now: number): void {
    // §7.3.2: no reduction more than once per round trip (per recovery period).
    if (this.inRecovery(timeSent)) return;
    this.recoveryStart = now;
    // RFC 9406 §4.2: HyStart++ only in the initial slow start, which a congestion event ends.
    this.hystart = null;
    this.reduceWindow(now);
  }

  onPersistentCongestion(now: number): void {
    // §7.6.2 / §B.8: collapse to the minimum window and leave recovery.
    this.cwnd = minimumWindow(this.mds);
    this.recoveryStart = -Infinity;
    this.onCollapse(now);
  }

  onPacketsDiscarded(bytes: number): void {
    this.removeFromFlight(bytes);
  }

  setMaxDatagramSize(bytes: number): void {
    if (!(bytes >= 1200)) throw new RangeError('maxDatagramSize must be >= 1200');
    this.mds = bytes;
    if (this.cwnd < minimumWindow(bytes)) this.cwnd = minimumWindow(bytes);
  }

  get maxDatagramSize(): number {
    return this.mds;
  }

  private removeFromFlight(bytes: number): void {
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes);
  }

  /** Congestion avoidance growth for `bytes` newly acknowledged. */
  protected abstract congestionAvoidance(bytes: number, now: number, smoothedRtt: number): void;
  /** Multiplicative decrease on entering recovery; sets ssthresh and cwnd. */
  protected abstract reduceWindow(now: number): void;
  /** Called after the window collapsed on persistent congestion. */
  protected onCollapse(_now: number): void {}
  /** Called for an acknowledgement received while app-limited. */
  protected onAppLimitedAck(_now: number): void {}
}
