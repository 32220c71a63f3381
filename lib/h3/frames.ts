// HTTP/3 frames (RFC 9114 §7): encoders, and an incremental reader that turns stream chunks into
// frames. DATA payloads are passed on as views of the chunks as they arrive (never buffered);
// other frames are collected up to a bound, then decoded.
import { varintLength, writeVarint } from '../quic/varint.js';
import { H3, H3Error } from './errors.js';

export const FrameType = {
  DATA: 0x00,
  HEADERS: 0x01,
  CANCEL_PUSH: 0x03,
  SETTINGS: 0x04,
  PUSH_PROMISE: 0x05,
  GOAWAY: 0x07,
  MAX_PUSH_ID: 0x0d,
} as const;

/** §7.2.8: frame types of HTTP/2 that HTTP/3 does not have; receiving one is an error. */
const HTTP2_ONLY = new Set([0x02, 0x06, 0x08, 0x09]);

export const Setting = {
  QPACK_MAX_TABLE_CAPACITY: 0x01,
  MAX_FIELD_SECTION_SIZE: 0x06,
  QPACK_BLOCKED_STREAMS: 0x07,
} as const;

/** §7.2.4.1: HTTP/2 settings without an HTTP/3 meaning; receiving one is H3_SETTINGS_ERROR. */
const HTTP2_SETTINGS = new Set([0x02, 0x03, 0x04, 0x05]);

export type H3Frame =
  /** Part of a DATA frame's payload (a view of the received chunk); `end` on the last part. */
  | { type: 'data'; data: Uint8Array; end: boolean }
  | { type: 'headers'; block: Uint8Array }
  | { type: 'cancel_push'; pushId: number }
  | { type: 'settings'; settings: Map<number, number> }
  | { type: 'push_promise'; pushId: number; block: Uint8Array }
  | { type: 'goaway'; id: number }
  | { type: 'max_push_id'; pushId: number };

/** §7.2.8 / §9: reserved (GREASE) identifiers are 0x1f * N + 0x21. */
export function isReserved(v: number): boolean {
  return v >= 0x21 && (v - 0x21) % 0x1f === 0;
}

/** A random reserved identifier (for GREASE), below 2^53. */
export function greaseValue(): number {
  return 0x1f * Math.floor(Math.random() * 0x10000) + 0x21;
}

// ---------------------------------------------------------------------------------- encoding

function varint(v: number): Uint8Array {
  const out = new Uint8Array(varintLength(v));
  writeVarint(out, 0, v);
  return out;
}

/** A frame header (type, length). */
export function frameHeader(type: number, length: number): Uint8Array {
  const out = new Uint8Array(varintLength(type) + varintLength(length));
  writeVarint(out, writeVarint(out, 0, type), length);
  return out;
}

/** A whole frame: header and payload in one buffer. */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const h = frameHeader(type, payload.length);
  const out = new Uint8Array(h.length + payload.length);
  out.set(h);
  out.set(payload, h.length);
  return out;
}

export function encodeSettings(settings: ReadonlyMap<number, number>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [k, v] of settings) parts.push(varint(k), varint(v));
  return encodeFrame(FrameType.SETTINGS, Buffer.concat(parts));
}

/** GOAWAY, MAX_PUSH_ID, CANCEL_PUSH: one varint payload. */
export function encodeIdFrame(type: number, id: number): Uint8Array {
  return encodeFrame(type, varint(id));
}

export function encodeVarint(v: number): Uint8Array {
  return varint(v);
}

// ---------------------------------------------------------------------------------- decoding

/** Reads a varint at buf[off]; -1 in `next` when buf ends first. */
const vr = { value: 0, next: 0 };
export function readVarint(buf: Uint8Array, off: number): typeof vr {
  if (off >= buf.length) return ((vr.next = -1), vr);
  const first = buf[off]!;
  const len = 1 << (first >> 6);
  if (off + len > buf.length) return ((vr.next = -1), vr);
  let v = first & 0x3f;
  for (let i = 1; i < len; i++) v = v * 256 + buf[off + i]!;
  vr.value = v;
  vr.next = off + len;
  return vr;
}

export interface FrameLimits {
  /** Largest HEADERS / PUSH_PROMISE payload buffered (a larger one is a stream error). */
  maxHeaderBlock: number;
  /** Largest payload of other buffered frames (SETTINGS, GOAWAY, ...). */
  maxControlFrame: number;
  /** Shared by the readers of one connection: bounds the bytes of unfinished HEADERS /
   * PUSH_PROMISE payloads they hold together. */
  budget?: HeaderBudget;
}

/** The bytes of unfinished header blocks one connection holds, at most `max`: the peer's
 * streams each stopped mid-HEADERS would otherwise hold maxHeaderBlock apiece. Going over is
 * H3_EXCESSIVE_LOAD (RFC 9114 §8.1, §10.5) on the stream whose bytes did not fit. */
export class HeaderBudget {
  /** Bytes held now. */
  used = 0;
  /** Streams refused for going over. */
  refused = 0;

  constructor(readonly max: number) {}

  take(n: number): void {
    if (this.used + n > this.max) {
      this.refused++;
      throw new H3Error(H3.EXCESSIVE_LOAD, 'too many bytes of unfinished HEADERS', true);
    }
    this.used += n;
  }
}

const DEFAULT_LIMITS: FrameLimits = { maxHeaderBlock: 256 * 1024, maxControlFrame: 16 * 1024 };

/** Incremental frame reader for one stream. push() each chunk; it calls `onFrame` per frame (and
 * per DATA chunk). Unknown and reserved frame types are skipped (§9). */
export class FrameReader {
  private head = new Uint8Array(16); // a partial frame header (2 varints, <= 16 bytes)
  private headLen = 0;
  private type = -1; // frame being read, -1 between frames
  private left = 0; // its payload bytes still to come
  /** Buffered payload of a non-DATA frame (copies, as received: memory follows the bytes
   * that arrived, not the length the peer announced). */
  private body: Uint8Array[] | undefined;
  /** Bytes of `body` taken from the limits' budget (a header block's). */
  private held = 0;
  private readonly limits: FrameLimits;

  constructor(limits: Partial<FrameLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** True between frames (a stream may end only there: §7.1). */
  get atBoundary(): boolean {
    return this.type < 0 && this.headLen === 0;
  }

  push(chunk: Uint8Array, onFrame: (f: H3Frame) => void): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.type < 0) {
        off = this.readHeader(chunk, off);
        if (this.type < 0) return; // header incomplete: kept in `head`
        if (this.left > 0) continue;
        if (this.body) this.finish(onFrame);
        else if (this.type === FrameType.DATA) {
          this.type = -1;
          onFrame({ type: 'data', data: chunk.subarray(off, off), end: true });
        } else this.type = -1; // empty unknown frame
        continue;
      }
      const n = Math.min(this.left, chunk.length - off);
      const part = chunk.subarray(off, off + n);
      off += n;
      this.left -= n;
      if (this.type === FrameType.DATA) {
        const end = this.left === 0;
        if (end) this.type = -1;
        onFrame({ type: 'data', data: part, end });
        continue;
      }
      if (this.body && n) {
        if (this.limits.budget && this.isHeaderBlock()) {
          this.limits.budget.take(n);
          this.held += n;
        }
        this.body.push(part.slice());
      }
      if (this.left === 0) {
        if (this.body) this.finish(onFrame);
        else this.type = -1; // skipped frame
      }
    }
  }

  /** Gives back what this reader holds of its budget (its stream is gone). */
  discard(): void {
    this.body = undefined;
    this.release();
  }

  private isHeaderBlock(): boolean {
    return this.type === FrameType.HEADERS || this.type === FrameType.PUSH_PROMISE;
  }

  private release(): void {
    if (this.limits.budget) this.limits.budget.used -= this.held;
    this.held = 0;
  }

  private readHeader(chunk: Uint8Array, off: number): number {
    // Append to `head` only what the header can need, then try to parse it.
    const take = Math.min(16 - this.headLen, chunk.length - off);
    this.head.set(chunk.subarray(off, off + take), this.headLen);
    const avail = this.headLen + take;
    const h = this.head.subarray(0, avail);
    const t = readVarint(h, 0);
    if (t.next < 0) return ((this.headLen = avail), off + take);
    const type = t.value;
    const l = readVarint(h, t.next);
    if (l.next < 0) return ((this.headLen = avail), off + take);
    const used = l.next - this.headLen; // bytes of this chunk the header took
    const length = l.value;
    this.headLen = 0;
    this.begin(type, length);
    return off + used;
  }

  private begin(type: number, length: number): void {
    if (HTTP2_ONLY.has(type))
      throw new H3Error(H3.FRAME_UNEXPECTED, `HTTP/2 frame type 0x${type.toString(16)}`);
    this.type = type;
    this.left = length;
    this.body = undefined;
    switch (type) {
      case FrameType.DATA:
        return;
      case FrameType.HEADERS:
      case FrameType.PUSH_PROMISE:
        if (length > this.limits.maxHeaderBlock)
          throw new H3Error(H3.EXCESSIVE_LOAD, 'header block too large', true);
        break;
      case FrameType.SETTINGS:
      case FrameType.GOAWAY:
      case FrameType.MAX_PUSH_ID:
      case FrameType.CANCEL_PUSH:
        if (length > this.limits.maxControlFrame)
          throw new H3Error(H3.EXCESSIVE_LOAD, 'control frame too large');
        break;
      default:
        return; // unknown or reserved: skip the payload (§9)
    }
    this.body = [];
  }

  private finish(onFrame: (f: H3Frame) => void): void {
    const type = this.type;
    const parts = this.body!;
    const p = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    this.type = -1;
    this.body = undefined;
    this.release();
    onFrame(decodePayload(type, p));
  }
}

function frameError(msg: string): never {
  throw new H3Error(H3.FRAME_ERROR, msg);
}

/** One varint that must fill the payload exactly (§7.1: extra or missing bytes are
 * H3_FRAME_ERROR). */
function onlyVarint(p: Uint8Array): number {
  const r = readVarint(p, 0);
  if (r.next !== p.length) frameError('frame payload is not exactly one varint');
  return r.value;
}

function decodePayload(type: number, p: Uint8Array): H3Frame {
  switch (type) {
    case FrameType.HEADERS:
      return { type: 'headers', block: p };
    case FrameType.PUSH_PROMISE: {
      const r = readVarint(p, 0);
      if (r.next < 0) frameError('truncated PUSH_PROMISE');
      return { type: 'push_promise', pushId: r.value, block: p.subarray(r.next) };
    }
    case FrameType.CANCEL_PUSH:
      return { type: 'cancel_push', pushId: onlyVarint(p) };
    case FrameType.GOAWAY:
      return { type: 'goaway', id: onlyVarint(p) };
    case FrameType.MAX_PUSH_ID:
      return { type: 'max_push_id', pushId: onlyVarint(p) };
    default: {
      // SETTINGS (§7.2.4)
      const settings = new Map<number, number>();
      for (let off = 0; off < p.length;) {
        const k = readVarint(p, off);
        if (k.next < 0) frameError('truncated SETTINGS');
        const id = k.value;
        const v = readVarint(p, k.next);
        if (v.next < 0) frameError('truncated SETTINGS');
        off = v.next;
        if (HTTP2_SETTINGS.has(id))
          throw new H3Error(H3.SETTINGS_ERROR, `HTTP/2 setting 0x${id.toString(16)}`);
        if (settings.has(id))
          throw new H3Error(H3.SETTINGS_ERROR, `duplicate setting 0x${id.toString(16)}`);
        settings.set(id, v.value);
      }
      return { type: 'settings', settings };
    }
  }
}
