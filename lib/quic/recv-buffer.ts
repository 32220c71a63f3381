/**
 * Receive side of a stream or CRYPTO stream: out-of-order reassembly (RFC 9000 §2.2) into
 * ordered reads. Large pieces are stored as views of the frames' data (set `copy` if the
 * caller reuses its datagram buffers), small ones copied, and read out as Buffer views without
 * copying. Memory is bounded by the flow-control limit (streams) or a buffer bound (CRYPTO,
 * RFC 9000 §7.5), by a cap on the number of gaps, and, for the streams of a connection, by a
 * shared ReassemblyBudget on out-of-order state.
 */

import { TransportError } from './errors.js';

/** RFC 9000 §20.1 codes returned by insert()/reset() (0 = fine). */
const { FLOW_CONTROL_ERROR, FINAL_SIZE_ERROR, PROTOCOL_VIOLATION, CRYPTO_BUFFER_EXCEEDED } =
  TransportError;

/** RFC 9000 §19.8: offsets (offset + length) cannot exceed 2^62 - 1. */
const MAX_OFFSET = 2 ** 62 - 1;

export interface RecvBufferOptions {
  /** Absolute flow-control limit (stream: our MAX_STREAM_DATA); update via `limit`. */
  limit?: number;
  /**
   * CRYPTO streams: bytes beyond the read offset that may be buffered (RFC 9000 §7.5: at
   * least 4096); exceeding it is CRYPTO_BUFFER_EXCEEDED.
   */
  cryptoBufferLimit?: number;
  /** Maximum holes in the received data; more is refused as PROTOCOL_VIOLATION. */
  maxGaps?: number;
  /** Copy all inserted data (when the caller reuses its receive buffers). */
  copy?: boolean;
  /** Out-of-order state allowed across several buffers (the streams of a connection). */
  budget?: ReassemblyBudget;
  /** Where the buffer starts: everything below was received and read (a buffer created again
   * for a stream whose earlier one was let go when empty). */
  offset?: number;
}

/**
 * What insert() returns when (part of) a frame was not stored because it would open more holes
 * than its ReassemblyBudget allows. Not an error: the peer retransmits data
 * that is never acknowledged (RFC 9000 §13.3), and flow control already counted it.
 */
export const DROPPED = -1;

/**
 * Out-of-order state (RFC 9000 §2.2) shared by the receive buffers of one connection: holes
 * and bytes held beyond each buffer's contiguous data. Flow control bounds the bytes a peer
 * may send, but not how finely it fragments them: each hole costs bookkeeping well beyond
 * its bytes, so a frame that would open a hole beyond maxRanges is dropped. Bytes beyond
 * maxBytes are copied, never kept as views of their datagrams: memory then follows the
 * credit granted, and data within it is never refused for its bytes. (Refusing it would
 * stall the connection: after a loss, every packet beyond the hole would go unacknowledged,
 * and a sender that learns of losses only from ACKs above them would never resend the
 * missing data.) Data that arrives in order is always accepted.
 */
export class ReassemblyBudget {
  /** Holes now, over all buffers. */
  ranges = 0;
  /** Bytes held beyond the contiguous data now, over all buffers. */
  bytes = 0;
  /** Frames (or parts) not stored because the budget was exhausted. */
  dropped = 0;

  constructor(
    readonly maxRanges: number,
    readonly maxBytes: number,
  ) {}
}

/**
 * Frames shorter than this are copied (and coalesced with adjacent copied data) instead of
 * kept as views: a view pins its whole datagram, so tiny frames would multiply memory.
 */
const COPY_BELOW = 1024;
/**
 * A view is kept only if the piece is at least 1/VIEW_SHARE of the memory it pins (its
 * ArrayBuffer), so held memory stays within VIEW_SHARE times the bytes flow control granted.
 * A full-size packet's STREAM frame fills most of its datagram and stays zero-copy; a short
 * frame padded into a jumbo datagram, or one of many datagrams sharing a receive buffer, is
 * copied. (Only the unread remainder of a view read in part can fall below the share.)
 */
const VIEW_SHARE = 4;
/** Largest block copied data is gathered in. */
export const MAX_COALESCE = 64 * 1024;
/** Held copied data shorter than this is copied again to take a next piece in the same
 * segment (one read for many tiny frames); longer data leaves the next piece a block of its
 * own, so no byte is copied twice at speed. */
const MERGE_BELOW = 4096;

export class RecvBuffer {
  /** Flow-control limit (absolute offset). */
  limit: number;
  readonly cryptoBufferLimit: number;
  readonly maxGaps: number;
  private readonly copy: boolean;
  private readonly budget: ReassemblyBudget | undefined;
  /** Bytes delivered to the reader. */
  readOffset = 0;
  /** Highest offset received (end of the furthest frame, RFC 9000 §4.5). */
  highestOffset = 0;
  /** Final size once known (FIN or RESET_STREAM), else -1. */
  finalSize = -1;
  /** Segments, ascending and disjoint: start offset, data view, owned backing (or null). */
  private offsets: number[] = [];
  private datas: Buffer[] = [];
  private backs: (Buffer | null)[] = [];
  private head = 0;
  /** Holes between the read offset and the segments, and between segments. */
  private gapCount = 0;
  /** Bytes held (received, not read). */
  private held = 0;
  /** End of the data contiguous from the read offset (readable now). */
  private contiguousEnd = 0;
  /** What this buffer last counted in the budget: holes and out-of-order bytes. */
  private budgetRanges = 0;
  private budgetBytes = 0;
  private discarding = false;
  /** The block in-order copies go to while it has room (null: none), the bytes of it used,
   * the stream offset its data ends at, and the size of the last block allocated for
   * in-order data (blocks double up to MAX_COALESCE as a stream keeps arriving in order). */
  private tail: Buffer | null = null;
  private tailUsed = 0;
  private tailEnd = -1;
  private block = 0;

  constructor(options: RecvBufferOptions = {}) {
    this.limit = options.limit ?? Infinity;
    this.cryptoBufferLimit = options.cryptoBufferLimit ?? Infinity;
    this.maxGaps = options.maxGaps ?? 1024;
    this.copy = options.copy ?? false;
    this.budget = options.budget;
    this.readOffset = this.highestOffset = this.contiguousEnd = options.offset ?? 0;
    if (!(this.maxGaps >= 1)) throw new RangeError('maxGaps must be >= 1');
  }

  /** Segments held (for diagnostics and memory bounds). */
  get segments(): number {
    return this.offsets.length - this.head;
  }

  /** Holes in the buffered data. */
  get gaps(): number {
    return this.gapCount;
  }

  /** Nothing is held or awaited: every byte received so far was read. */
  get drained(): boolean {
    return this.held === 0 && this.highestOffset === this.readOffset;
  }

  /** Bytes held in memory. */
  get bufferedBytes(): number {
    return this.held;
  }

  /** Bytes held beyond the contiguous data (waiting for a hole to be filled). */
  get outOfOrderBytes(): number {
    return this.held - (this.contiguousEnd - this.readOffset);
  }

  /**
   * Memory the held data keeps alive, at most: a view counts its whole ArrayBuffer (each
   * time), a copy its own backing buffer. For diagnostics and memory bounds; O(segments).
   */
  get retainedBytes(): number {
    let n = 0;
    for (let i = this.head; i < this.datas.length; i++)
      n += (this.backs[i] ?? this.datas[i]).buffer.byteLength;
    return n;
  }

  /** All data up to the final size was read (RFC 9000 §3.2 "Data Read"). */
  get finished(): boolean {
    return this.finalSize >= 0 && this.readOffset === this.finalSize;
  }

  /** Contiguous bytes readable now. */
  get readableBytes(): number {
    return this.contiguousEnd - this.readOffset;
  }

  /**
   * A STREAM/CRYPTO frame arrived. Returns 0, or an RFC 9000 §20.1 code: FINAL_SIZE_ERROR
   * (§4.5), FLOW_CONTROL_ERROR (§4.1), CRYPTO_BUFFER_EXCEEDED (§7.5), PROTOCOL_VIOLATION
   * (more than maxGaps holes); or DROPPED (a hole beyond the budget; what fitted is stored).
   * Duplicate and overlapping data is ignored.
   */
  insert(offset: number, data: Uint8Array, fin: boolean = false): number {
    const end = offset + data.length;
    if (!(offset >= 0) || end > MAX_OFFSET) return FLOW_CONTROL_ERROR;
    // §4.5: no data at or beyond a known final size; a FIN cannot change it or go below
    // data already received.
    if (this.finalSize >= 0 && (end > this.finalSize || (fin && end !== this.finalSize))) {
      return FINAL_SIZE_ERROR;
    }
    if (fin && end < this.highestOffset) return FINAL_SIZE_ERROR;
    if (end > this.limit) return FLOW_CONTROL_ERROR;
    if (end - this.readOffset > this.cryptoBufferLimit) return CRYPTO_BUFFER_EXCEEDED;
    if (fin) this.finalSize = end;
    if (end > this.highestOffset) this.highestOffset = end;
    if (end <= this.readOffset || data.length === 0 || this.discarding) return 0;

    // (A Buffer view is made only for a piece kept as a view: copies are taken from `data`.)
    let buf = data;
    if (offset < this.readOffset) {
      buf = buf.subarray(this.readOffset - offset);
      offset = this.readOffset;
    }
    const n = this.offsets.length;
    let result = 0;
    if (n === this.head || offset >= this.offsets[n - 1] + this.datas[n - 1].length) {
      // Fast path: in-order append after the last segment.
      result = this.place(n, offset, buf);
    } else {
      // General case: fill only the holes [cur, next segment) inside [offset, end).
      let i = this.firstEndingAfter(offset);
      let cur = offset;
      while (cur < end) {
        if (i < this.offsets.length && this.offsets[i] <= cur) {
          const segEnd = this.offsets[i] + this.datas[i].length;
          if (segEnd > cur) cur = segEnd;
          i++;
          continue;
        }
        const stop = i < this.offsets.length ? Math.min(this.offsets[i], end) : end;
        const before = this.offsets.length;
        result = this.place(i, cur, buf.subarray(cur - offset, stop - offset));
        if (result !== 0) break;
        if (this.offsets.length > before) i++;
        cur = stop;
      }
    }
    this.syncBudget();
    if (result === DROPPED) this.budget!.dropped++;
    return result;
  }

  /**
   * Stores `piece` (which fills part of the hole before segment i) at `offset`: appended to
   * the previous copied segment when adjacent, copied when small or when a view would pin
   * much more memory than it holds, else kept as a view. Returns 0, PROTOCOL_VIOLATION if
   * that would exceed maxGaps, or DROPPED if it would open a hole beyond the budget.
   */
  private place(i: number, offset: number, piece: Uint8Array): number {
    const head = this.head;
    const prevEnd = i > head ? this.offsets[i - 1] + this.datas[i - 1].length : this.readOffset;
    const hasNext = i < this.offsets.length;
    const end = offset + piece.length;
    // The hole [prevEnd, next start) becomes up to two holes.
    const gaps =
      this.gapCount -
      (hasNext ? 1 : 0) +
      (prevEnd !== offset ? 1 : 0) +
      (hasNext && end !== this.offsets[i] ? 1 : 0);
    if (gaps > this.maxGaps) return PROTOCOL_VIOLATION;
    const b = this.budget;
    let copy = this.copy;
    if (b && offset > this.contiguousEnd) {
      // Out of order: within the connection's budget (RFC 9000 §2.2 leaves the bound to us).
      const ranges = b.ranges - this.budgetRanges + gaps;
      if (gaps > this.gapCount && ranges > b.maxRanges) return DROPPED;
      const bytes = b.bytes - this.budgetBytes + this.outOfOrderBytes + piece.length;
      if (bytes > b.maxBytes) copy = true;
    }
    this.gapCount = gaps;
    this.held += piece.length;
    this.store(i, offset, piece, copy);
    if (offset === this.contiguousEnd) this.extendContiguous();
    return 0;
  }

  /** Keeps `piece` as a view, or copies it (coalescing with an adjacent copied segment). */
  private store(i: number, offset: number, piece: Uint8Array, copy: boolean): void {
    if (
      !copy &&
      piece.length >= COPY_BELOW &&
      piece.length * VIEW_SHARE >= piece.buffer.byteLength
    ) {
      this.insertAt(i, offset, toBuffer(piece), null);
      return;
    }
    // Copies get their own memory: a slice of Node's shared pool would pin a whole pool slab.
    const prev = i - 1;
    const end = offset + piece.length;
    const prevHeld =
      i > this.head &&
      this.offsets[prev] + this.datas[prev].length === offset &&
      this.backs[prev] !== null;
    const tail = this.tail;
    if (tail !== null && offset === this.tailEnd && this.tailUsed + piece.length <= tail.length) {
      // In order (the common case): into the room left in the last block, extending the
      // previous segment when that is this block's data, still held.
      const at = this.tailUsed;
      tail.set(piece, at);
      if (prevHeld && this.backs[prev] === tail)
        this.datas[prev] = tail.subarray(at - this.datas[prev].length, at + piece.length);
      else this.insertAt(i, offset, tail.subarray(at, at + piece.length), tail);
      this.setTail(tail, at + piece.length, end);
      return;
    }
    if (prevHeld && this.datas[prev].length < MERGE_BELOW) {
      // Grow the previous segment's copy geometrically (amortised O(1) copying per byte),
      // keeping unread data only.
      const cur = this.datas[prev];
      const n = cur.length + piece.length;
      const grown = Buffer.allocUnsafeSlow(Math.min(MAX_COALESCE, Math.max(2 * n, 256)));
      grown.set(cur, 0);
      grown.set(piece, cur.length);
      this.backs[prev] = grown;
      this.datas[prev] = grown.subarray(0, n);
      this.block = grown.length;
      this.setTail(grown, n, end);
      return;
    }
    // A block of its own: the exact size for a first or out-of-order piece. Data continuing
    // the last block gets one as large (up to MAX_COALESCE), twice as large while unread
    // data piles up: a stream read as fast as it arrives keeps exact-size copies.
    let size = piece.length;
    if (offset === this.tailEnd) {
      size = Math.min(MAX_COALESCE, Math.max(size, prevHeld ? 2 * this.block : this.block));
      this.block = size;
    }
    const back = Buffer.allocUnsafeSlow(size);
    back.set(piece, 0);
    this.insertAt(i, offset, size > piece.length ? back.subarray(0, piece.length) : back, back);
    this.setTail(back, piece.length, end);
  }

  /** The last block copied to: kept while it has room (a full one is not held for nothing). */
  private setTail(block: Buffer, used: number, end: number): void {
    this.tail = used < block.length ? block : null;
    this.tailUsed = used;
    this.tailEnd = end;
  }

  /** Moves contiguousEnd over the segments now adjacent to it (data was stored there). */
  private extendContiguous(): void {
    let ce = this.contiguousEnd;
    for (let j = this.firstEndingAfter(ce); j < this.offsets.length && this.offsets[j] <= ce; j++)
      ce = this.offsets[j] + this.datas[j].length;
    this.contiguousEnd = ce;
  }

  /** Brings the budget up to date with this buffer's holes and out-of-order bytes. */
  private syncBudget(): void {
    const b = this.budget;
    if (!b) return;
    const bytes = this.outOfOrderBytes;
    b.ranges += this.gapCount - this.budgetRanges;
    b.bytes += bytes - this.budgetBytes;
    this.budgetRanges = this.gapCount;
    this.budgetBytes = bytes;
  }

  private insertAt(i: number, offset: number, data: Buffer, back: Buffer | null): void {
    if (i === this.offsets.length) {
      this.offsets.push(offset);
      this.datas.push(data);
      this.backs.push(back);
    } else {
      this.offsets.splice(i, 0, offset);
      this.datas.splice(i, 0, data);
      this.backs.splice(i, 0, back);
    }
  }

  /** Index of the first segment ending after `offset`. */
  private firstEndingAfter(offset: number): number {
    let lo = this.head;
    let hi = this.offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid] + this.datas[mid].length <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Next contiguous bytes (a view, at most `max`), or null if none are ready. The view stays
   * valid (the buffer forgets it).
   */
  read(max: number = Infinity): Buffer | null {
    if (this.head === this.offsets.length || this.offsets[this.head] !== this.readOffset) {
      return null;
    }
    let data = this.datas[this.head];
    if (max < data.length) {
      if (!(max > 0)) return null;
      this.datas[this.head] = data.subarray(max);
      this.offsets[this.head] += max;
      data = data.subarray(0, max);
    } else {
      this.shift();
    }
    this.readOffset += data.length;
    this.held -= data.length;
    return data;
  }

  private shift(): void {
    // Drop the references so the memory can be freed; compact lazily.
    this.datas[this.head] = EMPTY;
    this.backs[this.head] = null;
    this.head++;
    const n = this.offsets.length;
    if (this.head === n) {
      this.offsets.length = 0;
      this.datas.length = 0;
      this.backs.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > n) {
      this.offsets.splice(0, this.head);
      this.datas.splice(0, this.head);
      this.backs.splice(0, this.head);
      this.head = 0;
    }
  }

  /**
   * RESET_STREAM with `finalSize` received (RFC 9000 §4.5, §19.4): returns 0 or
   * FINAL_SIZE_ERROR / FLOW_CONTROL_ERROR; buffered data is dropped.
   */
  reset(finalSize: number): number {
    if (!(finalSize >= 0) || finalSize > MAX_OFFSET) return FLOW_CONTROL_ERROR;
    if (this.finalSize >= 0 && finalSize !== this.finalSize) return FINAL_SIZE_ERROR;
    if (finalSize < this.highestOffset) return FINAL_SIZE_ERROR;
    if (finalSize > this.limit) return FLOW_CONTROL_ERROR;
    this.finalSize = finalSize;
    this.highestOffset = finalSize;
    this.discard();
    return 0;
  }

  /**
   * Drops buffered data and ignores further data (after STOP_SENDING or a reset), still
   * checking sizes. Returns the bytes dropped that were never read (to credit as consumed).
   */
  discard(): number {
    this.discarding = true;
    this.offsets.length = 0;
    this.datas.length = 0;
    this.backs.length = 0;
    this.head = 0;
    this.gapCount = 0;
    this.held = 0;
    this.contiguousEnd = this.readOffset;
    this.tail = null;
    this.syncBudget();
    return this.highestOffset - this.readOffset;
  }
}

const EMPTY = Buffer.alloc(0);

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}
