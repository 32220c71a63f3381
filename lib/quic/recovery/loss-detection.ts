/**
 * Loss detection and the PTO timer for the three packet number spaces, following the
 * semantics of RFC 9002 §6 and the Appendix A pseudocode. Sans-IO: the connection reports
 * sent packets and ACK frames with the current time, reads nextTimeout() and calls
 * onTimeout(now) when it expires; the congestion controller is driven from here.
 */
import { PROTOCOL_VIOLATION } from '../errors.js';
import type { AckRange } from '../range-set.js';
import { PacketSpace } from '../ack-tracker.js';
import type { CongestionController } from './congestion.js';
import { GRANULARITY, RttEstimator } from './rtt.js';
import { SentPackets, type SentPacket } from './sent-packets.js';

/** RFC 9002 §6.1.1 kPacketThreshold. */
export const PACKET_THRESHOLD = 3;
/** RFC 9002 §7.6.1 kPersistentCongestionThreshold. */
export const PERSISTENT_CONGESTION_THRESHOLD = 3;
/**
 * Packets not in flight (ACK-only) recorded per space at most. They are sent in response to
 * the peer's packets, are not bounded by the congestion window, and leave the record only
 * when acknowledged or passed by 3 later acknowledged packets; a peer that never acknowledges
 * must not make the record grow without bound. Beyond the cap they go unrecorded, which only
 * loses ACK-of-ACK pruning (RFC 9000 §13.2.4) for them.
 */
const MAX_NOT_IN_FLIGHT = 1024;
/** Skipped packet numbers remembered per space (optimistic ACK detection). */
const MAX_SKIPPED = 16;
/** Backoff exponent cap: keeps 2^pto_count finite; the idle timeout ends such a connection. */
const MAX_PTO_SHIFT = 16;

export interface LossDetectionOptions {
  isServer: boolean;
  cc: CongestionController;
  /** kInitialRtt (RFC 9002 §6.2.2), default 333 ms. */
  initialRtt?: number;
  /** Packet threshold (RFC 9002 §6.1.1), default 3. */
  packetThreshold?: number;
}

/** Result of onAckReceived. The object and its arrays are reused by the next call (of any
 * LossDetection: they are shared): consume them first. */
export interface AckResult<F> {
  /** Newly acknowledged packets, ascending packet number. */
  acked: SentPacket<F>[];
  /** Packets declared lost by this ACK (RFC 9002 §6.1), ascending per space. */
  lost: SentPacket<F>[];
  /** An RTT sample was taken (RFC 9002 §5.1). */
  rttUpdated: boolean;
  /** Persistent congestion was declared (RFC 9002 §7.6). */
  persistentCongestion: boolean;
  /** 0, or an RFC 9000 §20.1 error code (PROTOCOL_VIOLATION for acks of unsent packets). */
  error: number;
}

/**
 * What the connection must do when the timer fires (RFC 9002 §A.9):
 * - `lost`: packets declared lost by the time threshold (retransmit their frames);
 * - `pto`: send one or two ack-eliciting probes in `space` (new data, else retransmissions,
 *   else PING, §6.2.4);
 * - `anti-deadlock`: client with nothing in flight and an unvalidated address: send one
 *   ack-eliciting packet in `space` (padded Initial, or Handshake, §6.2.2.1);
 * - `none`: nothing to do (the timer was stale).
 */
export type TimeoutAction<F> =
  | { kind: 'lost'; space: PacketSpace; lost: SentPacket<F>[] }
  | { kind: 'pto'; space: PacketSpace; probes: 1 | 2 }
  | { kind: 'anti-deadlock'; space: PacketSpace }
  | { kind: 'none' };

/** Counters for the connection's `stats` and qlog. */
export interface RecoveryStats {
  packetsAcked: number;
  packetsLost: number;
  bytesLost: number;
  ptoExpirations: number;
  persistentCongestions: number;
  /** ACKs that claimed a skipped packet number (RFC 9000 §21.4). */
  optimisticAcks: number;
}

const NO_SKIPS: number[] = Object.freeze([]) as unknown as number[];

/**
 * One packet number space: its sent packets and the loss detection state RFC 9002 §A.3 keeps
 * per space. (Fields of the space rather than per-space arrays on LossDetection: memory per
 * connection, as the Initial and Handshake spaces become one shared record once discarded.)
 */
class RecoverySpace<F> extends SentPackets<F> {
  /** largest_acked_packet[pn_space], or -1. */
  largestAcked = -1;
  /** loss_time[pn_space] (ms), 0 when not set. */
  lossTime = 0;
  /** time_of_last_ack_eliciting_packet[pn_space] (ms). */
  lastAckElicitingTime = 0;
  /** The last MAX_SKIPPED packet numbers skipped (starts as the shared empty list). */
  skipped: number[] = NO_SKIPS;
}

/** Every discarded space (RFC 9002 §6.4): shared and frozen, so a write to it throws rather
 * than touch another connection. */
const DISCARDED = new RecoverySpace<never>();
for (const v of Object.values(DISCARDED)) if (typeof v === 'object') Object.freeze(v);
Object.freeze(DISCARDED);

/** onAckReceived's result and arrays, shared by every LossDetection: the caller consumes
 * them before anything else can run (memory per connection). */
const RESULT: AckResult<never> = {
  acked: [],
  lost: [],
  rttUpdated: false,
  persistentCongestion: false,
  error: 0,
};

export class LossDetection<F = unknown> {
  readonly rtt: RttEstimator;
  readonly cc: CongestionController;
  readonly isServer: boolean;
  readonly packetThreshold: number;
  readonly spaces: [RecoverySpace<F>, RecoverySpace<F>, RecoverySpace<F>];
  /** RFC 9002 §A.3 pto_count. */
  ptoCount = 0;
  readonly stats: RecoveryStats = {
    packetsAcked: 0,
    packetsLost: 0,
    bytesLost: 0,
    ptoExpirations: 0,
    persistentCongestions: 0,
    optimisticAcks: 0,
  };
  /** Peer's max_ack_delay (ms); 0 until its transport parameters arrive (RFC 9002 §6.2.1). */
  maxAckDelay = 0;
  handshakeConfirmed = false;
  /** Client: the server validated our address (Handshake ACK received or confirmed, §A.6). */
  private peerValidated: boolean;
  /** Handshake keys are available (anti-deadlock probes go in Handshake packets, §6.2.2.1). */
  hasHandshakeKeys = false;
  /** Server blocked by the anti-amplification limit: no timer (RFC 9002 §6.2.2.1). */
  amplificationLimited = false;

  private timer = Infinity;
  /** Space found by earliestLossTime()/ptoTimeAndSpace(). */
  private foundSpace: PacketSpace = PacketSpace.Initial;

  constructor(options: LossDetectionOptions) {
    this.isServer = options.isServer;
    this.cc = options.cc;
    this.rtt = new RttEstimator(options.initialRtt);
    this.packetThreshold = options.packetThreshold ?? PACKET_THRESHOLD;
    if (!(this.packetThreshold >= 3)) throw new RangeError('packetThreshold must be >= 3');
    this.spaces = [new RecoverySpace(), new RecoverySpace(), new RecoverySpace()];
    // §A.6: clients assume servers validate their address implicitly only once proven.
    this.peerValidated = this.isServer;
  }

  /** Bytes in flight over all spaces. */
  get bytesInFlight(): number {
    return (
      this.spaces[0].bytesInFlight + this.spaces[1].bytesInFlight + this.spaces[2].bytesInFlight
    );
  }

  private get ackElicitingInFlight(): number {
    return (
      this.spaces[0].ackElicitingInFlight +
      this.spaces[1].ackElicitingInFlight +
      this.spaces[2].ackElicitingInFlight
    );
  }

  /** Largest packet number acknowledged by the peer in `space`, or -1. */
  largestAckedIn(space: PacketSpace): number {
    return this.spaces[space].largestAcked;
  }

  /** Loss/PTO timer deadline (ms) or Infinity (RFC 9002 §6.2). */
  nextTimeout(): number {
    return this.timer;
  }

  /** Client: a Handshake ACK arrived or the handshake is confirmed (RFC 9002 §A.6). */
  get peerCompletedAddressValidation(): boolean {
    return this.peerValidated || this.handshakeConfirmed;
  }

  /** RFC 9001 §4.1.2: the handshake is confirmed (PTO for 1-RTT now allowed, §6.2.1). */
  onHandshakeConfirmed(now: number): void {
    this.handshakeConfirmed = true;
    this.setTimer(now);
  }

  /** Handshake keys installed; anti-deadlock probes switch to Handshake (§6.2.2.1). */
  onHandshakeKeysAvailable(now: number): void {
    this.hasHandshakeKeys = true;
    this.setTimer(now);
  }

  /** The peer's max_ack_delay transport parameter (ms). */
  setMaxAckDelay(ms: number, now: number): void {
    if (!(ms >= 0 && ms < 2 ** 14)) throw new RangeError('maxAckDelay must be in [0, 2^14)');
    this.maxAckDelay = ms;
    this.setTimer(now);
  }

  /** Server: anti-amplification state changed (RFC 9002 §A.6 OnDatagramReceived). */
  setAmplificationLimited(limited: boolean, now: number): void {
    this.amplificationLimited = limited;
    this.setTimer(now);
  }

  /**
   * Skips packet number `pn` in `space` (never sent). An ACK claiming it is an optimistic ACK:
   * onAckReceived then returns PROTOCOL_VIOLATION (RFC 9000 §21.4, §13.1). The last 16 skipped
   * numbers per space are remembered.
   */
  skipPacketNumber(space: PacketSpace, pn: number): void {
    const sp = this.spaces[space];
    sp.skip(pn);
    const list = sp.skipped === NO_SKIPS ? (sp.skipped = []) : sp.skipped;
    if (list.length === MAX_SKIPPED) list.shift();
    list.push(pn);
  }

  /** RFC 9002 §A.5 OnPacketSent. */
  onPacketSent(space: PacketSpace, p: SentPacket<F>, now: number): void {
    const sp = this.spaces[space];
    if (sp === DISCARDED) throw new RangeError('packet sent in a discarded space');
    if (!p.inFlight && sp.notInFlight >= MAX_NOT_IN_FLIGHT) {
      sp.skip(p.pn);
      return;
    }
    sp.add(p);
    if (p.inFlight) {
      if (p.ackEliciting) sp.lastAckElicitingTime = p.timeSent;
      this.cc.onPacketSent(p.size, now);
      this.setTimer(now);
    }
  }

  /**
   * RFC 9002 §A.7 OnAckReceived. `ranges` as the ACK frame carries them (descending, first
   * holds Largest Acknowledged); `ackDelay` decoded to ms. (ECN-CE counts are validated first
   * and acted on by the caller: lib/quic/ecn.ts.) The returned object and its arrays are reused
   * by the next call.
   */
  onAckReceived(
    space: PacketSpace,
    ranges: readonly AckRange[],
    ackDelay: number,
    now: number,
  ): AckResult<F> {
    const r = RESULT as AckResult<F>;
    const acked = r.acked;
    const lost = r.lost;
    acked.length = 0;
    lost.length = 0;
    r.rttUpdated = false;
    r.persistentCongestion = false;
    r.error = 0;
    const sent = this.spaces[space];
    if (ranges.length === 0 || sent === DISCARDED) return r;
    const largest = ranges[0].end;
    // RFC 9000 §13.1: acknowledging a packet never sent is a PROTOCOL_VIOLATION; a skipped
    // one betrays an optimistic ACK (§21.4).
    const optimistic = largest <= sent.largestSent && acksSkipped(sent.skipped, ranges);
    if (optimistic) this.stats.optimisticAcks++;
    if (largest > sent.largestSent || optimistic) {
      r.error = PROTOCOL_VIOLATION;
      return r;
    }
    if (largest > sent.largestAcked) sent.largestAcked = largest;
    // §A.6: for a client, a Handshake ACK proves the server validated our address.
    if (space === PacketSpace.Handshake) this.peerValidated = true;

    // §A.7 DetectAndRemoveAckedPackets: one binary search per range, ascending output.
    for (let i = ranges.length - 1; i >= 0; i--)
      sent.removeRange(ranges[i].start, ranges[i].end, acked);
    if (acked.length === 0) return r;
    this.stats.packetsAcked += acked.length;

    // §5.1: sample only when the largest acknowledged is newly acknowledged and at least one
    // newly acknowledged packet is ack-eliciting.
    const newest = acked[acked.length - 1];
    if (newest.pn === largest) {
      let eliciting = false;
      for (let i = 0; i < acked.length && !eliciting; i++) eliciting = acked[i].ackEliciting;
      if (eliciting) {
        // §5.3: the ack delay MAY be ignored for Initial packets; we do.
        const delay = space === PacketSpace.Initial ? 0 : ackDelay;
        this.rtt.update(
          now - newest.timeSent,
          delay,
          this.handshakeConfirmed,
          this.maxAckDelay,
          now,
        );
        r.rttUpdated = true;
        this.cc.onRttSample(this.rtt.latestRtt, newest.timeSent, now);
      }
    }

    this.detectLost(space, now, lost);
    if (lost.length > 0) r.persistentCongestion = this.onPacketsLost(space, lost, now);

    // §A.7 OnPacketsAcked (after losses, as in the pseudocode).
    const srtt = this.rtt.smoothedRtt;
    for (let i = 0; i < acked.length; i++) this.cc.onPacketAcked(acked[i], now, srtt);

    // §A.7: reset pto_count unless the client is unsure the server validated its address.
    if (this.peerCompletedAddressValidation) this.ptoCount = 0;
    this.setTimer(now);
    return r;
  }

  /**
   * RFC 9002 §A.10 DetectAndRemoveLostPackets: packet threshold or time threshold; sets the
   * space's loss_time for packets not yet lost.
   */
  private detectLost(space: PacketSpace, now: number, out: SentPacket<F>[]): void {
    const sp = this.spaces[space];
    const largest = sp.largestAcked;
    sp.lossTime = 0;
    if (largest < 0) return;
    const lossDelay = this.rtt.lossDelay();
    const threshold = this.packetThreshold;
    let lossTime = 0;
    sp.scanUpTo(largest, (p) => {
      // time_sent <= now - loss_delay, written as the same sum that sets loss_time below, so
      // the timer firing at exactly loss_time declares the loss (no floating-point gap).
      const t = p.timeSent + lossDelay;
      if (t <= now || largest >= p.pn + threshold) {
        out.push(p);
        return true;
      }
      if (lossTime === 0 || t < lossTime) lossTime = t;
      return false;
    });
    sp.lossTime = lossTime;
  }

  /** Reports losses to the congestion controller; returns true on persistent congestion. */
  private onPacketsLost(space: PacketSpace, lost: SentPacket<F>[], now: number): boolean {
    this.cc.onPacketsLost(lost, now);
    this.stats.packetsLost += lost.length;
    for (let i = 0; i < lost.length; i++) this.stats.bytesLost += lost[i].size;
    if (this.inPersistentCongestion(space, lost)) {
      this.stats.persistentCongestions++;
      this.cc.onPersistentCongestion(now);
      return true;
    }
    return false;
  }

  /**
   * RFC 9002 §7.6.2: two ack-eliciting lost packets, both sent after the first RTT sample,
   * with nothing acknowledged between them, further apart in time than the persistent
   * congestion duration. Evaluated within the lost list of one space (§7.6.2 allows that);
   * a packet number gap not made of skipped numbers counts as "acknowledged in between"
   * (conservative).
   */
  private inPersistentCongestion(space: PacketSpace, lost: SentPacket<F>[]): boolean {
    const first = this.rtt.firstSampleTime;
    if (first < 0) return false;
    const duration =
      (this.rtt.smoothedRtt + Math.max(4 * this.rtt.rttVar, GRANULARITY) + this.maxAckDelay) *
      PERSISTENT_CONGESTION_THRESHOLD;
    const skipped = this.spaces[space].skipped;
    let runStart = -1;
    let prevPn = -2;
    for (let i = 0; i < lost.length; i++) {
      const p = lost[i];
      if (p.pn !== prevPn + 1 && !onlySkippedBetween(skipped, prevPn, p.pn)) runStart = -1;
      prevPn = p.pn;
      // RFC 9000 §14.4: a lost path MTU probe does not count toward persistent congestion.
      if (!p.ackEliciting || p.mtuProbe || p.timeSent <= first) continue;
      if (runStart < 0) runStart = p.timeSent;
      else if (p.timeSent - runStart > duration) return true;
    }
    return false;
  }

  /** RFC 9002 §A.8 GetLossTimeAndSpace: returns the time, sets `foundSpace` (no allocation). */
  private earliestLossTime(): number {
    let time = 0;
    let space: PacketSpace = PacketSpace.Initial;
    for (let s = 0; s < 3; s++) {
      const t = this.spaces[s].lossTime;
      if (t !== 0 && (time === 0 || t < time)) {
        time = t;
        space = s as PacketSpace;
      }
    }
    this.foundSpace = space;
    return time;
  }

  /**
   * §6.2.2.1: a client whose address the server has not validated keeps a PTO armed while
   * nothing it could probe is in flight: none at all (the pseudo-code's "no ack-eliciting
   * packets in flight", §A.8), or only 0-RTT packets, which no PTO probes before the handshake
   * is confirmed (§6.2.1). The server may be blocked by its amplification limit until the
   * client sends again: its lost Initial would then never come back.
   */
  private get antiDeadlock(): boolean {
    if (this.peerCompletedAddressValidation) return false;
    const [initial, handshake] = this.spaces;
    return initial.ackElicitingInFlight === 0 && handshake.ackElicitingInFlight === 0;
  }

  /** RFC 9002 §A.8 GetPtoTimeAndSpace: returns the time, sets `foundSpace`. */
  private ptoTimeAndSpace(now: number): number {
    // 2^pto_count as a shift (MAX_PTO_SHIFT < 31): `**` calls pow, and the timer is set
    // again for every packet sent.
    const backoff = 1 << Math.min(this.ptoCount, MAX_PTO_SHIFT);
    let duration = this.rtt.ptoBase() * backoff;
    // Anti-deadlock PTO starts from the current time.
    if (this.antiDeadlock) {
      this.foundSpace = this.hasHandshakeKeys ? PacketSpace.Handshake : PacketSpace.Initial;
      return now + duration;
    }
    let timeout = Infinity;
    let space: PacketSpace = PacketSpace.Initial;
    for (let s = 0; s < 3; s++) {
      if (this.spaces[s].ackElicitingInFlight === 0) continue;
      if (s === PacketSpace.ApplicationData) {
        // §6.2.1: no Application Data PTO until the handshake is confirmed.
        if (!this.handshakeConfirmed) break;
        // §6.2.1: include max_ack_delay, with backoff.
        duration += this.maxAckDelay * backoff;
      }
      const t = this.spaces[s].lastAckElicitingTime + duration;
      if (t < timeout) {
        timeout = t;
        space = s as PacketSpace;
      }
    }
    this.foundSpace = space;
    return timeout;
  }

  /** RFC 9002 §A.8 SetLossDetectionTimer. */
  private setTimer(now: number): void {
    const lossTime = this.earliestLossTime();
    if (lossTime !== 0) {
      this.timer = lossTime;
      return;
    }
    // §6.2.2.1: a server at the anti-amplification limit arms no timer.
    if (this.amplificationLimited) {
      this.timer = Infinity;
      return;
    }
    if (this.ackElicitingInFlight === 0 && this.peerCompletedAddressValidation) {
      this.timer = Infinity;
      return;
    }
    this.timer = this.ptoTimeAndSpace(now);
  }

  /** RFC 9002 §A.9 OnLossDetectionTimeout. Call when now >= nextTimeout(). */
  onTimeout(now: number): TimeoutAction<F> {
    if (now < this.timer) return { kind: 'none' };
    const lossTime = this.earliestLossTime();
    const lossSpace = this.foundSpace;
    if (lossTime !== 0) {
      const lost: SentPacket<F>[] = [];
      this.detectLost(lossSpace, now, lost);
      if (lost.length > 0) this.onPacketsLost(lossSpace, lost, now);
      this.setTimer(now);
      return lost.length > 0 ? { kind: 'lost', space: lossSpace, lost } : { kind: 'none' };
    }
    if (this.timer === Infinity) return { kind: 'none' };
    let action: TimeoutAction<F>;
    if (this.antiDeadlock) {
      // §6.2.2.1: client anti-deadlock probe (Handshake if keys exist, else padded Initial).
      action = {
        kind: 'anti-deadlock',
        space: this.hasHandshakeKeys ? PacketSpace.Handshake : PacketSpace.Initial,
      };
    } else {
      // §6.2.4: one or two ack-eliciting probes in the space whose PTO fired.
      this.ptoTimeAndSpace(now);
      action = { kind: 'pto', space: this.foundSpace, probes: 2 };
    }
    this.ptoCount++;
    this.stats.ptoExpirations++;
    this.setTimer(now);
    return action;
  }

  /**
   * RFC 9002 §6.4 / §A.11: keys of `space` discarded. Its packets leave bytes in flight
   * without a congestion signal; returns them (their frames need no retransmission).
   */
  discardSpace(space: PacketSpace, now: number): SentPacket<F>[] {
    const sp = this.spaces[space];
    const bytes = sp.bytesInFlight;
    const removed = sp.clear();
    // The space is never used again: a shared frozen empty record (memory per connection; a
    // write to it would throw rather than touch another connection).
    this.spaces[space] = DISCARDED as RecoverySpace<F>;
    this.cc.onPacketsDiscarded(bytes);
    this.ptoCount = 0;
    this.setTimer(now);
    return removed;
  }

  /**
   * Removes every packet of `space` from flight without discarding the space: a Retry (RFC
   * 9002 §6.3: loss recovery state and timers reset; the Initial CRYPTO data must be resent)
   * or rejected 0-RTT (RFC 9002 §6.4). Packet numbers keep increasing (RFC 9000 §17.2.5.3).
   * Returns the packets removed, so their frames can be sent again.
   */
  resetSpace(space: PacketSpace, now: number): SentPacket<F>[] {
    const sp = this.spaces[space];
    const bytes = sp.bytesInFlight;
    const removed = sp.clear();
    this.cc.onPacketsDiscarded(bytes);
    sp.lastAckElicitingTime = 0;
    sp.lossTime = 0;
    this.ptoCount = 0;
    this.setTimer(now);
    return removed;
  }

  /** The space's keys were discarded. */
  isDiscarded(space: PacketSpace): boolean {
    return this.spaces[space] === DISCARDED;
  }
}

/** Every packet number strictly between `a` and `b` was skipped (none was sent). */
function onlySkippedBetween(skipped: readonly number[], a: number, b: number): boolean {
  if (a < 0 || b - a - 1 > skipped.length) return false;
  for (let v = a + 1; v < b; v++) if (!skipped.includes(v)) return false;
  return true;
}

/** True if a range covers a packet number we skipped (RFC 9000 §21.4). */
function acksSkipped(skipped: readonly number[], ranges: readonly AckRange[]): boolean {
  for (let j = 0; j < skipped.length; j++) {
    const pn = skipped[j];
    for (let i = 0; i < ranges.length; i++) {
      if (pn >= ranges[i].start && pn <= ranges[i].end) return true;
    }
  }
  return false;
}
