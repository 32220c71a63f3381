// QUIC packet headers (RFC 9000 §17): long headers (Initial, 0-RTT, Handshake, Retry), the
// short header, Version Negotiation; QUIC v2 type bits (RFC 9369 §3.2); coalesced packets
// (§12.2); stateless reset recognition (§10.3). Parsing reads only unprotected fields.
import { randomBytes, timingSafeEqual } from 'node:crypto';

import { QUIC_V1, QUIC_V2, retryIntegrityTag, verifyRetryIntegrity } from '../crypto/packet.js';
import { PROTOCOL_VIOLATION, QuicError } from './errors.js';
import { writePacketNumber } from './packet-number.js';
import type { RandomSource } from './random.js';
import { Reader, writeVarintN } from './varint.js';

export { QUIC_V1, QUIC_V2 };

export type LongPacketType = 'initial' | '0rtt' | 'handshake' | 'retry';
export type PacketType = LongPacketType | '1rtt' | 'version_negotiation';

/** §17.2: connection IDs of QUIC v1 (and v2) are at most 20 bytes. */
export const MAX_CID_LENGTH = 20;
/** §14.1: datagrams carrying Initial packets are padded to at least this size. */
export const MIN_INITIAL_DATAGRAM = 1200;
/** §10.3: 5 unpredictable bytes (>= 38 bits) + the 16-byte token. */
export const MIN_STATELESS_RESET = 21;
/** The AEAD tag every protected packet ends with (RFC 9001 §5.3). */
export const TAG_LENGTH = 16;

export function isSupportedVersion(version: number): boolean {
  return version === QUIC_V1 || version === QUIC_V2;
}

// Long header type bits (first byte bits 4-5) per version: v1 RFC 9000 §17.2 table 5,
// v2 RFC 9369 §3.2 (Initial 0b01, 0-RTT 0b10, Handshake 0b11, Retry 0b00).
const V1_TYPES: readonly LongPacketType[] = ['initial', '0rtt', 'handshake', 'retry'];
const V2_TYPES: readonly LongPacketType[] = ['retry', 'initial', '0rtt', 'handshake'];

/** The two type bits of a long header packet type in `version`. */
export function longTypeBits(version: number, type: LongPacketType): number {
  const table = version === QUIC_V2 ? V2_TYPES : V1_TYPES;
  return table.indexOf(type);
}

export interface PacketHeader {
  type: PacketType;
  /** Long headers: the version (0 for Version Negotiation); short headers: 0 (not on the wire). */
  version: number;
  /** The first byte as received (still masked by header protection in its low bits). */
  firstByte: number;
  dcid: Uint8Array;
  /** Empty for short headers. */
  scid: Uint8Array;
  /** Initial: the token; Retry: the Retry Token; else empty. */
  token: Uint8Array;
  /** Absolute offsets in the datagram: packet start, packet number start (-1 for VN/Retry),
   * packet end (exclusive). */
  start: number;
  pnOffset: number;
  end: number;
  /** Version Negotiation only. */
  supportedVersions?: number[];
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** buf[at, at + n) holds exactly the n bytes of `cid`. */
function equalAt(buf: Uint8Array, at: number, cid: Uint8Array, n: number): boolean {
  if (cid.length !== n) return false;
  for (let i = 0; i < n; i++) if (buf[at + i] !== cid[i]) return false;
  return true;
}

function drop(message: string): never {
  throw new QuicError(PROTOCOL_VIOLATION, message);
}

/**
 * Parses the header of the packet at buf[start, end) (the rest of a datagram). Long header
 * packets end where their Length field says; a short header packet takes the rest, and its
 * DCID is `shortDcidLength` bytes (the length of our own connection IDs). Throws QuicError
 * for a header that must be dropped; long headers of unsupported versions are returned with
 * type 'version_negotiation' only when the version is 0, else throw (see parseInvariants).
 * `greaseQuicBit`: accept a fixed bit of 0 (RFC 9287 §3: only after advertising
 * grease_quic_bit ourselves). `sameDcid`: a short header's DCID equal to it is returned as it
 * (the previous packet's of a batch: no new view per packet).
 */
export function parseHeader(
  buf: Uint8Array,
  start: number,
  end: number,
  shortDcidLength: number,
  greaseQuicBit = false,
  sameDcid?: Uint8Array,
): PacketHeader {
  if (start >= end) drop('empty packet');
  const first = buf[start]!;
  if ((first & 0x80) === 0) {
    // §17.3.1 short header: fixed bit 1 (RFC 9287: may be 0 once we advertised
    // grease_quic_bit), DCID of a length the receiver knows.
    if ((first & 0x40) === 0 && !greaseQuicBit) drop('fixed bit is 0');
    const pnOffset = start + 1 + shortDcidLength;
    if (pnOffset > end) drop('truncated short header');
    return {
      type: '1rtt',
      version: 0,
      firstByte: first,
      dcid:
        sameDcid && equalAt(buf, start + 1, sameDcid, shortDcidLength)
          ? sameDcid
          : buf.subarray(start + 1, pnOffset),
      scid: EMPTY,
      token: EMPTY,
      start,
      pnOffset,
      end,
    };
  }
  const r = new Reader(buf, start + 1, end, PROTOCOL_VIOLATION);
  const version = r.u32('version');
  const dcidLen = r.u8('DCID length');
  // §17.2: a v1 long header with a CID over 20 bytes is dropped (RFC 8999 allows 255 for others).
  if (dcidLen > MAX_CID_LENGTH && version !== 0) drop('DCID longer than 20 bytes');
  const dcid = r.bytes(dcidLen, 'DCID');
  const scidLen = r.u8('SCID length');
  if (scidLen > MAX_CID_LENGTH && version !== 0) drop('SCID longer than 20 bytes');
  const scid = r.bytes(scidLen, 'SCID');
  if (version === 0) {
    // §17.2.1 Version Negotiation: the rest is a list of 32-bit versions.
    if (r.remaining === 0 || r.remaining % 4 !== 0) drop('Version Negotiation list length');
    const supportedVersions: number[] = [];
    while (r.remaining > 0) supportedVersions.push(r.u32('supported version'));
    return {
      type: 'version_negotiation',
      version,
      firstByte: first,
      dcid,
      scid,
      token: EMPTY,
      start,
      pnOffset: -1,
      end,
      supportedVersions,
    };
  }
  if (!isSupportedVersion(version)) drop(`unsupported version 0x${version.toString(16)}`);
  // §17.2: packets with the fixed bit 0 are not valid in this version (RFC 9287 aside).
  if ((first & 0x40) === 0 && !greaseQuicBit) drop('fixed bit is 0');
  const type = (version === QUIC_V2 ? V2_TYPES : V1_TYPES)[(first >> 4) & 3]!;
  let token: Uint8Array = EMPTY;
  if (type === 'retry') {
    // §17.2.5: Retry Token then the 16-byte Retry Integrity Tag; an empty token is discarded.
    if (r.remaining <= TAG_LENGTH) drop('Retry without token');
    token = r.bytes(r.remaining - TAG_LENGTH, 'Retry token');
    return { type, version, firstByte: first, dcid, scid, token, start, pnOffset: -1, end };
  }
  if (type === 'initial') token = r.bytes(r.varint('token length'), 'token');
  const length = r.varint('length');
  const pnOffset = r.pos;
  if (length > end - pnOffset) drop('Length beyond the datagram');
  return {
    type,
    version,
    firstByte: first,
    dcid,
    scid,
    token,
    start,
    pnOffset,
    end: pnOffset + length,
  };
}

/** RFC 8999 invariants of a long header of any version (for Version Negotiation replies):
 * undefined if buf does not hold one. */
export function parseInvariants(
  buf: Uint8Array,
): { version: number; dcid: Uint8Array; scid: Uint8Array } | undefined {
  if (buf.length < 7 || (buf[0]! & 0x80) === 0) return undefined;
  const r = new Reader(buf, 1);
  try {
    const version = r.u32('version');
    const dcid = r.bytes(r.u8('DCID length'), 'DCID');
    const scid = r.bytes(r.u8('SCID length'), 'SCID');
    return { version, dcid, scid };
  } catch {
    return undefined;
  }
}

/**
 * Splits a datagram into its coalesced packets (§12.2), parsing each header. Parsing stops
 * at the first packet that cannot be parsed: `error` holds why, and the packets before it are
 * still returned (§12.2: each packet is processed on its own).
 */
export function splitDatagram(
  buf: Uint8Array,
  shortDcidLength: number,
  start = 0,
  end = buf.length,
  greaseQuicBit = false,
): { packets: PacketHeader[]; error?: QuicError } {
  const packets: PacketHeader[] = [];
  let pos = start;
  while (pos < end) {
    try {
      const h = parseHeader(buf, pos, end, shortDcidLength, greaseQuicBit);
      packets.push(h);
      pos = h.end;
    } catch (err) {
      return { packets, error: err as QuicError };
    }
  }
  return { packets };
}

function checkCid(cid: unknown, name: string): Uint8Array {
  if (!(cid instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (cid.length > MAX_CID_LENGTH) throw new RangeError(`${name} must be at most 20 bytes`);
  return cid;
}

/**
 * The version-independent part of a long header (RFC 8999 §5.1): first byte, version, DCID and
 * SCID with their lengths, at buf[off]. Returns the offset after the SCID.
 */
function writeLongPrefix(
  buf: Uint8Array,
  off: number,
  first: number,
  version: number,
  dcid: Uint8Array,
  scid: Uint8Array,
): number {
  buf[off] = first;
  buf[off + 1] = version >>> 24;
  buf[off + 2] = (version >>> 16) & 0xff;
  buf[off + 3] = (version >>> 8) & 0xff;
  buf[off + 4] = version & 0xff;
  let p = off + 5;
  buf[p++] = dcid.length;
  buf.set(dcid, p);
  p += dcid.length;
  buf[p++] = scid.length;
  buf.set(scid, p);
  return p + scid.length;
}

/** Bytes of a long header up to and including the packet number, with a 2-byte Length. */
export function longHeaderSize(
  type: 'initial' | '0rtt' | 'handshake',
  dcid: Uint8Array,
  scid: Uint8Array,
  token: Uint8Array,
  pnLength: number,
): number {
  let n = 1 + 4 + 1 + dcid.length + 1 + scid.length + 2 + pnLength;
  if (type === 'initial')
    n += (token.length < 64 ? 1 : token.length < 16384 ? 2 : 4) + token.length;
  return n;
}

/**
 * Writes a long header (Initial, 0-RTT or Handshake) at buf[off] up to the packet number,
 * with a 2-byte Length field holding `length` (pn + payload + tag; patch it later with
 * writeLongHeaderLength). Returns the offset after the packet number.
 */
export function writeLongHeader(
  buf: Uint8Array,
  off: number,
  type: 'initial' | '0rtt' | 'handshake',
  version: number,
  dcid: Uint8Array,
  scid: Uint8Array,
  token: Uint8Array,
  pn: number,
  pnLength: number,
  length = 0,
): number {
  if (!isSupportedVersion(version))
    throw new RangeError(`version 0x${version.toString(16)} is not supported`);
  checkCid(dcid, 'dcid');
  checkCid(scid, 'scid');
  if (!(pnLength >= 1 && pnLength <= 4)) throw new RangeError('pnLength must be 1..4');
  const size = longHeaderSize(type, dcid, scid, token, pnLength);
  if (off < 0 || off + size > buf.length) throw new RangeError('header does not fit the buffer');
  // §17.2: header form 1, fixed bit 1, type, reserved 0, packet number length - 1.
  const first = 0xc0 | (longTypeBits(version, type) << 4) | (pnLength - 1);
  let p = writeLongPrefix(buf, off, first, version, dcid, scid);
  if (type === 'initial') {
    const tl = token.length < 64 ? 1 : token.length < 16384 ? 2 : 4;
    p = writeVarintN(buf, p, token.length, tl);
    buf.set(token, p);
    p += token.length;
  }
  p = writeVarintN(buf, p, length, 2);
  return writePacketNumber(buf, p, pn, pnLength);
}

/** Sets the 2-byte Length field of a long header that ends (with its pn) at headerEnd. */
export function writeLongHeaderLength(
  buf: Uint8Array,
  headerEnd: number,
  pnLength: number,
  length: number,
): void {
  writeVarintN(buf, headerEnd - pnLength - 2, length, 2);
}

/**
 * Writes a short header (§17.3.1) at buf[off]: fixed bit, spin bit, key phase, packet number
 * length. Returns the offset after the packet number.
 */
export function writeShortHeader(
  buf: Uint8Array,
  off: number,
  dcid: Uint8Array,
  pn: number,
  pnLength: number,
  keyPhase: number,
  spin = false,
): number {
  if (!(pnLength >= 1 && pnLength <= 4)) throw new RangeError('pnLength must be 1..4');
  if (off < 0 || off + 1 + dcid.length + pnLength > buf.length)
    throw new RangeError('header does not fit the buffer');
  buf[off] = 0x40 | (spin ? 0x20 : 0) | (keyPhase ? 0x04 : 0) | (pnLength - 1);
  // A byte loop beats TypedArray.set for a CID of at most 20 bytes.
  for (let i = 0; i < dcid.length; i++) buf[off + 1 + i] = dcid[i]!;
  return writePacketNumber(buf, off + 1 + dcid.length, pn, pnLength);
}

/**
 * A Version Negotiation packet (§17.2.1) answering a client packet: `dcid` is the client's
 * SCID and `scid` the client's DCID. The unused first-byte bits are arbitrary (§17.2.1):
 * random unless given.
 */
export function encodeVersionNegotiation(
  dcid: Uint8Array,
  scid: Uint8Array,
  versions: readonly number[],
  unusedBits: number = randomBytes(1)[0]!,
): Buffer {
  if (!(dcid instanceof Uint8Array) || dcid.length > 255)
    throw new RangeError('dcid must be at most 255 bytes');
  if (!(scid instanceof Uint8Array) || scid.length > 255)
    throw new RangeError('scid must be at most 255 bytes');
  if (versions.length === 0) throw new RangeError('versions must not be empty');
  const out = Buffer.allocUnsafe(7 + dcid.length + scid.length + 4 * versions.length);
  let p = writeLongPrefix(out, 0, 0x80 | (unusedBits & 0x7f), 0, dcid, scid);
  for (const v of versions) {
    out.writeUInt32BE(v, p);
    p += 4;
  }
  return out;
}

/** A Retry packet (§17.2.5) with its integrity tag (RFC 9001 §5.8 / RFC 9369 §3.3.3). */
export function encodeRetry(
  version: number,
  dcid: Uint8Array,
  scid: Uint8Array,
  token: Uint8Array,
  originalDcid: Uint8Array,
  unusedBits: number = randomBytes(1)[0]! & 0x0f,
): Buffer {
  if (!isSupportedVersion(version))
    throw new RangeError(`version 0x${version.toString(16)} is not supported`);
  checkCid(dcid, 'dcid');
  checkCid(scid, 'scid');
  if (!(token instanceof Uint8Array) || token.length === 0)
    throw new RangeError('token must not be empty');
  const body = Buffer.allocUnsafe(7 + dcid.length + scid.length + token.length);
  // §17.2.5: the low 4 bits are unused (arbitrary; random unless given).
  const first = 0xc0 | (longTypeBits(version, 'retry') << 4) | (unusedBits & 0x0f);
  body.set(token, writeLongPrefix(body, 0, first, version, dcid, scid));
  return Buffer.concat([body, retryIntegrityTag(version, originalDcid, body)]);
}

/** True if the Retry packet `header` (from parseHeader) carries a valid integrity tag for the
 * client's original DCID. */
export function verifyRetry(
  buf: Uint8Array,
  header: PacketHeader,
  originalDcid: Uint8Array,
): boolean {
  if (header.type !== 'retry') return false;
  return verifyRetryIntegrity(header.version, originalDcid, buf.subarray(header.start, header.end));
}

/** §10.3: a Stateless Reset of `size` bytes (>= 21) carrying `token`, looking like a short
 * header packet (fixed bit 1, the rest unpredictable: drawn from `random`). */
export function encodeStatelessReset(
  token: Uint8Array,
  size: number,
  random: RandomSource = randomBytes,
): Buffer {
  if (!(token instanceof Uint8Array) || token.length !== 16)
    throw new RangeError('token must be 16 bytes');
  if (!Number.isInteger(size) || size < MIN_STATELESS_RESET)
    throw new RangeError('size must be >= 21');
  const out = Buffer.from(random(size));
  out[0] = 0x40 | (out[0]! & 0x3f);
  out.set(token, size - 16);
  return out;
}

/**
 * §10.3.1: true if `datagram` ends in `token` (compared in constant time). A datagram shorter
 * than 21 bytes is never a Stateless Reset.
 */
export function isStatelessReset(datagram: Uint8Array, token: Uint8Array): boolean {
  if (datagram.length < MIN_STATELESS_RESET || token.length !== 16) return false;
  const tail = datagram.subarray(datagram.length - 16);
  return timingSafeEqual(tail, token);
}
