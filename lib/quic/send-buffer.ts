/**
 * Send side of a stream (or of a CRYPTO stream, RFC 9000 §19.6): bytes written by the
 * application, handed out as (offset, data) chunks for STREAM/CRYPTO frames, tracked until
 * acknowledged. Lost ranges are resent before new data; acknowledged prefixes free memory.
 * Written buffers are kept by reference (no copy): do not modify them after write(). A small
 * view into a large buffer is copied instead (PINNING_BUFFER): an echo writes back views into
 * the datagrams it received, and keeping them would hold whole receive batches per chunk.
 */
import { ownCopy } from './bytes.js';
import type { WindowPool } from './flow-control.js';
import { RangeSet } from './range-set.js';

/** A written view is copied when its buffer is at least this large and more than twice the
 * view: memory held then follows what flow control counts. Node 20's 8 KiB Buffer pool slabs,
 * which small writes share, stay shared; Node 24's are 64 KiB, and its small writes are copied
 * rather than pin a slab each until acknowledged. */
const PINNING_BUFFER = 16 * 1024;

/** One frame's worth of stream data. `data` is a view (a copy only if it spans writes). */
export interface StreamChunk {
  offset: number;
  data: Uint8Array;
  /** The frame carries the FIN bit (RFC 9000 §19.8). */
  fin: boolean;
  /** Retransmission of lost data: consumes no new flow-control credit (RFC 9000 §4.1). */
  retransmit: boolean;
}

export class SendBuffer {
  private chunks: (Uint8Array | undefined)[] = [];
  /** Absolute offset of each chunk. */
  private starts: number[] = [];
  private head = 0;
  /** Offset of the first byte still held (everything below is acknowledged and freed). */
  private base = 0;
  /** Bytes written by the application (end offset of the stream so far). */
  written = 0;
  /** Next never-sent offset (highest offset sent). */
  sentOffset = 0;
  /** Final size once end() was called, else -1. */
  finOffset = -1;
  private finSent = false;
  private finLost = false;
  finAcked = false;
  private readonly acked = new RangeSet();
  private readonly lost = new RangeSet();
  private isReset = false;

  /** @param offset where the stream starts: everything below was sent and acknowledged (a
   * buffer created again for a stream whose earlier one was let go when empty). */
  constructor(offset = 0) {
    this.base = this.written = this.sentOffset = offset;
  }

  /** Appends application data (kept by reference, or copied when a small view of a large
   * buffer). */
  write(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (this.finOffset >= 0 || this.isReset) throw new RangeError('write after end or reset');
    if (data.length === 0) return;
    const backing = data.buffer.byteLength;
    if (backing >= PINNING_BUFFER && 2 * data.length < backing) data = ownCopy(data);
    this.chunks.push(data);
    this.starts.push(this.written);
    this.written += data.length;
  }

  /** No more data: the final size is what has been written (RFC 9000 §4.5). */
  end(): void {
    if (this.isReset) throw new RangeError('end after reset');
    if (this.finOffset < 0) this.finOffset = this.written;
  }

  /** Bytes held in memory (written, not yet acknowledged as a prefix): for backpressure. */
  get bufferedBytes(): number {
    return this.written - this.base;
  }

  /** Bytes written but never sent. */
  get unsentBytes(): number {
    return this.written - this.sentOffset;
  }

  /** Lost data (or a lost FIN) waits for retransmission. */
  get hasRetransmit(): boolean {
    return !this.isReset && (!this.lost.isEmpty || this.finLost);
  }

  /** Something to send: lost data, new data or a FIN not sent yet. */
  get hasPending(): boolean {
    if (this.isReset) return false;
    return this.hasRetransmit || this.sentOffset < this.written || this.finPendingNew;
  }

  private get finPendingNew(): boolean {
    return this.finOffset >= 0 && !this.finSent && !this.finAcked;
  }

  /** Nothing is held: everything written was sent and acknowledged, nothing is to resend. */
  get drained(): boolean {
    return this.base === this.written && !this.hasPending && this.finOffset < 0;
  }

  /** Everything written and the FIN were acknowledged (the send side is done, §3.1). */
  get allAcked(): boolean {
    return this.finAcked && this.base === this.finOffset;
  }

  get wasReset(): boolean {
    return this.isReset;
  }

  /**
   * Next chunk to send, at most `maxLength` bytes; lost data first. New data is limited to
   * offsets below `maxOffset` (the flow-control limit, RFC 9000 §4.1). Returns null if there
   * is nothing to send. The chunk is considered sent (in flight) once returned.
   */
  nextChunk(maxLength: number, maxOffset: number = Infinity): StreamChunk | null {
    if (this.isReset || !(maxLength >= 0)) return null;
    if (!this.lost.isEmpty && maxLength > 0) {
      const start = this.lost.startAt(0);
      const len = Math.min(this.lost.endAt(0) - start + 1, maxLength);
      this.lost.subtract(start, start + len - 1);
      const end = start + len;
      const fin = end === this.finOffset && !this.finAcked;
      if (fin) {
        this.finLost = false;
        this.finSent = true;
      }
      return { offset: start, data: this.slice(start, end), fin, retransmit: true };
    }
    if (this.finLost && this.lost.isEmpty) {
      // Only the FIN is missing: send an empty STREAM frame with FIN at the final size.
      this.finLost = false;
      return { offset: this.finOffset, data: new Uint8Array(0), fin: true, retransmit: true };
    }
    const start = this.sentOffset;
    const len = Math.max(0, Math.min(this.written - start, maxLength, maxOffset - start));
    const end = start + len;
    const fin = end === this.finOffset && !this.finSent;
    if (len === 0 && !fin) return null;
    this.sentOffset = end;
    if (fin) this.finSent = true;
    return { offset: start, data: this.slice(start, end), fin, retransmit: false };
  }

  /** A frame carrying [offset, offset + length) (and FIN if set) was acknowledged. */
  onAcked(offset: number, length: number, fin: boolean): void {
    if (this.isReset) return;
    if (fin) {
      this.finAcked = true;
      this.finLost = false;
    }
    if (length <= 0) return;
    const end = offset + length;
    if (end <= this.base) return;
    if (offset <= this.base && this.acked.isEmpty) {
      // In order (the common case): the acknowledged prefix grows, no ranges to keep.
      if (!this.lost.isEmpty) this.lost.subtract(offset, end - 1);
      return this.release(end);
    }
    this.acked.add(Math.max(offset, this.base), end - 1);
    this.lost.subtract(offset, end - 1);
    // Free the acknowledged prefix.
    if (this.acked.startAt(0) <= this.base) {
      const newBase = this.acked.endAt(0) + 1;
      this.acked.removeBelow(newBase);
      this.release(newBase);
    }
  }

  /** A frame carrying [offset, offset + length) (and FIN if set) was declared lost. */
  onLost(offset: number, length: number, fin: boolean): void {
    if (this.isReset) return;
    if (fin && !this.finAcked) this.finLost = true;
    const start = Math.max(offset, this.base);
    const end = offset + length;
    if (end <= start) return;
    this.lost.add(start, end - 1);
    // Parts acknowledged through another copy need no retransmission.
    for (let i = 0; i < this.acked.size; i++) {
      const s = this.acked.startAt(i);
      if (s >= end) break;
      const e = this.acked.endAt(i);
      if (e >= start) this.lost.subtract(s, e);
    }
  }

  /**
   * Abandons the stream (RESET_STREAM, RFC 9000 §19.4): frees the data and returns the final
   * size to send, i.e. the amount of data sent so far.
   */
  reset(): number {
    if (!this.isReset) {
      this.isReset = true;
      this.release(this.written);
      this.lost.clear();
      this.acked.clear();
    }
    return this.sentOffset;
  }

  /** Drops chunks wholly below `newBase`. */
  private release(newBase: number): void {
    this.base = newBase;
    let h = this.head;
    const n = this.chunks.length;
    while (h < n && this.starts[h] + this.chunks[h]!.length <= newBase) {
      this.chunks[h] = undefined;
      h++;
    }
    this.head = h;
    if (h === n) {
      this.chunks.length = 0;
      this.starts.length = 0;
      this.head = 0;
    } else if (h > 64 && h * 2 > n) {
      this.chunks.splice(0, h);
      this.starts.splice(0, h);
      this.head = 0;
    }
  }

  /** Index of the chunk holding `offset`. */
  private chunkIndex(offset: number): number {
    let lo = this.head;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Bytes [start, end) as a view, or a copy when they span several writes. */
  private slice(start: number, end: number): Uint8Array {
    if (end <= start) return new Uint8Array(0);
    let i = this.chunkIndex(start);
    let c = this.chunks[i]!;
    let rel = start - this.starts[i];
    if (end - this.starts[i] <= c.length) return c.subarray(rel, end - this.starts[i]);
    const out = Buffer.allocUnsafe(end - start);
    let pos = 0;
    while (pos < out.length) {
      const n = Math.min(c.length - rel, out.length - pos);
      out.set(c.subarray(rel, rel + n), pos);
      pos += n;
      c = this.chunks[++i]!;
      rel = 0;
    }
    return out;
  }
}

/**
 * What the streams of a connection hold for sending (written, not yet acknowledged), all
 * together, and the memory that allows. Up to `guaranteed` bytes are the connection's own;
 * beyond, up to `max`, each byte is borrowed from the endpoint's pool (WindowPool in
 * flow-control.ts) when written and given back as soon as it is acknowledged or dropped. Only
 * data the peer granted credit for may borrow: a writer's head start beyond the peer's
 * MAX_(STREAM_)DATA (RFC 9000 §4.1) comes from the guaranteed share, so a peer that grants
 * nothing holds at most that share, however many streams it opens; a fast connection still
 * gets its large buffer while the pool lasts. Without a pool, all of `max` is the
 * connection's own.
 */
export class SendBudget {
  /** Bytes held over all streams. */
  held = 0;
  private pool: WindowPool | undefined;

  constructor(
    readonly guaranteed: number,
    readonly max: number,
    pool?: WindowPool,
  ) {
    this.pool = pool;
  }

  /** Bytes borrowed from the pool now: all that is held beyond the guaranteed share (add()
   * accepts no more beyond it than the pool lent). */
  get pooled(): number {
    return this.pool ? Math.max(0, this.held - this.guaranteed) : 0;
  }

  /** Bytes that may be added now, `granted` of them within the peer's credit. */
  room(granted: number): number {
    const free = this.max - this.held;
    if (!this.pool) return Math.max(0, free);
    const own = Math.max(0, this.guaranteed - this.held);
    return Math.max(0, Math.min(free, Math.max(own, Math.min(granted, own + this.pool.available))));
  }

  /** Adds up to `n` bytes, `granted` of them within the peer's credit, borrowing what goes
   * beyond the guaranteed share; returns how many were accepted (fewer when the pool, which
   * then counts a refusal, lends less). */
  add(n: number, granted: number): number {
    let ok = Math.max(0, Math.min(n, this.max - this.held));
    const own = Math.max(0, this.guaranteed - this.held);
    if (this.pool && ok > own) ok = own + this.pool.take(Math.max(0, Math.min(ok, granted) - own));
    this.held += ok;
    return ok;
  }

  /** `n` bytes were acknowledged or dropped: what they borrowed goes back to the pool. */
  free(n: number): void {
    const before = this.pooled;
    this.held -= n;
    if (this.pool && before > this.pooled) this.pool.give(before - this.pooled);
  }

  /** Everything is dropped (the connection is gone): the borrowed bytes go back; nothing is
   * borrowed any more. Idempotent. */
  release(): void {
    this.free(this.held);
    this.pool = undefined;
  }
}
