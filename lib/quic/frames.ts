// Every QUIC frame (RFC 9000 §19) plus DATAGRAM (RFC 9221 §4): decoders over a Reader and
// encoders that write into a caller's buffer at an offset and return the new offset.
// STREAM, CRYPTO, DATAGRAM data (and tokens, CIDs, reasons) are views into the input buffer.
import { FRAME_ENCODING_ERROR, PROTOCOL_VIOLATION, QuicError } from './errors.js';
import { Reader, VARINT_LIMIT, varintLength, writeVarint } from './varint.js';

/** Frame type codes (§19, §12.4 table 3; RFC 9221 §4). */
export const FrameType = {
  PADDING: 0x00,
  PING: 0x01,
  ACK: 0x02,
  ACK_ECN: 0x03,
  RESET_STREAM: 0x04,
  STOP_SENDING: 0x05,
  CRYPTO: 0x06,
  NEW_TOKEN: 0x07,
  STREAM: 0x08, // 0x08..0x0f: | OFF 0x04 | LEN 0x02 | FIN 0x01
  MAX_DATA: 0x10,
  MAX_STREAM_DATA: 0x11,
  MAX_STREAMS_BIDI: 0x12,
  MAX_STREAMS_UNI: 0x13,
  DATA_BLOCKED: 0x14,
  STREAM_DATA_BLOCKED: 0x15,
  STREAMS_BLOCKED_BIDI: 0x16,
  STREAMS_BLOCKED_UNI: 0x17,
  NEW_CONNECTION_ID: 0x18,
  RETIRE_CONNECTION_ID: 0x19,
  PATH_CHALLENGE: 0x1a,
  PATH_RESPONSE: 0x1b,
  CONNECTION_CLOSE: 0x1c,
  CONNECTION_CLOSE_APP: 0x1d,
  HANDSHAKE_DONE: 0x1e,
  DATAGRAM: 0x30, // 0x31 with a Length field
} as const;

/** §4.6, §19.11: stream counts above 2^60 are invalid. */
export const MAX_STREAMS_LIMIT = 2 ** 60;

export interface AckRange {
  start: number;
  end: number;
}
export interface EcnCounts {
  ect0: number;
  ect1: number;
  ce: number;
}

export interface PaddingFrame {
  type: 'padding';
  /** Consecutive PADDING bytes, reported as one frame. */
  length: number;
}
export interface PingFrame {
  type: 'ping';
}
export interface AckFrame {
  type: 'ack';
  /** Largest Acknowledged; equals ranges[0].end. */
  largest: number;
  /** The encoded ACK Delay field (scaled by the sender's ack_delay_exponent). */
  ackDelay: number;
  /** Inclusive ranges in descending order; ranges[0] contains `largest`. */
  ranges: AckRange[];
  /** Present for ACK_ECN (type 0x03). */
  ecn?: EcnCounts;
}
export interface ResetStreamFrame {
  type: 'reset_stream';
  streamId: number;
  errorCode: number;
  finalSize: number;
}
export interface StopSendingFrame {
  type: 'stop_sending';
  streamId: number;
  errorCode: number;
}
export interface CryptoFrame {
  type: 'crypto';
  offset: number;
  data: Uint8Array;
}
export interface NewTokenFrame {
  type: 'new_token';
  token: Uint8Array;
}
export interface StreamFrame {
  type: 'stream';
  streamId: number;
  offset: number;
  data: Uint8Array;
  fin: boolean;
  /** Encoding only: false omits the Length field (the frame then ends the packet). */
  explicitLength?: boolean;
}
export interface MaxDataFrame {
  type: 'max_data';
  maximum: number;
}
export interface MaxStreamDataFrame {
  type: 'max_stream_data';
  streamId: number;
  maximum: number;
}
export interface MaxStreamsFrame {
  type: 'max_streams';
  bidi: boolean;
  maximum: number;
}
export interface DataBlockedFrame {
  type: 'data_blocked';
  limit: number;
}
export interface StreamDataBlockedFrame {
  type: 'stream_data_blocked';
  streamId: number;
  limit: number;
}
export interface StreamsBlockedFrame {
  type: 'streams_blocked';
  bidi: boolean;
  limit: number;
}
export interface NewConnectionIdFrame {
  type: 'new_connection_id';
  sequence: number;
  retirePriorTo: number;
  connectionId: Uint8Array;
  statelessResetToken: Uint8Array;
}
export interface RetireConnectionIdFrame {
  type: 'retire_connection_id';
  sequence: number;
}
export interface PathChallengeFrame {
  type: 'path_challenge';
  data: Uint8Array;
}
export interface PathResponseFrame {
  type: 'path_response';
  data: Uint8Array;
}
export interface ConnectionCloseFrame {
  type: 'connection_close';
  /** true: type 0x1d, an application error code; false: 0x1c, a transport error code. */
  application: boolean;
  errorCode: number;
  /** The frame type that caused the error (0x1c only; 0 if unknown). */
  frameType: number;
  /** UTF-8 reason phrase bytes (a view). */
  reason: Uint8Array;
}
export interface HandshakeDoneFrame {
  type: 'handshake_done';
}
export interface DatagramFrame {
  type: 'datagram';
  data: Uint8Array;
  /** Encoding only: false omits the Length field (type 0x30; the frame then ends the packet). */
  explicitLength?: boolean;
}

export type Frame =
  | PaddingFrame
  | PingFrame
  | AckFrame
  | ResetStreamFrame
  | StopSendingFrame
  | CryptoFrame
  | NewTokenFrame
  | StreamFrame
  | MaxDataFrame
  | MaxStreamDataFrame
  | MaxStreamsFrame
  | DataBlockedFrame
  | StreamDataBlockedFrame
  | StreamsBlockedFrame
  | NewConnectionIdFrame
  | RetireConnectionIdFrame
  | PathChallengeFrame
  | PathResponseFrame
  | ConnectionCloseFrame
  | HandshakeDoneFrame
  | DatagramFrame;

export type FrameName = Frame['type'];

/* ---------------- packet types allowed per frame (§12.4 table 3) ---------------- */

/** Bit per packet type for allowedIn(): Initial, 0-RTT, Handshake, 1-RTT. */
export const PacketMask = { initial: 1, '0rtt': 2, handshake: 4, '1rtt': 8 } as const;
export type FramePacketType = keyof typeof PacketMask;
const I = 1;
const Z = 2;
const H = 4;
const O = 8;

// Indexed by frame type (0x00..0x1e); DATAGRAM handled separately (RFC 9221 §4: 0-RTT, 1-RTT).
const ALLOWED = [
  I | Z | H | O, // PADDING
  I | Z | H | O, // PING
  I | H | O, // ACK
  I | H | O, // ACK_ECN
  Z | O, // RESET_STREAM
  Z | O, // STOP_SENDING
  I | H | O, // CRYPTO
  O, // NEW_TOKEN
  Z | O,
  Z | O,
  Z | O,
  Z | O,
  Z | O,
  Z | O,
  Z | O,
  Z | O, // STREAM 0x08..0x0f
  Z | O, // MAX_DATA
  Z | O, // MAX_STREAM_DATA
  Z | O, // MAX_STREAMS bidi
  Z | O, // MAX_STREAMS uni
  Z | O, // DATA_BLOCKED
  Z | O, // STREAM_DATA_BLOCKED
  Z | O, // STREAMS_BLOCKED bidi
  Z | O, // STREAMS_BLOCKED uni
  Z | O, // NEW_CONNECTION_ID
  Z | O, // RETIRE_CONNECTION_ID
  Z | O, // PATH_CHALLENGE
  O, // PATH_RESPONSE
  I | Z | H | O, // CONNECTION_CLOSE (transport)
  Z | O, // CONNECTION_CLOSE (application)
  O, // HANDSHAKE_DONE
];

/** Mask of packet types (PacketMask bits) a frame type may appear in; 0 for unknown types. */
export function allowedIn(frameType: number): number {
  if (frameType < ALLOWED.length) return ALLOWED[frameType]!;
  if (frameType === 0x30 || frameType === 0x31) return Z | O;
  return 0;
}

const NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(FrameType)) NAMES[v] = k;

/** Name of a frame type code, e.g. 'STREAM', 'ACK_ECN', 'unknown(0x40)'. */
export function frameTypeName(t: number): string {
  if (t >= 0x08 && t <= 0x0f) return 'STREAM';
  if (t === 0x31) return 'DATAGRAM';
  return NAMES[t] ?? `unknown(0x${t.toString(16)})`;
}

/* ---------------- decoding ---------------- */

function fail(message: string, frameType: number, code: number = FRAME_ENCODING_ERROR): never {
  throw new QuicError(code, message, { frameType });
}

// Reusable to skip a run of PADDING bytes without a per-byte frame.
function paddingRun(r: Reader): number {
  const b = r.buf;
  let p = r.pos;
  const start = p - 1;
  while (p < r.end && b[p] === 0) p++;
  r.pos = p;
  return p - start;
}

/**
 * Decodes the frame at the reader's position. `mask` is the PacketMask bit of the packet
 * type the frame arrived in: a frame not allowed there is PROTOCOL_VIOLATION (§12.4).
 * Throws QuicError only (FRAME_ENCODING_ERROR for malformed or unknown frames).
 */
export function decodeFrame(r: Reader, mask: number): Frame {
  const b = r.buf;
  const first = b[r.pos];
  let type: number;
  if (first !== undefined && first < 0x40 && r.pos < r.end) {
    type = first;
    r.pos++;
  } else {
    const p = r.pos;
    type = r.varint('frame type');
    // §12.4: frame types use the shortest encoding; a longer one MAY be PROTOCOL_VIOLATION.
    if (r.pos - p !== varintLength(type))
      fail(`frame type 0x${type.toString(16)} not minimally encoded`, type, PROTOCOL_VIOLATION);
  }
  const allowed = allowedIn(type);
  if (allowed === 0) fail(`unknown frame type 0x${type.toString(16)}`, type);
  if ((allowed & mask) === 0)
    fail(`${frameTypeName(type)} frame not allowed in this packet type`, type, PROTOCOL_VIOLATION);
  r.code = FRAME_ENCODING_ERROR;
  switch (type) {
    case 0x00:
      return { type: 'padding', length: paddingRun(r) };
    case 0x01:
      return { type: 'ping' };
    case 0x02:
    case 0x03:
      return decodeAck(r, type);
    case 0x04:
      return {
        type: 'reset_stream',
        streamId: r.varint('RESET_STREAM stream id'),
        errorCode: r.varint('RESET_STREAM error code'),
        finalSize: r.varint('RESET_STREAM final size'),
      };
    case 0x05:
      return {
        type: 'stop_sending',
        streamId: r.varint('STOP_SENDING stream id'),
        errorCode: r.varint('STOP_SENDING error code'),
      };
    case 0x06: {
      const offset = r.varint('CRYPTO offset');
      const len = r.varint('CRYPTO length');
      // §19.6: offset + length must not exceed 2^62-1.
      if (offset + len >= VARINT_LIMIT) fail('CRYPTO data beyond 2^62-1', type);
      return { type: 'crypto', offset, data: r.bytes(len, 'CRYPTO data') };
    }
    case 0x07: {
      const len = r.varint('NEW_TOKEN length');
      // §19.7: an empty token is FRAME_ENCODING_ERROR.
      if (len === 0) fail('empty NEW_TOKEN token', type);
      return { type: 'new_token', token: r.bytes(len, 'NEW_TOKEN token') };
    }
    case 0x10:
      return { type: 'max_data', maximum: r.varint('MAX_DATA') };
    case 0x11:
      return {
        type: 'max_stream_data',
        streamId: r.varint('MAX_STREAM_DATA stream id'),
        maximum: r.varint('MAX_STREAM_DATA maximum'),
      };
    case 0x12:
    case 0x13: {
      const maximum = r.varint('MAX_STREAMS');
      // §19.11: more than 2^60 streams is FRAME_ENCODING_ERROR.
      if (maximum > MAX_STREAMS_LIMIT) fail('MAX_STREAMS above 2^60', type);
      return { type: 'max_streams', bidi: type === 0x12, maximum };
    }
    case 0x14:
      return { type: 'data_blocked', limit: r.varint('DATA_BLOCKED') };
    case 0x15:
      return {
        type: 'stream_data_blocked',
        streamId: r.varint('STREAM_DATA_BLOCKED stream id'),
        limit: r.varint('STREAM_DATA_BLOCKED limit'),
      };
    case 0x16:
    case 0x17: {
      const limit = r.varint('STREAMS_BLOCKED');
      // §19.14: above 2^60 is STREAM_LIMIT_ERROR or FRAME_ENCODING_ERROR.
      if (limit > MAX_STREAMS_LIMIT) fail('STREAMS_BLOCKED above 2^60', type);
      return { type: 'streams_blocked', bidi: type === 0x16, limit };
    }
    case 0x18: {
      const sequence = r.varint('NEW_CONNECTION_ID sequence');
      const retirePriorTo = r.varint('NEW_CONNECTION_ID retire prior to');
      // §19.15: Retire Prior To greater than Sequence Number is FRAME_ENCODING_ERROR.
      if (retirePriorTo > sequence) fail('NEW_CONNECTION_ID retire prior to > sequence', type);
      const len = r.u8('NEW_CONNECTION_ID length');
      // §19.15: length 1..20, anything else is FRAME_ENCODING_ERROR.
      if (len < 1 || len > 20) fail(`NEW_CONNECTION_ID length ${len} outside 1..20`, type);
      return {
        type: 'new_connection_id',
        sequence,
        retirePriorTo,
        connectionId: r.bytes(len, 'NEW_CONNECTION_ID connection id'),
        statelessResetToken: r.bytes(16, 'NEW_CONNECTION_ID stateless reset token'),
      };
    }
    case 0x19:
      return { type: 'retire_connection_id', sequence: r.varint('RETIRE_CONNECTION_ID') };
    case 0x1a:
      return { type: 'path_challenge', data: r.bytes(8, 'PATH_CHALLENGE data') };
    case 0x1b:
      return { type: 'path_response', data: r.bytes(8, 'PATH_RESPONSE data') };
    case 0x1c:
    case 0x1d: {
      const application = type === 0x1d;
      const errorCode = r.varint('CONNECTION_CLOSE error code');
      const frameType = application ? 0 : r.varint('CONNECTION_CLOSE frame type');
      const len = r.varint('CONNECTION_CLOSE reason length');
      const reason = r.bytes(len, 'CONNECTION_CLOSE reason');
      return { type: 'connection_close', application, errorCode, frameType, reason };
    }
    case 0x1e:
      return { type: 'handshake_done' };
    case 0x30:
      return { type: 'datagram', data: r.bytes(r.end - r.pos, 'DATAGRAM data') };
    case 0x31: {
      const len = r.varint('DATAGRAM length');
      return { type: 'datagram', data: r.bytes(len, 'DATAGRAM data') };
    }
    default: {
      // 0x08..0x0f: STREAM (§19.8)
      const streamId = r.varint('STREAM stream id');
      const offset = type & 0x04 ? r.varint('STREAM offset') : 0;
      const len = type & 0x02 ? r.varint('STREAM length') : r.end - r.pos;
      if (offset + len >= VARINT_LIMIT) fail('STREAM data beyond 2^62-1', type);
      return {
        type: 'stream',
        streamId,
        offset,
        data: r.bytes(len, 'STREAM data'),
        fin: (type & 1) === 1,
      };
    }
  }
}

function decodeAck(r: Reader, type: number): AckFrame {
  const largest = r.varint('ACK largest acknowledged');
  const ackDelay = r.varint('ACK delay');
  const count = r.varint('ACK range count');
  const first = r.varint('ACK first range');
  // §19.3.1: a range reaching below packet number 0 is FRAME_ENCODING_ERROR.
  let smallest = largest - first;
  if (smallest < 0) fail('ACK range below 0', type);
  const ranges: AckRange[] = [{ start: smallest, end: largest }];
  // Each further range takes at least 2 bytes: a count the payload cannot hold is truncation.
  if (count > r.remaining / 2) r.fail('truncated ACK ranges');
  for (let i = 0; i < count; i++) {
    const gap = r.varint('ACK gap');
    const len = r.varint('ACK range length');
    const end = smallest - gap - 2;
    smallest = end - len;
    if (smallest < 0) fail('ACK range below 0', type);
    ranges.push({ start: smallest, end });
  }
  const frame: AckFrame = { type: 'ack', largest, ackDelay, ranges };
  if (type === 0x03)
    frame.ecn = {
      ect0: r.varint('ACK ECT(0) count'),
      ect1: r.varint('ACK ECT(1) count'),
      ce: r.varint('ACK ECN-CE count'),
    };
  return frame;
}

/** Decodes every frame of a plaintext payload buf[start, end) in a packet of type `packetType`.
 * §12.4: a packet with no frames is PROTOCOL_VIOLATION. */
export function decodeFrames(
  buf: Uint8Array,
  start: number,
  end: number,
  packetType: FramePacketType,
): Frame[] {
  if (start >= end) throw new QuicError(PROTOCOL_VIOLATION, 'packet without frames');
  const r = new Reader(buf, start, end);
  const mask = PacketMask[packetType];
  const out: Frame[] = [];
  while (r.pos < r.end) out.push(decodeFrame(r, mask));
  return out;
}

/* ---------------- encoding ---------------- */

function checkRoom(buf: Uint8Array, end: number): number {
  // Typed arrays ignore writes past their end: check once afterwards instead of per byte.
  if (end > buf.length) throw new RangeError('frame does not fit the buffer');
  return end;
}

function bytesLen(len: number): number {
  return varintLength(len) + len;
}

/** Bytes of a STREAM frame header (type, stream id, offset if > 0, length if explicit). */
export function streamHeaderSize(
  streamId: number,
  offset: number,
  length: number,
  explicitLength = true,
): number {
  return (
    1 +
    varintLength(streamId) +
    (offset > 0 ? varintLength(offset) : 0) +
    (explicitLength ? varintLength(length) : 0)
  );
}

/**
 * Writes a STREAM frame header at buf[off]; the caller writes `length` data bytes after it.
 * Returns the offset where the data goes.
 */
export function writeStreamHeader(
  buf: Uint8Array,
  off: number,
  streamId: number,
  offset: number,
  length: number,
  fin: boolean,
  explicitLength = true,
): number {
  buf[off] = 0x08 | (offset > 0 ? 0x04 : 0) | (explicitLength ? 0x02 : 0) | (fin ? 0x01 : 0);
  let p = writeVarint(buf, off + 1, streamId);
  if (offset > 0) p = writeVarint(buf, p, offset);
  if (explicitLength) p = writeVarint(buf, p, length);
  return p;
}

// Largest n with varintLength(n) + n <= avail (a data length plus its Length field).
function fitWithLength(avail: number): number {
  const n = Math.max(
    Math.min(avail - 1, 0x3f),
    Math.min(avail - 2, 0x3fff),
    Math.min(avail - 4, 0x3fffffff),
    avail - 8,
  );
  return n > 0 ? n : 0;
}

/**
 * Data bytes of a STREAM frame that fit in `room` bytes (0 if not even the header fits).
 * With explicitLength false the frame must be the last in the packet.
 */
export function streamDataCapacity(
  room: number,
  streamId: number,
  offset: number,
  explicitLength = true,
): number {
  const avail = room - 1 - varintLength(streamId) - (offset > 0 ? varintLength(offset) : 0);
  if (!explicitLength) return avail > 0 ? avail : 0;
  return fitWithLength(avail);
}

/** Bytes of a CRYPTO frame header for data at `offset` of `length` bytes. */
export function cryptoHeaderSize(offset: number, length: number): number {
  return 1 + varintLength(offset) + varintLength(length);
}

/** Writes a CRYPTO frame header; the caller writes the data at the returned offset. */
export function writeCryptoHeader(
  buf: Uint8Array,
  off: number,
  offset: number,
  length: number,
): number {
  buf[off] = 0x06;
  return writeVarint(buf, writeVarint(buf, off + 1, offset), length);
}

/** CRYPTO data bytes that fit in `room` bytes. */
export function cryptoDataCapacity(room: number, offset: number): number {
  return fitWithLength(room - 1 - varintLength(offset));
}

function ackSize(f: AckFrame): number {
  const ranges = f.ranges;
  const top = ranges[0]!;
  let n = 1 + varintLength(top.end) + varintLength(f.ackDelay) + varintLength(ranges.length - 1);
  n += varintLength(top.end - top.start);
  for (let i = 1; i < ranges.length; i++) {
    const r = ranges[i]!;
    n += varintLength(ranges[i - 1]!.start - r.end - 2) + varintLength(r.end - r.start);
  }
  if (f.ecn) n += varintLength(f.ecn.ect0) + varintLength(f.ecn.ect1) + varintLength(f.ecn.ce);
  return n;
}

/**
 * How many of `ranges` (descending, as in AckFrame) an ACK frame can carry in `room` bytes:
 * the sender keeps the first n (the most recent) and drops the older ones (RFC 9000 §13.2.4).
 * 0 if not even the first range fits.
 */
export function ackRangesThatFit(
  ranges: readonly AckRange[],
  ackDelay: number,
  ecn: EcnCounts | undefined,
  room: number,
): number {
  if (ranges.length === 0) return 0;
  const top = ranges[0]!;
  // Fixed part with a 1-byte range count; the count's own length is re-checked below.
  let size = 1 + varintLength(top.end) + varintLength(ackDelay) + varintLength(top.end - top.start);
  if (ecn) size += varintLength(ecn.ect0) + varintLength(ecn.ect1) + varintLength(ecn.ce);
  if (size + 1 > room) return 0;
  let n = 1;
  for (; n < ranges.length; n++) {
    const r = ranges[n]!;
    const add = varintLength(ranges[n - 1]!.start - r.end - 2) + varintLength(r.end - r.start);
    if (size + add + varintLength(n) > room) break;
    size += add;
  }
  return n;
}

/** Bytes `frame` takes when encoded (so the sender can fit frames into a packet). */
export function frameSize(frame: Frame): number {
  switch (frame.type) {
    case 'padding':
      return frame.length;
    case 'ping':
    case 'handshake_done':
      return 1;
    case 'ack':
      return ackSize(frame);
    case 'reset_stream':
      return (
        1 +
        varintLength(frame.streamId) +
        varintLength(frame.errorCode) +
        varintLength(frame.finalSize)
      );
    case 'stop_sending':
      return 1 + varintLength(frame.streamId) + varintLength(frame.errorCode);
    case 'crypto':
      return cryptoHeaderSize(frame.offset, frame.data.length) + frame.data.length;
    case 'new_token':
      return 1 + bytesLen(frame.token.length);
    case 'stream':
      return (
        streamHeaderSize(
          frame.streamId,
          frame.offset,
          frame.data.length,
          frame.explicitLength !== false,
        ) + frame.data.length
      );
    case 'max_data':
      return 1 + varintLength(frame.maximum);
    case 'max_stream_data':
      return 1 + varintLength(frame.streamId) + varintLength(frame.maximum);
    case 'max_streams':
      return 1 + varintLength(frame.maximum);
    case 'data_blocked':
      return 1 + varintLength(frame.limit);
    case 'stream_data_blocked':
      return 1 + varintLength(frame.streamId) + varintLength(frame.limit);
    case 'streams_blocked':
      return 1 + varintLength(frame.limit);
    case 'new_connection_id':
      return (
        1 +
        varintLength(frame.sequence) +
        varintLength(frame.retirePriorTo) +
        1 +
        frame.connectionId.length +
        16
      );
    case 'retire_connection_id':
      return 1 + varintLength(frame.sequence);
    case 'path_challenge':
    case 'path_response':
      return 9;
    case 'connection_close':
      return (
        1 +
        varintLength(frame.errorCode) +
        (frame.application ? 0 : varintLength(frame.frameType)) +
        bytesLen(frame.reason.length)
      );
    case 'datagram':
      return 1 + (frame.explicitLength === false ? frame.data.length : bytesLen(frame.data.length));
  }
}

function writeBytes(buf: Uint8Array, off: number, data: Uint8Array): number {
  buf.set(data, off);
  return off + data.length;
}

function fixedBytes(data: Uint8Array, n: number, what: string): Uint8Array {
  if (!(data instanceof Uint8Array) || data.length !== n)
    throw new RangeError(`${what} must be ${n} bytes`);
  return data;
}

function writeAck(buf: Uint8Array, off: number, f: AckFrame): number {
  const ranges = f.ranges;
  if (!Array.isArray(ranges) || ranges.length === 0)
    throw new RangeError('ACK frame needs at least one range');
  const top = ranges[0]!;
  if (!(top.start <= top.end)) throw new RangeError('ACK range start must be <= end');
  if (f.largest !== top.end) throw new RangeError('ACK largest must equal ranges[0].end');
  buf[off] = f.ecn ? 0x03 : 0x02;
  let p = writeVarint(buf, off + 1, top.end);
  p = writeVarint(buf, p, f.ackDelay);
  p = writeVarint(buf, p, ranges.length - 1);
  p = writeVarint(buf, p, top.end - top.start);
  for (let i = 1; i < ranges.length; i++) {
    const r = ranges[i]!;
    const gap = ranges[i - 1]!.start - r.end - 2;
    // §19.3.1: ranges are descending and separated by at least one missing packet number.
    if (gap < 0 || r.start > r.end || r.start < 0)
      throw new RangeError('ACK ranges must be descending and disjoint');
    p = writeVarint(buf, p, gap);
    p = writeVarint(buf, p, r.end - r.start);
  }
  if (f.ecn) {
    p = writeVarint(buf, p, f.ecn.ect0);
    p = writeVarint(buf, p, f.ecn.ect1);
    p = writeVarint(buf, p, f.ecn.ce);
  }
  return p;
}

/** Encodes `frame` at buf[off]; returns the offset after it. RangeError if it does not fit or
 * a field is out of range (API misuse). */
export function encodeFrame(buf: Uint8Array, off: number, frame: Frame): number {
  let p: number;
  switch (frame.type) {
    case 'padding':
      if (!(frame.length >= 1)) throw new RangeError('padding length must be >= 1');
      checkRoom(buf, off + frame.length);
      buf.fill(0, off, off + frame.length);
      return off + frame.length;
    case 'ping':
      p = off + 1;
      buf[off] = 0x01;
      break;
    case 'handshake_done':
      p = off + 1;
      buf[off] = 0x1e;
      break;
    case 'ack':
      p = writeAck(buf, off, frame);
      break;
    case 'reset_stream':
      buf[off] = 0x04;
      p = writeVarint(buf, off + 1, frame.streamId);
      p = writeVarint(buf, p, frame.errorCode);
      p = writeVarint(buf, p, frame.finalSize);
      break;
    case 'stop_sending':
      buf[off] = 0x05;
      p = writeVarint(buf, off + 1, frame.streamId);
      p = writeVarint(buf, p, frame.errorCode);
      break;
    case 'crypto':
      if (frame.offset + frame.data.length >= VARINT_LIMIT)
        throw new RangeError('CRYPTO data beyond 2^62-1');
      p = writeCryptoHeader(buf, off, frame.offset, frame.data.length);
      checkRoom(buf, p + frame.data.length);
      p = writeBytes(buf, p, frame.data);
      break;
    case 'new_token':
      if (frame.token.length === 0) throw new RangeError('NEW_TOKEN token must not be empty');
      buf[off] = 0x07;
      p = writeVarint(buf, off + 1, frame.token.length);
      checkRoom(buf, p + frame.token.length);
      p = writeBytes(buf, p, frame.token);
      break;
    case 'stream':
      if (frame.offset + frame.data.length >= VARINT_LIMIT)
        throw new RangeError('STREAM data beyond 2^62-1');
      p = writeStreamHeader(
        buf,
        off,
        frame.streamId,
        frame.offset,
        frame.data.length,
        frame.fin,
        frame.explicitLength !== false,
      );
      checkRoom(buf, p + frame.data.length);
      p = writeBytes(buf, p, frame.data);
      break;
    case 'max_data':
      buf[off] = 0x10;
      p = writeVarint(buf, off + 1, frame.maximum);
      break;
    case 'max_stream_data':
      buf[off] = 0x11;
      p = writeVarint(buf, writeVarint(buf, off + 1, frame.streamId), frame.maximum);
      break;
    case 'max_streams':
      if (frame.maximum > MAX_STREAMS_LIMIT) throw new RangeError('MAX_STREAMS above 2^60');
      buf[off] = frame.bidi ? 0x12 : 0x13;
      p = writeVarint(buf, off + 1, frame.maximum);
      break;
    case 'data_blocked':
      buf[off] = 0x14;
      p = writeVarint(buf, off + 1, frame.limit);
      break;
    case 'stream_data_blocked':
      buf[off] = 0x15;
      p = writeVarint(buf, writeVarint(buf, off + 1, frame.streamId), frame.limit);
      break;
    case 'streams_blocked':
      if (frame.limit > MAX_STREAMS_LIMIT) throw new RangeError('STREAMS_BLOCKED above 2^60');
      buf[off] = frame.bidi ? 0x16 : 0x17;
      p = writeVarint(buf, off + 1, frame.limit);
      break;
    case 'new_connection_id': {
      const cid = frame.connectionId;
      if (!(cid instanceof Uint8Array) || cid.length < 1 || cid.length > 20)
        throw new RangeError('NEW_CONNECTION_ID connectionId must be 1..20 bytes');
      if (frame.retirePriorTo > frame.sequence)
        throw new RangeError('retirePriorTo must be <= sequence');
      fixedBytes(frame.statelessResetToken, 16, 'statelessResetToken');
      buf[off] = 0x18;
      p = writeVarint(buf, writeVarint(buf, off + 1, frame.sequence), frame.retirePriorTo);
      checkRoom(buf, p + 1 + cid.length + 16);
      buf[p++] = cid.length;
      p = writeBytes(buf, p, cid);
      p = writeBytes(buf, p, frame.statelessResetToken);
      break;
    }
    case 'retire_connection_id':
      buf[off] = 0x19;
      p = writeVarint(buf, off + 1, frame.sequence);
      break;
    case 'path_challenge':
    case 'path_response':
      checkRoom(buf, off + 9);
      buf[off] = frame.type === 'path_challenge' ? 0x1a : 0x1b;
      p = writeBytes(buf, off + 1, fixedBytes(frame.data, 8, `${frame.type} data`));
      break;
    case 'connection_close':
      buf[off] = frame.application ? 0x1d : 0x1c;
      p = writeVarint(buf, off + 1, frame.errorCode);
      if (!frame.application) p = writeVarint(buf, p, frame.frameType);
      p = writeVarint(buf, p, frame.reason.length);
      checkRoom(buf, p + frame.reason.length);
      p = writeBytes(buf, p, frame.reason);
      break;
    case 'datagram':
      if (frame.explicitLength === false) {
        buf[off] = 0x30;
        p = off + 1;
      } else {
        buf[off] = 0x31;
        p = writeVarint(buf, off + 1, frame.data.length);
      }
      checkRoom(buf, p + frame.data.length);
      p = writeBytes(buf, p, frame.data);
      break;
    default:
      throw new TypeError(`unknown frame type ${(frame as { type: unknown }).type}`);
  }
  return checkRoom(buf, p);
}
