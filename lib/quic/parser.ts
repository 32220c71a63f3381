// Packet parser (ARCHITECTURE.md, "Data path"): splits a datagram into its packets, removes
// protection in place (one packet, or a whole batch with one native call), and decodes the
// frames as views into the same buffer.
import {
  UNPROTECT_AUTH_FAILED,
  UNPROTECT_DESC,
  UNPROTECT_KEY_PHASE,
  UNPROTECT_MALFORMED,
  unprotectBatch,
  type PacketKey,
} from '../crypto/packet.js';
import { enabled } from '../debug/log.js';
import { PROTOCOL_VIOLATION, QuicError } from './errors.js';
import { PacketMask, decodeFrame, type Frame, type FramePacketType } from './frames.js';
import { TAG_LENGTH, splitDatagram, type PacketHeader } from './header.js';
import { logDrop, logPacket } from './packet-log.js';
import { Reader } from './varint.js';

export { UNPROTECT_AUTH_FAILED, UNPROTECT_KEY_PHASE, UNPROTECT_MALFORMED };

/**
 * Removes protection from the packet `header` describes, in place. Returns the full packet
 * number, or UNPROTECT_MALFORMED / UNPROTECT_AUTH_FAILED / UNPROTECT_KEY_PHASE (RFC 9001 §5).
 * `expectedKeyPhase`: -1 for long headers, the current key phase (0/1) for 1-RTT.
 */
export function unprotectPacket(
  key: PacketKey,
  buf: Uint8Array,
  header: PacketHeader,
  largestPn: number,
  expectedKeyPhase = -1,
): number {
  if (header.pnOffset < 0) return UNPROTECT_MALFORMED;
  return key.unprotect(
    buf,
    header.start,
    header.pnOffset - header.start,
    header.end,
    largestPn,
    expectedKeyPhase,
  );
}

/** After unprotecting: first plaintext payload byte (the pn length is in the unmasked first byte). */
export function payloadStart(buf: Uint8Array, header: PacketHeader): number {
  return header.pnOffset + (buf[header.start]! & 3) + 1;
}

/** After unprotecting: end of the plaintext payload (the tag follows). */
export function payloadEnd(header: PacketHeader): number {
  return header.end - TAG_LENGTH;
}

/**
 * After unprotecting: RFC 9000 §17.2/§17.3.1: non-zero reserved bits are PROTOCOL_VIOLATION
 * (a connection error: the packet was authentic).
 */
export function checkReservedBits(buf: Uint8Array, header: PacketHeader): void {
  const mask = header.type === '1rtt' ? 0x18 : 0x0c;
  if ((buf[header.start]! & mask) !== 0)
    throw new QuicError(PROTOCOL_VIOLATION, 'reserved header bits are not 0');
}

/**
 * Iterates the frames of a plaintext payload without allocating anything but the frames:
 * `reset()` then `next()` until undefined. Throws QuicError on a malformed or misplaced frame.
 */
const NO_BYTES = new Uint8Array(0);

export class FrameReader {
  private readonly r = new Reader(NO_BYTES);
  private mask = 0;

  reset(buf: Uint8Array, start: number, end: number, packetType: FramePacketType): this {
    // §12.4: a packet with no frames is PROTOCOL_VIOLATION.
    if (start >= end) throw new QuicError(PROTOCOL_VIOLATION, 'packet without frames');
    this.r.reset(buf, start, end);
    this.mask = PacketMask[packetType];
    return this;
  }

  next(): Frame | undefined {
    return this.r.pos < this.r.end ? decodeFrame(this.r, this.mask) : undefined;
  }

  /** Lets go of the payload's buffer. */
  release(): void {
    this.r.reset(NO_BYTES, 0, 0);
  }
}

// readPacketFrames runs to completion, so one reader serves every packet.
const packetReader = new FrameReader();

/** Decodes all frames of an unprotected packet. */
export function readPacketFrames(buf: Uint8Array, header: PacketHeader): Frame[] {
  if (
    header.type !== 'initial' &&
    header.type !== '0rtt' &&
    header.type !== 'handshake' &&
    header.type !== '1rtt'
  )
    throw new QuicError(PROTOCOL_VIOLATION, `${header.type} packets carry no frames`);
  checkReservedBits(buf, header);
  const reader = packetReader.reset(
    buf,
    payloadStart(buf, header),
    payloadEnd(header),
    header.type,
  );
  const out: Frame[] = [];
  try {
    for (let f = reader.next(); f; f = reader.next()) out.push(f);
  } finally {
    reader.release(); // no receive buffer stays reachable from here
  }
  return out;
}

/** Unprotects many packets of one receive slab with one native call (unprotectBatch). */
export class BatchUnprotector {
  private readonly desc: Float64Array;
  private readonly results: Float64Array;
  private n = 0;

  constructor(readonly maxPackets = 64) {
    if (!Number.isInteger(maxPackets) || maxPackets < 1)
      throw new RangeError('maxPackets must be >= 1');
    this.desc = new Float64Array(UNPROTECT_DESC.stride * maxPackets);
    this.results = new Float64Array(maxPackets);
  }

  get count(): number {
    return this.n;
  }

  clear(): void {
    this.n = 0;
  }

  /** Queues a packet; returns its index, or -1 if the batch is full. */
  add(keyIndex: number, header: PacketHeader, largestPn: number, expectedKeyPhase = -1): number {
    if (this.n === this.maxPackets) return -1;
    const d = this.desc;
    const i = UNPROTECT_DESC.stride * this.n;
    d[i + UNPROTECT_DESC.keyIndex] = keyIndex;
    d[i + UNPROTECT_DESC.start] = header.start;
    d[i + UNPROTECT_DESC.pnOffset] = header.pnOffset - header.start;
    d[i + UNPROTECT_DESC.end] = header.end;
    d[i + UNPROTECT_DESC.largestPn] = largestPn;
    d[i + UNPROTECT_DESC.expectedKeyPhase] = expectedKeyPhase;
    return this.n++;
  }

  /** Unprotects every queued packet of `slab` in place. */
  run(keys: readonly PacketKey[], slab: Uint8Array): void {
    if (this.n > 0) unprotectBatch(keys, slab, this.desc, this.n, this.results);
  }

  /** What unprotectPacket would have returned for packet i. */
  result(i: number): number {
    return this.results[i]!;
  }
}

/** Keys for one received packet: undefined drops it (no keys for that space yet). */
export type KeyLookup = (
  header: PacketHeader,
) => { key: PacketKey; largestPn: number; expectedKeyPhase?: number } | undefined;

export interface ParsedPacket {
  header: PacketHeader;
  /** Full packet number (>= 0) or an UNPROTECT_* status; NO_KEY (-4) when no key was
   * available, NOT_PROTECTED (-5) for Version Negotiation and Retry, DCID_MISMATCH (-6). */
  packetNumber: number;
  frames?: Frame[];
  /** A protocol error in an authentic packet: the connection closes with error.code. */
  error?: QuicError;
}

export const NO_KEY = -4;
export const NOT_PROTECTED = -5;
/** §12.2: a coalesced packet whose DCID differs from the first packet's is ignored. */
export const DCID_MISMATCH = -6;

function sameDcid(first: PacketHeader, h: PacketHeader): boolean {
  const a = first.dcid;
  const b = h.dcid;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Parses a received datagram end to end: splits it (§12.2), unprotects each packet with the
 * key `keys` gives, decodes the frames. A datagram whose first header is unparseable yields
 * no packets (dropped); packets that fail authentication are dropped and reported by status;
 * a malformed frame in an authentic packet is reported as `error`. Never throws for any
 * datagram content. `greaseQuicBit`: accept a fixed bit of 0 (RFC 9287, after advertising it).
 */
export function parseDatagram(
  buf: Uint8Array,
  shortDcidLength: number,
  keys: KeyLookup,
  options: { greaseQuicBit?: boolean } = {},
): ParsedPacket[] {
  const { packets, error } = splitDatagram(
    buf,
    shortDcidLength,
    0,
    buf.length,
    options.greaseQuicBit ?? false,
  );
  if (error) logDrop('rx', packets.length ? 'rest of datagram' : 'datagram', error.message);
  const out: ParsedPacket[] = [];
  for (const header of packets) {
    if (header !== packets[0] && !sameDcid(packets[0]!, header)) {
      logDrop(
        'rx',
        `coalesced ${header.type} packet`,
        'DCID differs from the first packet (§12.2)',
      );
      out.push({ header, packetNumber: DCID_MISMATCH });
      continue;
    }
    if (header.type === 'version_negotiation' || header.type === 'retry') {
      out.push({ header, packetNumber: NOT_PROTECTED });
      continue;
    }
    const k = keys(header);
    if (!k) {
      logDrop('rx', `${header.type} packet`, 'no key');
      out.push({ header, packetNumber: NO_KEY });
      continue;
    }
    const phase = header.type === '1rtt' ? (k.expectedKeyPhase ?? -1) : -1;
    const pn = unprotectPacket(k.key, buf, header, k.largestPn, phase);
    if (pn < 0) {
      logDrop(
        'rx',
        `${header.type} packet`,
        pn === UNPROTECT_AUTH_FAILED
          ? 'authentication failed'
          : pn === UNPROTECT_KEY_PHASE
            ? 'key phase'
            : 'malformed',
      );
      out.push({ header, packetNumber: pn });
      continue;
    }
    try {
      const frames = readPacketFrames(buf, header);
      if (enabled('packets'))
        logPacket(
          'rx',
          header.type,
          header.version,
          header.dcid,
          header.scid,
          pn,
          header.end - header.start,
          frames,
        );
      out.push({ header, packetNumber: pn, frames });
    } catch (err) {
      const e = err instanceof QuicError ? err : new QuicError(PROTOCOL_VIOLATION, String(err));
      logDrop('rx', `${header.type} packet ${pn}`, e.message);
      out.push({ header, packetNumber: pn, error: e });
    }
  }
  return out;
}
