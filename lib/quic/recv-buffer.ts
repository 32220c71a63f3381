/**
 * Receive side of a stream or CRYPTO stream: out-of-order reassembly (RFC 9000 §2.2) into
 * ordered reads. Segments are stored as views of the frames' data (set `copy` if the caller
 * reuses its datagram buffers) and read out as Buffer views without copying. Memory is
 * bounded by the flow-control limit (streams) or a buffer bound (CRYPTO, RFC 9000 §7.5) and
 * by a cap on the number of gaps.
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
}

/**
 * Frames shorter than this are copied (and coalesced with adjacent copied data) instead of
 * kept as views: a view pins its whole datagram, so tiny frames would multiply memory.
 */
const COPY_BELOW = 1024;
/** Largest backing buffer grown for coalesced small frames. */
const MAX_COALESCE = 64 * 1024;

export class RecvBuffer {
  /** Flow-control limit (absolute offset). */
  limit: number;
  readonly cryptoBufferLimit: number;
  readonly maxGaps: number;
  private readonly copy: boolean;
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
  private discarding = false;

  constructor(options: RecvBufferOptions = {}) {
    this.limit = options.limit ?? Infinity;
    this.cryptoBufferLimit = options.cryptoBufferLimit ?? Infinity;
    this.maxGaps = options.maxGaps ?? 1024;
    this.copy = options.copy ?? false;
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

  /** Bytes held in memory. */
  get bufferedBytes(): number {
    let n = 0;
    for (let i = this.head; i < this.datas.length; i++) n += this.datas[i].length;
    return n;
  }

  /** All data up to the final size was read (RFC 9000 §3.2 "Data Read"). */
  get finished(): boolean {
    return this.finalSize >= 0 && this.readOffset === this.finalSize;
  }

  /** Contiguous bytes readable now. */
  get readableBytes(): number {
    let pos = this.readOffset;
    for (let i = this.head; i < this.offsets.length && this.offsets[i] === pos; i++) {
      pos += this.datas[i].length;
    }
    return pos - this.readOffset;
  }

  /**
   * A STREAM/CRYPTO frame arrived. Returns 0, or an RFC 9000 §20.1 code: FINAL_SIZE_ERROR
   * (§4.5), FLOW_CONTROL_ERROR (§4.1), CRYPTO_BUFFER_EXCEEDED (§7.5), PROTOCOL_VIOLATION
   * (more than maxGaps holes). Duplicate and overlapping data is ignored.
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

    let buf = toBuffer(data);
    if (offset < this.readOffset) {
      buf = buf.subarray(this.readOffset - offset);
      offset = this.readOffset;
    }
    const n = this.offsets.length;
    // Fast path: in-order append after the last segment.
    if (n === this.head || offset >= this.offsets[n - 1] + this.datas[n - 1].length) {
      return this.place(n, offset, buf) ? 0 : PROTOCOL_VIOLATION;
    }
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
      if (!this.place(i, cur, buf.subarray(cur - offset, stop - offset))) {
        return PROTOCOL_VIOLATION;
      }
      if (this.offsets.length > before) i++;
      cur = stop;
    }
    return 0;
  }

  /**
   * Stores `piece` (which fills part of the hole before segment i) at `offset`: appended to
   * the previous copied segment when adjacent, copied when small, else kept as a view.
   * Returns false if that would exceed maxGaps.
   */
  private place(i: number, offset: number, piece: Buffer): boolean {
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
    if (gaps > this.maxGaps) return false;
    this.gapCount = gaps;

    if (!this.copy && piece.length >= COPY_BELOW) {
      this.insertAt(i, offset, piece, null);
      return true;
    }
    // Copy, coalescing with the previous copied segment when adjacent.
    if (i > head && prevEnd === offset && this.backs[i - 1] !== null) {
      const back = this.backs[i - 1]!;
      const cur = this.datas[i - 1];
      const used = cur.byteOffset - back.byteOffset + cur.length;
      if (used + piece.length <= back.length) {
        piece.copy(back, used);
        this.datas[i - 1] = back.subarray(used - cur.length, used + piece.length);
        return true;
      }
      if (cur.length + piece.length <= MAX_COALESCE) {
        // Grow geometrically (amortised O(1) copying per byte), keeping unread data only.
        const size = Math.min(MAX_COALESCE, Math.max(2 * (cur.length + piece.length), 256));
        const grown = Buffer.allocUnsafe(size);
        cur.copy(grown, 0);
        piece.copy(grown, cur.length);
        this.backs[i - 1] = grown;
        this.datas[i - 1] = grown.subarray(0, cur.length + piece.length);
        return true;
      }
    }
    const back = Buffer.allocUnsafe(piece.length);
    piece.copy(back);
    this.insertAt(i, offset, back, back);
    return true;
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
    return this.highestOffset - this.readOffset;
  }
}

const EMPTY = Buffer.alloc(0);

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}
