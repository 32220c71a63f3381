/**
 * Per packet number space record of sent packets awaiting acknowledgement (RFC 9002 §A.1.1).
 *
 * Packets are appended in packet number order, so the record is a deque kept in two parallel
 * arrays: `pns` (ascending, binary-searchable) and `packets` (holes left by acked/lost packets
 * are `undefined` and compacted lazily, amortised O(1)).
 */

/** One sent packet (RFC 9002 §A.1.1). `frames` is the connection's opaque retransmission data. */
export interface SentPacket<F = unknown> {
  pn: number;
  /** Send time (ms). */
  timeSent: number;
  /** Bytes of the packet counted against the congestion window (§A.1.1 sent_bytes). */
  size: number;
  ackEliciting: boolean;
  /** Counts towards bytes in flight (§2: ack-eliciting or padding). */
  inFlight: boolean;
  /** A path MTU probe: its loss is no congestion signal (RFC 9000 §14.4). */
  mtuProbe?: boolean;
  frames: F;
}

export class SentPackets<F = unknown> {
  private pns: number[] = [];
  private packets: (SentPacket<F> | undefined)[] = [];
  private head = 0;
  private live = 0;
  /** Largest packet number sent in this space, or -1. */
  largestSent = -1;
  /** Ack-eliciting packets in flight in this space. */
  ackElicitingInFlight = 0;
  /** Bytes in flight in this space. */
  bytesInFlight = 0;
  /** Recorded packets not counted in flight (e.g. ACK-only). */
  notInFlight = 0;

  /** Number of packets recorded. */
  get size(): number {
    return this.live;
  }

  /** Records a packet; packet numbers must increase (RFC 9000 §12.3). */
  add(p: SentPacket<F>): void {
    if (!(p.pn > this.largestSent)) throw new RangeError('packet numbers must increase');
    if (this.pns.length === 0) {
      // Exact-size arrays for a first packet: an idle connection's last (ACK-only) packet
      // keeps no spare capacity.
      this.pns = [p.pn];
      this.packets = [p];
    } else {
      this.pns.push(p.pn);
      this.packets.push(p);
    }
    this.largestSent = p.pn;
    this.live++;
    if (p.inFlight) {
      this.bytesInFlight += p.size;
      if (p.ackEliciting) this.ackElicitingInFlight++;
    } else {
      this.notInFlight++;
    }
  }

  /**
   * Marks `pn` as deliberately skipped (never sent): later packets must use higher numbers.
   * Skipping packet numbers detects optimistic ACKs (RFC 9000 §21.4).
   */
  skip(pn: number): void {
    if (!(pn > this.largestSent)) throw new RangeError('packet numbers must increase');
    this.largestSent = pn;
  }

  /** Index of the first slot with pn >= `pn` (may be a hole). */
  private lowerBound(pn: number): number {
    let lo = this.head;
    let hi = this.pns.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.pns[mid] < pn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get(pn: number): SentPacket<F> | undefined {
    const i = this.lowerBound(pn);
    return i < this.pns.length && this.pns[i] === pn ? this.packets[i] : undefined;
  }

  /** Oldest recorded packet. */
  first(): SentPacket<F> | undefined {
    this.skipHoles();
    return this.packets[this.head];
  }

  /**
   * Removes and appends to `out` every recorded packet with start <= pn <= end, ascending.
   * Cost: O(log n + k) for k slots in the range.
   */
  removeRange(start: number, end: number, out: SentPacket<F>[]): void {
    const n = this.pns.length;
    // Old ranges (everything below the oldest outstanding packet) cost O(1).
    if (this.head === n || end < this.pns[this.head]) return;
    for (let i = this.lowerBound(start); i < n && this.pns[i] <= end; i++) {
      const p = this.packets[i];
      if (p !== undefined) {
        this.packets[i] = undefined;
        this.untrack(p);
        out.push(p);
      }
    }
    this.compact();
  }

  /** Removes one packet; returns it or undefined. */
  remove(pn: number): SentPacket<F> | undefined {
    const i = this.lowerBound(pn);
    if (i >= this.pns.length || this.pns[i] !== pn) return undefined;
    const p = this.packets[i];
    if (p !== undefined) {
      this.packets[i] = undefined;
      this.untrack(p);
      this.compact();
    }
    return p;
  }

  /**
   * Calls `fn` for recorded packets with pn <= maxPn in ascending order; `fn` returns true to
   * remove the packet. Used by loss detection (RFC 9002 §6.1).
   */
  scanUpTo(maxPn: number, fn: (p: SentPacket<F>) => boolean): void {
    const n = this.pns.length;
    for (let i = this.head; i < n && this.pns[i] <= maxPn; i++) {
      const p = this.packets[i];
      if (p !== undefined && fn(p)) {
        this.packets[i] = undefined;
        this.untrack(p);
      }
    }
    this.compact();
  }

  /** Removes everything (discarding a space, RFC 9002 §6.4); returns the packets removed. */
  clear(): SentPacket<F>[] {
    const out: SentPacket<F>[] = [];
    for (let i = this.head; i < this.packets.length; i++) {
      const p = this.packets[i];
      if (p !== undefined) out.push(p);
    }
    this.pns = [];
    this.packets = [];
    this.head = 0;
    this.live = 0;
    this.bytesInFlight = 0;
    this.ackElicitingInFlight = 0;
    this.notInFlight = 0;
    return out;
  }

  *[Symbol.iterator](): IterableIterator<SentPacket<F>> {
    for (let i = this.head; i < this.packets.length; i++) {
      const p = this.packets[i];
      if (p !== undefined) yield p;
    }
  }

  private untrack(p: SentPacket<F>): void {
    this.live--;
    if (p.inFlight) {
      this.bytesInFlight -= p.size;
      if (p.ackEliciting) this.ackElicitingInFlight--;
    } else {
      this.notInFlight--;
    }
  }

  private skipHoles(): void {
    while (this.head < this.packets.length && this.packets[this.head] === undefined) this.head++;
  }

  /** Drops leading holes; rebuilds when holes dominate (amortised O(1) per packet). */
  private compact(): void {
    this.skipHoles();
    const len = this.packets.length;
    if (this.head === len) {
      this.pns.length = 0;
      this.packets.length = 0;
      this.head = 0;
    } else if (
      (len > 64 && this.live * 2 < len - this.head) ||
      (len > 16 && this.head > 0 && this.live <= 2)
    ) {
      // (A few packets left, e.g. the last ACK-only one of an idle connection: exact-size
      // arrays instead of the capacity grown while more were in flight; not for arrays that
      // short already, which a request/response connection would rebuild on every ACK.)
      const pns: number[] = new Array<number>(this.live);
      const packets: (SentPacket<F> | undefined)[] = new Array<SentPacket<F>>(this.live);
      for (let i = this.head, j = 0; i < len; i++) {
        const p = this.packets[i];
        if (p !== undefined) {
          pns[j] = p.pn;
          packets[j++] = p;
        }
      }
      this.pns = pns;
      this.packets = packets;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > len) {
      this.pns.splice(0, this.head);
      this.packets.splice(0, this.head);
      this.head = 0;
    }
  }
}
