// Packet builder (ARCHITECTURE.md, "Data path"): frames are written straight into one
// pre-allocated send slab, each packet leaving room for its header and 16-byte tag; Initial
// datagrams are padded to 1200 bytes (RFC 9000 §14.1); protect() seals every packet of the
// batch with one native call (protectBatch).
import { PROTECT_DESC, protectBatch, type PacketKey } from '../crypto/packet.js';
import { enabled } from '../debug/log.js';
import { encodeFrame, frameSize, type Frame } from './frames.js';
import {
  MIN_INITIAL_DATAGRAM,
  TAG_LENGTH,
  longHeaderSize,
  writeLongHeader,
  writeLongHeaderLength,
  writeShortHeader,
} from './header.js';
import { describeFrames, logPacket } from './packet-log.js';
import { packetNumberLength } from './packet-number.js';

export interface PacketSpec {
  type: 'initial' | '0rtt' | 'handshake' | '1rtt';
  /** Long headers: QUIC_V1 or QUIC_V2 (ignored for 1-RTT). */
  version: number;
  dcid: Uint8Array;
  /** Long headers only. */
  scid?: Uint8Array;
  /** Initial only (the token from Retry or NEW_TOKEN). */
  token?: Uint8Array;
  packetNumber: number;
  /** Largest packet number the peer acknowledged in this space (-1 if none): picks the
   * packet number length (RFC 9000 §17.1, A.2). */
  largestAcked: number;
  /** Index of this packet's key in the array given to protect(). */
  keyIndex: number;
  /** 1-RTT: key phase bit (RFC 9001 §6). */
  keyPhase?: number;
  /** 1-RTT: spin bit (RFC 9000 §17.4). */
  spin?: boolean;
}

const EMPTY = new Uint8Array(0);

/** What frame writers outside the builder use of it: the open packet's room and where to write. */
export type FrameWriter = Pick<PacketBuilder, 'room' | 'slab' | 'pos' | 'writeFrame' | 'advance'>;

export class PacketBuilder {
  readonly slab: Uint8Array;
  /** Where the next frame byte goes (inside the open packet). */
  pos = 0;
  private readonly desc: Float64Array;
  private readonly maxPackets: number;
  private packets = 0;
  // Open packet.
  private open = false;
  private pStart = 0;
  private pHeaderEnd = 0;
  private pPnLength = 0;
  private pLong = false;
  private pInitial = false;
  private pLimit = 0;
  private pKeyIndex = 0;
  private pPn = 0;
  private pSpec: PacketSpec | undefined;
  private pFrames: string[] = [];
  // Open datagram.
  private dStart = 0;
  private dLimit = 0;
  private dHasInitial = false;
  private dLastPacket = -1;
  private dLastLong = false;
  private dLastHeaderEnd = 0;
  private dLastPnLength = 0;
  private readonly dBounds: number[] = [];
  /** Packets in the batch before each finished datagram, and before the open one. */
  private readonly dFirstPackets: number[] = [];
  private dFirstPacket = 0;
  /** The keys of the batch's packets (a batch may hold packets of many connections). */
  private readonly keys: PacketKey[] = [];
  private readonly keyIndices = new Map<PacketKey, number>();
  /** Keys to destroy once the batch is protected. */
  private readonly retired: PacketKey[] = [];

  /** @param capacity slab bytes; @param maxPackets packets per batch */
  constructor(capacity = 64 * 1024, maxPackets = 64) {
    if (!Number.isInteger(capacity) || capacity < MIN_INITIAL_DATAGRAM)
      throw new RangeError('capacity must be an integer >= 1200');
    if (!Number.isInteger(maxPackets) || maxPackets < 1)
      throw new RangeError('maxPackets must be >= 1');
    this.slab = new Uint8Array(capacity);
    this.desc = new Float64Array(PROTECT_DESC.stride * maxPackets);
    this.maxPackets = maxPackets;
  }

  /** Empties the batch (after the datagrams were sent). */
  reset(): void {
    this.pos = 0;
    this.packets = 0;
    this.open = false;
    this.dBounds.length = 0;
    this.dFirstPackets.length = 0;
    this.dLimit = 0;
    this.releaseKeys();
  }

  /** Discards the open packet and datagram and every datagram from the `datagrams`-th on
   * (what one connection wrote when it failed half-way). */
  rollback(datagrams: number): void {
    if (datagrams < this.datagramCount) {
      this.pos = this.dBounds[2 * datagrams]!;
      this.packets = this.dFirstPackets[datagrams]!;
      this.dBounds.length = 2 * datagrams;
      this.dFirstPackets.length = datagrams;
    } else if (this.dLimit !== 0) {
      this.pos = this.dStart;
      this.packets = this.dFirstPacket;
    }
    this.open = false;
    this.dLimit = 0;
  }

  /** The index of `key` in the batch's key list (PacketSpec.keyIndex for protect()). */
  keyIndex(key: PacketKey): number {
    let i = this.keyIndices.get(key);
    if (i === undefined) {
      i = this.keys.push(key) - 1;
      this.keyIndices.set(key, i);
    }
    return i;
  }

  /** A key no longer needed once the packets of this batch are protected: destroyed then. */
  retire(key: PacketKey): void {
    this.retired.push(key);
  }

  private releaseKeys(): void {
    if (this.retired.length > 0) {
      for (const k of this.retired) k.destroy();
      this.retired.length = 0;
    }
    if (this.keys.length > 0) {
      this.keys.length = 0;
      this.keyIndices.clear();
    }
  }

  /** Packets in the batch. */
  get packetCount(): number {
    return this.packets;
  }

  get datagramCount(): number {
    return this.dBounds.length / 2;
  }

  /** Slab offset where the i-th finished datagram starts. */
  datagramStart(i: number): number {
    return this.dBounds[2 * i]!;
  }

  /** Slab offset where the i-th finished datagram ends. */
  datagramEnd(i: number): number {
    return this.dBounds[2 * i + 1]!;
  }

  /** The i-th finished datagram (a view into the slab; protected after protect()). */
  datagram(i: number): Uint8Array {
    return this.slab.subarray(this.dBounds[2 * i], this.dBounds[2 * i + 1]);
  }

  /** Bytes still free in the slab for new datagrams. */
  get slabRoom(): number {
    return this.slab.length - this.pos;
  }

  /** Opens a datagram of at most maxSize bytes at the end of the batch. */
  startDatagram(maxSize: number): void {
    if (this.dLimit !== 0) throw new Error('finish the open datagram first');
    if (!Number.isInteger(maxSize) || maxSize < 21)
      throw new RangeError('maxSize must be an integer >= 21');
    this.dStart = this.pos;
    this.dFirstPacket = this.packets;
    this.dLimit = Math.min(this.slab.length, this.pos + maxSize);
    this.dHasInitial = false;
    this.dLastPacket = -1;
  }

  /** Frame bytes that still fit in the open packet (its tag accounted for). */
  get room(): number {
    return this.open ? this.pLimit - TAG_LENGTH - this.pos : 0;
  }

  /**
   * Writes the header of a new packet in the open datagram. Returns false (writing nothing)
   * when the header, a 4-byte minimum payload and the tag do not fit, or the batch is full.
   */
  startPacket(spec: PacketSpec): boolean {
    if (this.dLimit === 0) throw new Error('startDatagram first');
    if (this.open) throw new Error('finish the open packet first');
    if (this.packets === this.maxPackets) return false;
    const pnLength = packetNumberLength(spec.packetNumber, spec.largestAcked);
    const long = spec.type !== '1rtt';
    const scid = spec.scid ?? EMPTY;
    const token = spec.token ?? EMPTY;
    const headerSize = long
      ? longHeaderSize(spec.type as 'initial', spec.dcid, scid, token, pnLength)
      : 1 + spec.dcid.length + pnLength;
    if (this.pos + headerSize + 4 + TAG_LENGTH > this.dLimit) return false;
    const start = this.pos;
    this.pHeaderEnd = long
      ? writeLongHeader(
          this.slab,
          start,
          spec.type as 'initial',
          spec.version,
          spec.dcid,
          scid,
          token,
          spec.packetNumber,
          pnLength,
        )
      : writeShortHeader(
          this.slab,
          start,
          spec.dcid,
          spec.packetNumber,
          pnLength,
          spec.keyPhase ?? 0,
          spec.spin,
        );
    this.open = true;
    // A long header's 2-byte Length field bounds the packet (pn + payload + tag < 2^14).
    this.pLimit = long ? Math.min(this.dLimit, this.pHeaderEnd - pnLength + 0x3fff) : this.dLimit;
    this.pStart = start;
    this.pPnLength = pnLength;
    this.pLong = long;
    this.pInitial = spec.type === 'initial';
    this.pKeyIndex = spec.keyIndex;
    this.pPn = spec.packetNumber;
    this.pos = this.pHeaderEnd;
    if (enabled('packets')) {
      this.pSpec = spec;
      this.pFrames.length = 0;
    }
    return true;
  }

  /** Encodes a frame into the open packet; RangeError if it does not fit (check room /
   * frameSize first). */
  writeFrame(frame: Frame): void {
    if (!this.open) throw new Error('startPacket first');
    if (frameSize(frame) > this.room)
      throw new RangeError(`${frame.type} frame does not fit the packet`);
    this.pos = encodeFrame(this.slab, this.pos, frame);
    if (this.pSpec) this.pFrames.push(describeFrames([frame]));
  }

  /** Marks `n` bytes the caller wrote at `pos` itself (e.g. a STREAM header + data). */
  advance(n: number): void {
    if (!this.open || !(n >= 0) || n > this.room)
      throw new RangeError('advance beyond the packet room');
    this.pos += n;
    if (this.pSpec) this.pFrames.push(`raw(${n})`);
  }

  /** Discards the open packet (nothing written for it remains). */
  cancelPacket(): void {
    if (!this.open) return;
    this.pos = this.pStart;
    this.open = false;
  }

  /** Closes the open packet: pads it so header protection has its sample (RFC 9001 §5.4.2)
   * and records it for protect(). Returns the packet's protected length. */
  finishPacket(): number {
    if (!this.open) throw new Error('no open packet');
    const spec = this.pSpec;
    // §5.4.2: the sample starts 4 bytes after the pn: pnLength + payload >= 4.
    const minPayload = 4 - this.pPnLength;
    if (this.pos - this.pHeaderEnd < minPayload) this.pad(this.pHeaderEnd + minPayload);
    const payloadLength = this.pos - this.pHeaderEnd;
    if (this.pLong)
      writeLongHeaderLength(
        this.slab,
        this.pHeaderEnd,
        this.pPnLength,
        this.pPnLength + payloadLength + TAG_LENGTH,
      );
    const d = this.desc;
    const i = PROTECT_DESC.stride * this.packets;
    const pn = this.pPn;
    d[i + PROTECT_DESC.keyIndex] = this.pKeyIndex;
    d[i + PROTECT_DESC.start] = this.pStart;
    d[i + PROTECT_DESC.headerLength] = this.pHeaderEnd - this.pStart;
    d[i + PROTECT_DESC.pnLength] = this.pPnLength;
    d[i + PROTECT_DESC.payloadLength] = payloadLength;
    d[i + PROTECT_DESC.packetNumber] = pn;
    this.dLastPacket = this.packets++;
    this.dLastLong = this.pLong;
    this.dLastHeaderEnd = this.pHeaderEnd;
    this.dLastPnLength = this.pPnLength;
    if (this.pInitial) this.dHasInitial = true;
    this.pos += TAG_LENGTH;
    this.open = false;
    const length = this.pos - this.pStart;
    if (spec) {
      logPacket(
        'tx',
        spec.type,
        spec.version,
        spec.dcid,
        spec.scid ?? EMPTY,
        pn,
        length,
        this.pFrames.join(' '),
      );
      this.pSpec = undefined;
    }
    return length;
  }

  /**
   * Closes the open datagram. §14.1: a datagram carrying an Initial packet is padded to 1200
   * bytes with PADDING frames in its last packet (a server may pass padInitial = false for a
   * datagram without ack-eliciting Initial packets, e.g. under its anti-amplification limit,
   * §8.1). Returns the datagram length (0 if empty).
   */
  finishDatagram(padInitial = true): number {
    if (this.open) throw new Error('finish the open packet first');
    if (this.dLimit === 0) throw new Error('no open datagram');
    if (padInitial && this.dHasInitial && this.pos - this.dStart < MIN_INITIAL_DATAGRAM) {
      if (this.dLimit - this.dStart < MIN_INITIAL_DATAGRAM)
        throw new RangeError('a datagram with an Initial packet needs maxSize >= 1200');
      const extra = MIN_INITIAL_DATAGRAM - (this.pos - this.dStart);
      // Grow the last packet's payload: move its tag slot and zero the new PADDING bytes.
      const payloadSlot = PROTECT_DESC.stride * this.dLastPacket + PROTECT_DESC.payloadLength;
      const payloadEnd = this.pos - TAG_LENGTH;
      this.slab.fill(0, payloadEnd, payloadEnd + extra);
      this.desc[payloadSlot] += extra;
      this.pos += extra;
      if (this.dLastLong)
        writeLongHeaderLength(
          this.slab,
          this.dLastHeaderEnd,
          this.dLastPnLength,
          this.dLastPnLength + this.desc[payloadSlot]! + TAG_LENGTH,
        );
    }
    const length = this.pos - this.dStart;
    if (length > 0) {
      this.dBounds.push(this.dStart, this.pos);
      this.dFirstPackets.push(this.dFirstPacket);
    }
    this.dLimit = 0;
    return length;
  }

  private pad(to: number): void {
    this.slab.fill(0, this.pos, to);
    this.pos = to;
  }

  /** Protects every finished packet of the batch with one native call: with `keys` as indexed
   * by the PacketSpecs, by default the batch's own list (keyIndex()). Retired keys are then
   * destroyed. */
  protect(keys: readonly PacketKey[] = this.keys): void {
    if (this.open || this.dLimit !== 0)
      throw new Error('finish the open packet and datagram first');
    if (this.packets > 0) protectBatch(keys, this.slab, this.desc, this.packets);
    this.releaseKeys();
  }
}
