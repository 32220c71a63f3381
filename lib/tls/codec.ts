// Bounds-checked readers and writers for the TLS presentation language (RFC 8446 §3).
// A Reader only ever throws TlsAlert(decode_error): its input comes from the peer.

import { TlsAlert } from './alerts.js';

export class Reader {
  pos: number;
  readonly end: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) throw new TlsAlert('decode_error', `truncated ${what}`);
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }
  u16(what = 'u16'): number {
    this.need(2, what);
    const b = this.buf;
    const v = (b[this.pos]! << 8) | b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }
  u24(what = 'u24'): number {
    this.need(3, what);
    const b = this.buf;
    const v = (b[this.pos]! << 16) | (b[this.pos + 1]! << 8) | b[this.pos + 2]!;
    this.pos += 3;
    return v;
  }
  u32(what = 'u32'): number {
    this.need(4, what);
    const b = this.buf;
    const v =
      ((b[this.pos]! << 24) |
        (b[this.pos + 1]! << 16) |
        (b[this.pos + 2]! << 8) |
        b[this.pos + 3]!) >>>
      0;
    this.pos += 4;
    return v;
  }
  /** A view (no copy) of the next n bytes. */
  bytes(n: number, what = 'bytes'): Buffer {
    this.need(n, what);
    const v = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return v;
  }
  vec8(what = 'vector', min = 0): Buffer {
    return this.checkMin(this.bytes(this.u8(what), what), min, what);
  }
  vec16(what = 'vector', min = 0): Buffer {
    return this.checkMin(this.bytes(this.u16(what), what), min, what);
  }
  vec24(what = 'vector', min = 0): Buffer {
    return this.checkMin(this.bytes(this.u24(what), what), min, what);
  }
  private checkMin(v: Buffer, min: number, what: string): Buffer {
    if (v.length < min) throw new TlsAlert('decode_error', `${what} too short`);
    return v;
  }
  /** A sub-reader over a u16-length-prefixed vector. */
  sub16(what = 'vector', min = 0): Reader {
    const v = this.vec16(what, min);
    return new Reader(v);
  }
  sub8(what = 'vector', min = 0): Reader {
    return new Reader(this.vec8(what, min));
  }
  sub24(what = 'vector', min = 0): Reader {
    return new Reader(this.vec24(what, min));
  }
  /** Reads a vector of u16 values (u16 length prefix, even length). */
  u16List(what: string, min = 0): number[] {
    const v = this.vec16(what, min);
    if (v.length & 1) throw new TlsAlert('decode_error', `odd length ${what}`);
    const out: number[] = [];
    for (let i = 0; i < v.length; i += 2) out.push((v[i]! << 8) | v[i + 1]!);
    return out;
  }
  expectEnd(what: string): void {
    if (this.pos !== this.end) throw new TlsAlert('decode_error', `trailing bytes in ${what}`);
  }
}

/** Growable writer with length-prefixed vector helpers. */
export class Writer {
  private buf: Buffer;
  pos = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }
  u24(v: number): this {
    this.room(3);
    this.buf.writeUIntBE(v & 0xffffff, this.pos, 3);
    this.pos += 3;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  private vec(lenBytes: number, fill: (w: this) => void): this {
    this.room(lenBytes);
    const at = this.pos;
    this.pos += lenBytes;
    fill(this);
    const len = this.pos - at - lenBytes;
    if (len >= 2 ** (8 * lenBytes)) throw new RangeError(`vector of ${len} bytes too long`);
    this.buf.writeUIntBE(len, at, lenBytes);
    return this;
  }
  vec8(fill: Uint8Array | ((w: this) => void)): this {
    return this.vec(1, typeof fill === 'function' ? fill : (w) => w.bytes(fill));
  }
  vec16(fill: Uint8Array | ((w: this) => void)): this {
    return this.vec(2, typeof fill === 'function' ? fill : (w) => w.bytes(fill));
  }
  vec24(fill: Uint8Array | ((w: this) => void)): this {
    return this.vec(3, typeof fill === 'function' ? fill : (w) => w.bytes(fill));
  }
  u16List(values: readonly number[]): this {
    return this.vec16((w) => {
      for (const v of values) w.u16(v);
    });
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
