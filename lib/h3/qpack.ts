// QPACK (RFC 9204) with a dynamic table of capacity 0: we advertise
// SETTINGS_QPACK_MAX_TABLE_CAPACITY 0 and SETTINGS_QPACK_BLOCKED_STREAMS 0, so field sections
// use only the static table and literals (Required Insert Count 0), and the peer's encoder and
// decoder streams can carry nothing but a few no-op instructions.
import { H3, H3Error } from './errors.js';
import { huffmanDecode, huffmanEncode, huffmanLength } from './qpack/huffman.js';
import { STATIC_EXACT, STATIC_NAME, STATIC_TABLE } from './qpack/static-table.js';

export type Field = readonly [name: string, value: string];

/** RFC 9114 §4.2.2: a field line's size is name + value + 32. */
export function fieldSectionSize(fields: readonly Field[]): number {
  let size = 0;
  for (const [n, v] of fields) size += n.length + v.length + 32;
  return size;
}

// ------------------------------------------------------------ prefixed integers (RFC 7541 §5.1)

/** Writes `v` with an N-bit prefix; `flags` holds the bits above the prefix. */
export function writePrefixInt(
  out: Uint8Array,
  off: number,
  v: number,
  n: number,
  flags: number,
): number {
  const max = (1 << n) - 1;
  if (v < max) {
    out[off++] = flags | v;
    return off;
  }
  out[off++] = flags | max;
  v -= max;
  while (v >= 128) {
    out[off++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  out[off++] = v;
  return off;
}

/** Bytes writePrefixInt takes. */
export function prefixIntLength(v: number, n: number): number {
  const max = (1 << n) - 1;
  if (v < max) return 1;
  let len = 2;
  for (v -= max; v >= 128; v = Math.floor(v / 128)) len++;
  return len;
}

/** Result of readPrefixInt: the value and the offset after it; `next` -1 when the input ends
 * first. Kept in one object to avoid an allocation per integer. */
const int = { value: 0, next: 0 };

/** Reads an N-bit-prefix integer at buf[off]; values above 2^53 - 1 are an error `code`. */
export function readPrefixInt(buf: Uint8Array, off: number, n: number, code: number): typeof int {
  if (off >= buf.length) return ((int.next = -1), int);
  const max = (1 << n) - 1;
  let v = buf[off++]! & max;
  if (v === max) {
    let scale = 1;
    for (;;) {
      if (off >= buf.length) return ((int.next = -1), int);
      const b = buf[off++]!;
      v += (b & 127) * scale;
      if (v > Number.MAX_SAFE_INTEGER) throw new H3Error(code, 'integer too large');
      if ((b & 128) === 0) break;
      scale *= 128;
    }
  }
  int.value = v;
  int.next = off;
  return int;
}

// ------------------------------------------------------------------- field sections (§4.5)

export interface EncodeOptions {
  /** Huffman-code strings when that is shorter (default true). */
  huffman?: boolean;
}

const latin1 = (s: string): Uint8Array => Buffer.from(s, 'latin1');

/** Encodes a field section: prefix (Required Insert Count 0, Base 0), then per field an indexed
 * static line, a literal with a static name reference, or a literal with a literal name. Names
 * and values are byte strings (latin1). */
export function encodeFieldSection(fields: readonly Field[], opts: EncodeOptions = {}): Uint8Array {
  const huff = opts.huffman !== false;
  const parts: { hdr: number; idx: number; name?: Uint8Array; value?: Uint8Array }[] = [];
  let size = 2;
  const strLen = (b: Uint8Array, n: number): number => {
    const h = huff ? huffmanLength(b) : Infinity;
    const l = Math.min(h, b.length);
    return prefixIntLength(l, n) + l;
  };
  for (const [name, value] of fields) {
    const exact = STATIC_EXACT.get(`${name}\0${value}`);
    if (exact !== undefined) {
      parts.push({ hdr: 0xc0, idx: exact }); // §4.5.2 indexed, T=1 (static)
      size += prefixIntLength(exact, 6);
      continue;
    }
    const v = latin1(value);
    const ref = STATIC_NAME.get(name);
    if (ref !== undefined) {
      parts.push({ hdr: 0x50, idx: ref, value: v }); // §4.5.4 N=0, T=1
      size += prefixIntLength(ref, 4) + strLen(v, 7);
    } else {
      const nm = latin1(name);
      parts.push({ hdr: 0x20, idx: -1, name: nm, value: v }); // §4.5.6 N=0
      size += strLen(nm, 3) + strLen(v, 7);
    }
  }
  const out = new Uint8Array(size);
  out[0] = 0; // Required Insert Count 0
  out[1] = 0; // S=0, Delta Base 0
  let off = 2;
  const writeStr = (b: Uint8Array, n: number, flags: number): void => {
    const h = huff ? huffmanLength(b) : Infinity;
    if (h < b.length) {
      off = writePrefixInt(out, off, h, n, flags | (1 << n)); // H bit just above the prefix
      off = huffmanEncode(b, out, off);
    } else {
      off = writePrefixInt(out, off, b.length, n, flags);
      out.set(b, off);
      off += b.length;
    }
  };
  for (const p of parts) {
    if (p.name) writeStr(p.name, 3, p.hdr);
    else off = writePrefixInt(out, off, p.idx, p.hdr === 0xc0 ? 6 : 4, p.hdr);
    if (p.value) writeStr(p.value, 7, 0);
  }
  return off === size ? out : out.subarray(0, off);
}

export interface DecodeLimits {
  /** Most bytes of field lines (RFC 9114 §4.2.2 size), our SETTINGS_MAX_FIELD_SECTION_SIZE. */
  maxSize: number;
  /** Most field lines. */
  maxFields: number;
}

const FAIL = H3.QPACK_DECOMPRESSION_FAILED;

function fail(msg: string): never {
  throw new H3Error(FAIL, msg);
}

function need(r: typeof int): number {
  if (r.next < 0) fail('truncated field section');
  return r.value;
}

/** Decodes an encoded field section (a HEADERS frame payload). Anything referring to the dynamic
 * table is QPACK_DECOMPRESSION_FAILED (our capacity is 0: §2.2.3, §4.5.1.1); a section larger
 * than `limits` is H3_EXCESSIVE_LOAD as a stream error. */
export function decodeFieldSection(buf: Uint8Array, limits: DecodeLimits): Field[] {
  // §4.5.1.1: with MaxEntries 0, an encoded Required Insert Count other than 0 is an error.
  let off = readPrefixInt(buf, 0, 8, FAIL).next;
  if (off < 0) fail('truncated field section prefix');
  if (int.value !== 0) fail('Required Insert Count is not 0 (dynamic table capacity is 0)');
  const sign = buf[off]! & 0x80;
  off = readPrefixInt(buf, off, 7, FAIL).next;
  if (off < 0) fail('truncated field section prefix');
  // §4.5.1.2: S=1 with Required Insert Count <= Delta Base is invalid (negative Base).
  if (sign) fail('negative Base');
  const fields: Field[] = [];
  let size = 0;
  const str = (n: number): string => {
    const huffman = (buf[off]! >> n) & 1;
    const len = need(readPrefixInt(buf, off, n, FAIL));
    off = int.next;
    if (len > buf.length - off) fail('truncated string literal');
    const raw = buf.subarray(off, off + len);
    off += len;
    const room = limits.maxSize - size;
    const bytes = huffman ? huffmanDecode(raw, room) : raw;
    if (bytes.length > room) tooBig();
    size += bytes.length;
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  };
  const tooBig = (): never => {
    throw new H3Error(H3.EXCESSIVE_LOAD, 'field section exceeds the size limit', true);
  };
  while (off < buf.length) {
    if (fields.length === limits.maxFields) tooBig();
    size += 32;
    if (size > limits.maxSize) tooBig();
    const b = buf[off]!;
    let name: string;
    let value: string;
    if (b & 0x80) {
      // §4.5.2 Indexed Field Line: 1 T index(6)
      if (!(b & 0x40)) fail('dynamic table reference');
      const e = STATIC_TABLE[need(readPrefixInt(buf, off, 6, FAIL))];
      if (!e) fail('static table index out of range');
      off = int.next;
      [name, value] = e;
      size += name.length + value.length;
      if (size > limits.maxSize) tooBig();
    } else if (b & 0x40) {
      // §4.5.4 Literal Field Line with Name Reference: 01 N T index(4)
      if (!(b & 0x10)) fail('dynamic table reference');
      const e = STATIC_TABLE[need(readPrefixInt(buf, off, 4, FAIL))];
      if (!e) fail('static table index out of range');
      off = int.next;
      name = e[0];
      size += name.length;
      if (off >= buf.length) fail('truncated field line');
      value = str(7);
    } else if (b & 0x20) {
      // §4.5.6 Literal Field Line with Literal Name: 001 N H len(3)
      name = str(3);
      if (off >= buf.length) fail('truncated field line');
      value = str(7);
    } else {
      // §4.5.3 / §4.5.5 post-Base index forms refer to the dynamic table
      fail('dynamic table reference (post-Base)');
    }
    fields.push([name, value]);
  }
  return fields;
}

// ------------------------------------------------------- encoder / decoder streams (§4.3, §4.4)

/** Reads the peer's encoder stream. With our capacity 0 the only valid instruction is Set
 * Dynamic Table Capacity 0 (§4.3.1: above our maximum is QPACK_ENCODER_STREAM_ERROR); inserts
 * and duplicates cannot fit a table of capacity 0 (§4.3.2-4.3.4). */
export class EncoderStreamReader {
  private partial: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    const code = H3.QPACK_ENCODER_STREAM_ERROR;
    const buf = this.partial.length ? concat(this.partial, chunk) : chunk;
    let off = 0;
    while (off < buf.length) {
      const b = buf[off]!;
      if ((b & 0xe0) !== 0x20) throw new H3Error(code, 'insert into a dynamic table of capacity 0');
      const r = readPrefixInt(buf, off, 5, code);
      if (r.next < 0) break;
      if (r.value !== 0) throw new H3Error(code, `dynamic table capacity ${r.value} above 0`);
      off = r.next;
    }
    this.partial = keepTail(buf, off, code);
  }
}

/** Reads the peer's decoder stream. We never reference the dynamic table, so Section
 * Acknowledgment and Insert Count Increment refer to nothing: QPACK_DECODER_STREAM_ERROR
 * (§4.4.1, §4.4.3); Stream Cancellation (§4.4.2) is fine. */
export class DecoderStreamReader {
  private partial: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    const code = H3.QPACK_DECODER_STREAM_ERROR;
    const buf = this.partial.length ? concat(this.partial, chunk) : chunk;
    let off = 0;
    while (off < buf.length) {
      const b = buf[off]!;
      if (b & 0x80) throw new H3Error(code, 'Section Acknowledgment of no field section');
      if (!(b & 0x40)) throw new H3Error(code, 'Insert Count Increment beyond 0 inserts');
      const r = readPrefixInt(buf, off, 6, code); // Stream Cancellation
      if (r.next < 0) break;
      off = r.next;
    }
    this.partial = keepTail(buf, off, code);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** An unfinished instruction is at most a prefixed integer (<= 9 bytes below 2^53). */
function keepTail(buf: Uint8Array, off: number, code: number): Uint8Array {
  if (buf.length - off > 10) throw new H3Error(code, 'integer too long');
  return buf.slice(off);
}
