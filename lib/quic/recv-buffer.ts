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
  /** Maximum out-of-order segments held; more is refused as PROTOCOL_VIOLATION. */
  maxSegments?: number;
  /** Copy inserted data (when the caller reuses its receive buffers). */
  copy?: boolean;
}

export class RecvBuffer {
  /** Flow-control limit (absolute offset). */
  limit: number;
  readonly cryptoBufferLimit: number;
  readonly maxSegments: number;
  private readonly copy: boolean;
  /** Bytes delivered to the reader. */
  readOffset = 0;
  /** Highest offset received (end of the furthest frame, RFC 9000 §4.5). */
  highestOffset = 0;
  /** Final size once known (FIN or RESET_STREAM), else -1. */
  finalSize = -1;
  private offsets: number[] = [];
  private datas: Buffer[] = [];
  private head = 0;
  private discarding = false;

  constructor(options: RecvBufferOptions = {}) {
    this.limit = options.limit ?? Infinity;
    this.cryptoBufferLimit = options.cryptoBufferLimit ?? Infinity;
    this.maxSegments = options.maxSegments ?? 1024;
    this.copy = options.copy ?? false;
    if (!(this.maxSegments >= 1)) throw new RangeError('maxSegments must be >= 1');
  }

  /** Out-of-order segments held (for diagnostics and memory bounds). */
  get segments(): number {
    return this.offsets.length - this.head;
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
   * (too many gaps). Duplicate and overlapping data is ignored.
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
      if (n - this.head >= this.maxSegments) return PROTOCOL_VIOLATION;
      this.push(n, offset, buf);
      return 0;
    }
    // General case: fill only the gaps [cur, next segment) inside [offset, end).
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
      if (this.offsets.length - this.head >= this.maxSegments) return PROTOCOL_VIOLATION;
      this.push(i, cur, buf.subarray(cur - offset, stop - offset));
      i++;
      cur = stop;
    }
    return 0;
  }

  private push(i: number, offset: number, buf: Buffer): void {
    const data = this.copy ? Buffer.from(buf) : buf;
    if (i === this.offsets.length) {
      this.offsets.push(offset);
      this.datas.push(data);
    } else {
      this.offsets.splice(i, 0, offset);
      this.datas.splice(i, 0, data);
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
    // Drop the reference so the memory can be freed; compact lazily.
    this.datas[this.head] = EMPTY;
    this.head++;
    const n = this.offsets.length;
    if (this.head === n) {
      this.offsets.length = 0;
      this.datas.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > n) {
      this.offsets.splice(0, this.head);
      this.datas.splice(0, this.head);
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
    this.head = 0;
    return this.highestOffset - this.readOffset;
  }
}

const EMPTY = Buffer.alloc(0);

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
}
