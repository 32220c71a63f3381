/**
 * Datagram Packetization Layer PMTU Discovery (DPLPMTUD, RFC 8899) as RFC 9000 §14.3 allows
 * it: once the handshake is confirmed, probe packets (PING + PADDING, nothing to retransmit)
 * of growing sizes find the largest datagram the path carries. Sans-IO: the packetizer asks
 * for the size of the probe due and reports what it sent; the connection reports probe
 * acknowledgements and losses, and the fate of full-size packets (black-hole detection).
 *
 * Search (RFC 8899 §5.3 leaves the algorithm open): the ceiling first (the common Ethernet
 * path takes it in one round trip), then the common sizes below it in ascending order (each
 * success raises the size at once; the first size that fails bounds the rest), then a
 * bisection while the unexplored gap is at least SEARCH_RESOLUTION bytes.
 */

/** RFC 8899 §5.1.2 BASE_PLPMTU: QUIC's smallest allowed datagram (RFC 9000 §14). */
export const BASE_PLPMTU = 1200;
/** RFC 8899 §5.1.2 MAX_PROBES: a size is infeasible after this many lost probes of it. */
export const MAX_PROBES = 3;
/** RFC 8899 §5.1.1 PMTU_RAISE_TIMER (ms): a completed search looks for more after it. */
export const PMTU_RAISE_TIMER = 600_000;
/** RFC 8899 §4.3: full-size packets lost, all sent after the last full-size packet that got
 * through, that make the current size a black hole, in at least BLACK_HOLE_EVENTS loss
 * detections at distinct times (one burst of losses, e.g. at the tail of a transfer, whose
 * retransmissions get through, is congestion, not a black hole). */
export const BLACK_HOLE_LOSSES = 3;
export const BLACK_HOLE_EVENTS = 2;
/** RFC 9000 §18.2: the largest max_udp_payload_size. */
export const MAX_UDP_PAYLOAD = 65527;
/** The default ceiling of the search: fits IPv6 over Ethernet (1500 − 40 − 8), and IPv4. */
export const DEFAULT_PMTU_CEILING = 1452;
/** UDP payload sizes worth a probe: IPv6's minimum link MTU, common tunnel sizes, IPv6 and
 * IPv4 over Ethernet (1500 − 48, 1500 − 28), IPv6 over 9000-byte jumbo frames. */
const COMMON_SIZES = [1280, 1350, 1400, 1452, 1472, 8952];
/** Bisection stops when the sizes left to explore span fewer bytes than this. */
const SEARCH_RESOLUTION = 64;

export class Pmtud {
  /** The largest datagram we send now (the PLPMTU, RFC 8899 §2). */
  size: number;
  probesSent = 0;
  probesLost = 0;
  /** The configured size, then capped by the peer's max_udp_payload_size (RFC 9000 §18.2). */
  private ceiling: number;
  /** Probing runs (the handshake is confirmed and discovery is enabled). */
  private active = false;
  /** The largest size not known to be infeasible. */
  private hi: number;
  private ceilingTried = false;
  /** The size being probed (0: none, the search is complete), the packet number of its
   * outstanding probe (-1: none) and the probes of it lost so far. */
  private target = 0;
  private probePn = -1;
  private losses = 0;
  /** When a completed search starts again (Infinity: while searching). */
  private raiseAt = Infinity;
  /** Black-hole detection: the largest full-size packet acknowledged; full-size packets lost
   * since, the distinct times they were declared lost, and the last of these times. */
  private largestFullAcked = -1;
  private fullLosses = 0;
  private lossEvents = 0;
  private lastLossAt = -1;

  /**
   * `enabled` false: every datagram may be `maxDatagramSize` bytes and nothing is probed.
   * Else `maxDatagramSize` is the ceiling of the search, which starts at BASE_PLPMTU.
   */
  constructor(
    readonly enabled: boolean,
    readonly maxDatagramSize: number,
  ) {
    this.size = enabled ? BASE_PLPMTU : maxDatagramSize;
    this.ceiling = this.hi = maxDatagramSize;
  }

  /** The handshake is confirmed (RFC 9000 §14.3.1: probing starts then); the peer's
   * max_udp_payload_size caps the search (§18.2). */
  start(peerMaxUdpPayloadSize: number, now: number): void {
    if (!this.enabled || this.active) return;
    this.ceiling = Math.min(this.ceiling, peerMaxUdpPayloadSize, MAX_UDP_PAYLOAD);
    this.active = true;
    this.search(this.ceiling, false, now);
  }

  /** The search is complete (until the raise timer). */
  get done(): boolean {
    return this.raiseAt !== Infinity;
  }

  /** The largest datagram for PTO probes: a black hole must not swallow them too, so they go
   * at BASE_PLPMTU, whose ACK exposes the losses of larger packets (RFC 8899 §4.3). */
  get ptoDatagramSize(): number {
    return this.enabled ? BASE_PLPMTU : this.size;
  }

  /** The size of the probe to send now, or 0 (one probe at a time). */
  probeSize(now: number): number {
    if (!this.active || this.probePn >= 0) return 0;
    // RFC 8899 §5.1.1: once the raise timer expires, look for a larger size again.
    if (now >= this.raiseAt) this.search(this.ceiling, false, now);
    return this.target;
  }

  onProbeSent(pn: number): void {
    this.probePn = pn;
    this.probesSent++;
  }

  /** A probe was acknowledged: its size is the new PLPMTU. True if the size changed. */
  onProbeAcked(pn: number, now: number): boolean {
    if (pn !== this.probePn) return false; // a probe of an abandoned search
    this.probePn = -1;
    const grew = this.target > this.size;
    if (grew) this.size = this.target;
    this.next(now);
    return grew;
  }

  /** A probe was lost; after MAX_PROBES losses its size is infeasible (RFC 8899 §5.1.2). It is
   * no congestion signal (RFC 9000 §14.4; the congestion controller skips probes). */
  onProbeLost(pn: number, now: number): void {
    this.probesLost++;
    if (pn !== this.probePn) return;
    this.probePn = -1;
    if (++this.losses < MAX_PROBES) return;
    this.hi = this.target - 1;
    this.next(now);
  }

  /** A packet that was not a probe was acknowledged. */
  onPacketAcked(pn: number, size: number): void {
    if (this.isFullSize(size) && pn > this.largestFullAcked) {
      this.largestFullAcked = pn;
      this.fullLosses = this.lossEvents = 0;
    }
  }

  /**
   * A packet that was not a probe was lost. RFC 8899 §4.3 black-hole detection: full-size
   * packets keep being lost, all sent after the last full-size packet acknowledged, while
   * later smaller ones got through (losses are only declared by the ACK of a later packet;
   * PTO probes go at BASE_PLPMTU): back to BASE_PLPMTU, and a new search below the size that
   * failed. True if the size changed.
   */
  onPacketLost(pn: number, size: number, now: number): boolean {
    if (!this.active || this.size <= BASE_PLPMTU) return false;
    if (!this.isFullSize(size) || pn <= this.largestFullAcked) return false;
    this.fullLosses++;
    if (now !== this.lastLossAt) {
      this.lastLossAt = now;
      this.lossEvents++;
    }
    if (this.fullLosses < BLACK_HOLE_LOSSES || this.lossEvents < BLACK_HOLE_EVENTS) return false;
    const failed = this.size;
    this.size = BASE_PLPMTU;
    this.search(failed - 1, true, now);
    return true;
  }

  /** A new path (RFC 9000 §9: migration) may carry less: back to BASE_PLPMTU, and a new
   * search. True if the size changed. */
  onNewPath(now: number): boolean {
    if (!this.enabled) return false;
    const changed = this.size !== BASE_PLPMTU;
    this.size = BASE_PLPMTU;
    if (this.active) this.search(this.ceiling, false, now);
    return changed;
  }

  /** A packet as large as the current size allows: the stream writer fills packets to within
   * a few bytes (a frame header that would not fit), so within 1/16 of the size. */
  private isFullSize(size: number): boolean {
    return size > BASE_PLPMTU && size >= this.size - (this.size >> 4);
  }

  /** Starts a search up to `hi`; its outstanding probe, if any, is ignored from now on. */
  private search(hi: number, ceilingTried: boolean, now: number): void {
    this.hi = hi;
    this.ceilingTried = ceilingTried;
    this.fullLosses = this.lossEvents = 0;
    this.probePn = -1;
    this.next(now);
  }

  /** Chooses the next size to probe; none: the search is complete until the raise timer. */
  private next(now: number): void {
    this.losses = 0;
    this.target = this.nextTarget();
    this.raiseAt = this.target === 0 ? now + PMTU_RAISE_TIMER : Infinity;
  }

  private nextTarget(): number {
    const lo = this.size;
    const hi = this.hi;
    if (hi <= lo) return 0;
    if (!this.ceilingTried) {
      this.ceilingTried = true;
      return hi;
    }
    for (const s of COMMON_SIZES) if (s > lo && s <= hi) return s;
    return hi - lo >= SEARCH_RESOLUTION ? (lo + hi + 1) >>> 1 : 0;
  }
}
