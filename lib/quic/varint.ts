// Variable-length integers (RFC 9000 §16) and the byte cursor every wire decoder reads with.
// Decoders read peer input: they throw only QuicError, never RangeError from a bad offset.
import { FRAME_ENCODING_ERROR, QuicError } from './errors.js';

/** 2^62: every varint is below it (§16). Values are JS numbers, exact up to 2^53. */
export const VARINT_LIMIT = 2 ** 62;
export const MAX_VARINT = VARINT_LIMIT - 1;

const TWO32 = 2 ** 32;

/** Bytes the shortest encoding of v takes (§16 table 4). */
export function varintLength(v: number): 1 | 2 | 4 | 8 {
  if (v < 0x40) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x40000000) return 4;
  return 8;
}

function badVarint(v: number): never {
  throw new RangeError(`varint value must be an integer in [0, 2^62), got ${v}`);
}

/** Writes v at buf[off] with its shortest encoding; returns the offset after it. */
export function writeVarint(buf: Uint8Array, off: number, v: number): number {
  if (v < 0x40 && v >= 0) {
    if (v !== Math.floor(v)) badVarint(v);
    buf[off] = v;
    return off + 1;
  }
  return writeVarintN(buf, off, v, varintLength(v));
}

/** Writes v with exactly `len` bytes (1, 2, 4 or 8; §16 allows non-minimal encodings). */
export function writeVarintN(buf: Uint8Array, off: number, v: number, len: number): number {
  if (!(v >= 0 && v < VARINT_LIMIT) || v !== Math.floor(v)) badVarint(v);
  if (varintLength(v) > len) throw new RangeError(`varint ${v} does not fit in ${len} bytes`);
  if (off < 0 || off + len > buf.length) throw new RangeError('varint does not fit the buffer');
  switch (len) {
    case 1:
      buf[off] = v;
      break;
    case 2:
      buf[off] = 0x40 | (v >>> 8);
      buf[off + 1] = v & 0xff;
      break;
    case 4:
      buf[off] = 0x80 | (v >>> 24);
      buf[off + 1] = (v >>> 16) & 0xff;
      buf[off + 2] = (v >>> 8) & 0xff;
      buf[off + 3] = v & 0xff;
      break;
    case 8: {
      const hi = Math.floor(v / TWO32);
      const lo = v - hi * TWO32;
      buf[off] = 0xc0 | (hi >>> 24);
      buf[off + 1] = (hi >>> 16) & 0xff;
      buf[off + 2] = (hi >>> 8) & 0xff;
      buf[off + 3] = hi & 0xff;
      buf[off + 4] = lo >>> 24;
      buf[off + 5] = (lo >>> 16) & 0xff;
      buf[off + 6] = (lo >>> 8) & 0xff;
      buf[off + 7] = lo & 0xff;
      break;
    }
    default:
      throw new RangeError('varint length must be 1, 2, 4 or 8');
  }
  return off + len;
}

/**
 * A bounds-checked cursor over buf[pos, end). Every read past `end` throws a QuicError with
 * the cursor's error code (FRAME_ENCODING_ERROR unless told otherwise).
 */
export class Reader {
  buf: Uint8Array;
  pos: number;
  end: number;
  code: number;

  constructor(buf: Uint8Array, pos = 0, end = buf.length, code: number = FRAME_ENCODING_ERROR) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.code = code;
  }

  /** Points the cursor at another range (reuses the object on the data path). */
  reset(buf: Uint8Array, pos: number, end: number): this {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    return this;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(message: string): never {
    throw new QuicError(this.code, message);
  }

  u8(what: string): number {
    if (this.pos >= this.end) this.fail(`truncated ${what}`);
    return this.buf[this.pos++]!;
  }

  u32(what: string): number {
    const p = this.pos;
    if (p + 4 > this.end) this.fail(`truncated ${what}`);
    const b = this.buf;
    this.pos = p + 4;
    return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
  }

  u16(what: string): number {
    const p = this.pos;
    if (p + 2 > this.end) this.fail(`truncated ${what}`);
    this.pos = p + 2;
    return (this.buf[p]! << 8) | this.buf[p + 1]!;
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number, what: string): Uint8Array {
    const p = this.pos;
    if (n > this.end - p) this.fail(`truncated ${what}`);
    this.pos = p + n;
    return this.buf.subarray(p, p + n);
  }

  skip(n: number, what: string): void {
    if (n > this.end - this.pos) this.fail(`truncated ${what}`);
    this.pos += n;
  }

  /** RFC 9000 §16 / A.1. Values above 2^53 are rounded up to a double (no connection
   * reaches them; limit checks stay conservative). */
  varint(what: string): number {
    const b = this.buf;
    const p = this.pos;
    if (p >= this.end) this.fail(`truncated ${what}`);
    const first = b[p]!;
    switch (first >> 6) {
      case 0:
        this.pos = p + 1;
        return first;
      case 1:
        if (p + 2 > this.end) this.fail(`truncated ${what}`);
        this.pos = p + 2;
        return ((first & 0x3f) << 8) | b[p + 1]!;
      case 2:
        if (p + 4 > this.end) this.fail(`truncated ${what}`);
        this.pos = p + 4;
        return (((first & 0x3f) << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
      default: {
        if (p + 8 > this.end) this.fail(`truncated ${what}`);
        this.pos = p + 8;
        const hi =
          (((first & 0x3f) << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
        const lo = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
        const v = hi * TWO32 + lo;
        // Above 2^53 a double cannot hold every integer: round up, never down, so that limit
        // checks (e.g. MAX_STREAMS > 2^60, §19.11) still reject every value beyond the limit.
        return v - hi * TWO32 < lo ? v + 2 ** (Math.floor(Math.log2(v)) - 52) : v;
      }
    }
  }
}

/** Decodes one varint from buf[off] (RFC 9000 A.1); throws QuicError if truncated. */
export function readVarint(buf: Uint8Array, off = 0): { value: number; length: number } {
  const r = new Reader(buf, off);
  const value = r.varint('varint');
  return { value, length: r.pos - off };
}
