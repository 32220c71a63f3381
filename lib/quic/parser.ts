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
import { equalBytes } from './bytes.js';
import { PROTOCOL_VIOLATION, QuicError } from './errors.js';
import { PacketMask, decodeFrame, type Frame, type FramePacketType } from './frames.js';
import { parseHeader, TAG_LENGTH, type PacketHeader } from './header.js';
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

  /** Unprotects every queued packet of `slab` in place: one native call (a lone packet takes
   * the single-packet entry, which skips the descriptor checks of a batch). */
  run(keys: readonly PacketKey[], slab: Uint8Array): void {
    if (this.n > 1) return unprotectBatch(keys, slab, this.desc, this.n, this.results);
    if (this.n === 0) return;
    const d = this.desc;
    const D = UNPROTECT_DESC;
    this.results[0] = keys[d[D.keyIndex]!]!.unprotect(
      slab,
      d[D.start]!,
      d[D.pnOffset]!,
      d[D.end]!,
      d[D.largestPn]!,
      d[D.expectedKeyPhase]!,
    );
  }

  /** What unprotectPacket would have returned for packet i. */
  result(i: number): number {
    return this.results[i]!;
  }
}

/** Keys for one received packet: undefined leaves it to the caller (no key for it yet). */
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

/** Not unprotected by the batch: no key when it was queued (or the batch was full). */
export const NO_KEY = -4;
export const NOT_PROTECTED = -5;
/** §12.2: a coalesced packet whose DCID differs from the first packet's is ignored. */
export const DCID_MISMATCH = -6;

/** What logDrop says of an unprotect status. */
export function statusName(status: number): string {
  switch (status) {
    case UNPROTECT_AUTH_FAILED:
      return 'authentication failed';
    case UNPROTECT_KEY_PHASE:
      return 'key phase';
    case NO_KEY:
      return 'no key';
    case DCID_MISMATCH:
      return 'DCID differs from the first packet (§12.2)';
    default:
      return 'malformed';
  }
}

/**
 * The receive path (ARCHITECTURE.md "Data path"): the datagrams of one buffer are split into
 * their packets (RFC 9000 §12.2), every packet whose key is known is unprotected in place by
 * one native call, and the caller then takes the packets in order. A packet queued without a
 * key (NO_KEY) is the caller's to retry once earlier packets have installed keys, and a
 * UNPROTECT_KEY_PHASE result (header protection removed, payload not opened) is the caller's
 * to open with another key phase (RFC 9001 §6.3).
 */
export class ReceiveBatch {
  private slab: Uint8Array = NO_BYTES;
  private readonly headers: PacketHeader[] = [];
  /** The caller's tag of the datagram each packet came from. */
  private readonly tags: number[] = [];
  /** Index in the unprotector, or a status (< 0). */
  private readonly slots: number[] = [];
  private readonly keys: PacketKey[] = [];
  private readonly unprotector: BatchUnprotector;
  /** Packets in the batch (the arrays are reused, not emptied, between batches). */
  private n = 0;

  constructor(
    readonly shortDcidLength: number,
    maxPackets = 64,
  ) {
    this.unprotector = new BatchUnprotector(maxPackets);
  }

  /** Starts a batch over `slab`: datagrams are then given as offsets into it. */
  reset(slab: Uint8Array): this {
    this.slab = slab;
    this.n = 0;
    this.unprotector.clear();
    return this;
  }

  /**
   * Splits slab[start, end) and queues its packets with the keys `lookup` gives. Returns the
   * number of packets (0: the first header is unparseable and the datagram is dropped).
   */
  addDatagram(start: number, end: number, tag: number, lookup: KeyLookup, grease = false): number {
    const first = this.n;
    for (let pos = start; pos < end;) {
      let h: PacketHeader;
      try {
        // Short headers of one connection share their DCID: one view for the batch.
        const prev = this.n > 0 ? this.headers[this.n - 1]!.dcid : undefined;
        h = parseHeader(this.slab, pos, end, this.shortDcidLength, grease, prev);
      } catch (err) {
        const what = this.n > first ? 'rest of datagram' : 'datagram';
        logDrop('rx', what, (err as Error).message);
        break;
      }
      const i = this.n++;
      this.headers[i] = h;
      this.tags[i] = tag;
      this.slots[i] = this.queue(h, this.headers[first]!, lookup);
      pos = h.end;
    }
    return this.n - first;
  }

  private queue(h: PacketHeader, first: PacketHeader, lookup: KeyLookup): number {
    if (h !== first && !equalBytes(first.dcid, h.dcid)) return DCID_MISMATCH;
    if (h.type === 'version_negotiation' || h.type === 'retry') return NOT_PROTECTED;
    const k = lookup(h);
    if (!k) return NO_KEY;
    let keyIndex = this.keys.indexOf(k.key);
    if (keyIndex < 0) keyIndex = this.keys.push(k.key) - 1;
    const phase = h.type === '1rtt' ? (k.expectedKeyPhase ?? -1) : -1;
    const slot = this.unprotector.add(keyIndex, h, k.largestPn, phase);
    return slot < 0 ? NO_KEY : slot;
  }

  /** Unprotects every queued packet in place: one native call. */
  run(): void {
    this.unprotector.run(this.keys, this.slab);
    this.keys.length = 0; // a batch does not keep keys alive
  }

  get length(): number {
    return this.n;
  }

  header(i: number): PacketHeader {
    return this.headers[i]!;
  }

  tag(i: number): number {
    return this.tags[i]!;
  }

  /** After run(): the full packet number, or NO_KEY / NOT_PROTECTED / DCID_MISMATCH / an
   * UNPROTECT_* status. */
  status(i: number): number {
    const slot = this.slots[i]!;
    return slot < 0 ? slot : this.unprotector.result(slot);
  }

  /** Lets go of the slab and the headers' views into it. */
  release(): void {
    this.slab = NO_BYTES;
    this.headers.length = 0;
    this.n = 0;
  }
}

const parseBatch = new ReceiveBatch(0);

/**
 * Parses a received datagram end to end through the receive path: splits it (§12.2),
 * unprotects each packet with the key `keys` gives, decodes the frames. A datagram whose first
 * header is unparseable yields no packets (dropped); packets that fail authentication are
 * dropped and reported by status; a malformed frame in an authentic packet is reported as
 * `error`. Never throws for any datagram content. `greaseQuicBit`: accept a fixed bit of 0
 * (RFC 9287, after advertising it).
 */
export function parseDatagram(
  buf: Uint8Array,
  shortDcidLength: number,
  keys: KeyLookup,
  options: { greaseQuicBit?: boolean } = {},
): ParsedPacket[] {
  const batch =
    parseBatch.shortDcidLength === shortDcidLength ? parseBatch : new ReceiveBatch(shortDcidLength);
  batch.reset(buf).addDatagram(0, buf.length, 0, keys, options.greaseQuicBit ?? false);
  batch.run();
  const out: ParsedPacket[] = [];
  try {
    for (let i = 0; i < batch.length; i++) {
      const header = batch.header(i);
      const pn = batch.status(i);
      if (pn < 0) {
        if (pn !== NOT_PROTECTED) logDrop('rx', `${header.type} packet`, statusName(pn));
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
  } finally {
    batch.release();
  }
  return out;
}
