/**
 * Turns what a connection has to send into datagrams in the caller's PacketBuilder: one packet
 * per packet number space with keys, coalesced (RFC 9000 §12.2); ACK frames first, then the
 * space's other frames in priority order; Initial datagrams padded (§14.1); within the
 * anti-amplification limit (§8.1), the congestion window and the pacer (RFC 9002 §7), except
 * ACK-only packets and probes (§6.2.4); path MTU probes (pmtud.ts) in datagrams of their own.
 * Each packet sent is recorded for loss recovery.
 */
import type { PacketKey } from '../crypto/packet.js';
import { PacketSpace } from './ack-tracker.js';
import { PacketBuilder, type PacketSpec } from './builder.js';
import type { ConnectionCloseFrame } from './close.js';
import type { ControlFrames } from './control-frames.js';
import { TransportError } from './errors.js';
import type { ConnectionCounters } from './events.js';
import { frameSize, type Frame } from './frames.js';
import { MIN_INITIAL_DATAGRAM } from './header.js';
import type { AppKeys } from './key-phases.js';
import type { Path } from './path.js';
import type { Pmtud } from './pmtud.js';
import { qlogFrame, qlogPacket, qlogSentFrame } from './qlog.js';
import type { LossDetection, Pacer, PacketNumberSkipper, SentPacket } from './recovery/index.js';
import type { EcnValidator } from './ecn.js';
import type { PacketMeta, SentFrame, Space } from './spaces.js';
import type { StreamSet } from './stream-set.js';

const { Initial, Handshake, ApplicationData: App } = PacketSpace;
const SPACES = [Initial, Handshake, App] as const;
/** Where the packetizer writes outside write() / writeClose(): nowhere. */
const NO_BUILDER = new PacketBuilder(MIN_INITIAL_DATAGRAM, 1);
/** The smallest datagram worth sending a CONNECTION_CLOSE in. */
const MIN_CLOSE_DATAGRAM = 64;
/** The packets of the datagram being written and their spaces (at most one per space),
 * shared by all connections (a datagram is written in one go): no list per datagram. */
const DG_PACKETS: (SentPacket<PacketMeta> | undefined)[] = [undefined, undefined, undefined];
const DG_SPACES: PacketSpace[] = [Initial, Handshake, App];
/** The frames of the packet being written, copied into the packet's record: one list for every
 * connection (memory per connection), as a packet is written within one synchronous call. */
const SCRATCH: SentFrame[] = [];

/** What the packetizer asks of its connection. */
export interface PacketizerHost {
  readonly role: 'client' | 'server';
  readonly version: number;
  /** Header fields of our packets (RFC 9000 §17). */
  readonly dcid: Uint8Array;
  readonly scid: Uint8Array;
  /** The client's Initial token (from Retry or NEW_TOKEN). */
  readonly token: Uint8Array;
  /** 1-RTT packets may be written: a client's once its handshake completed (0-RTT before,
   * RFC 9001 §5.7), a server's as soon as it has the keys. */
  readonly oneRttAllowed: boolean;
  /** DATAGRAM frames go only on an established connection. */
  readonly established: boolean;
  /** An ack-eliciting packet went out. */
  onAckElicitingSent(now: number): void;
  /** The client sent its first Handshake packet (RFC 9001 §4.9.1: Initial keys go). */
  onFirstHandshakePacket(now: number): void;
  /** Bytes went out on the path: the amplification limit may bind now (RFC 9000 §8.1). */
  onPathBytesSent(now: number): void;
  /** A path MTU probe went out. */
  onMtuProbeSent(pn: number): void;
  /** Emits a qlog event; undefined when nobody listens (events are not even built then). */
  readonly qlogEmit:
    ((now: number, name: string, data: Record<string, unknown>) => void) | undefined;
}

/** The parts of the connection whose frames go into packets. */
export interface PacketSources {
  readonly spaces: readonly [Space, Space, Space];
  readonly keys: AppKeys;
  readonly path: Path;
  readonly ld: LossDetection<PacketMeta>;
  readonly pacer: Pacer;
  readonly control: ControlFrames;
  readonly streams: StreamSet;
  readonly _stats: ConnectionCounters;
  readonly pnSkip: PacketNumberSkipper;
  readonly ecn: EcnValidator;
  /** The datagram size (path MTU discovery). */
  readonly pmtu: Pmtud;
}

/** The type of the packets we send in `space`. */
export function packetType(space: PacketSpace, zeroRtt = false): PacketSpec['type'] {
  if (space === Initial) return 'initial';
  if (space === Handshake) return 'handshake';
  return zeroRtt ? '0rtt' : '1rtt';
}

export class Packetizer {
  /** When pacing lets the next ack-eliciting packet go (0: no wait). */
  pacingAt = 0;
  private b: PacketBuilder = NO_BUILDER;
  private handshakeSent = false;

  constructor(
    private readonly host: PacketizerHost,
    private readonly src: PacketSources,
  ) {}

  /** Writes up to `max` datagrams of what is due at the end of `out`; returns how many. */
  write(out: PacketBuilder, now: number, max: number): number {
    const first = out.datagramCount;
    this.b = out;
    try {
      let i = max > 0 && this.mtuProbe(now) ? 1 : 0;
      for (; i < max; i++) if (!this.datagram(now)) break;
    } finally {
      this.b = NO_BUILDER;
    }
    // RFC 9002 §7.8: the window had room and nothing waits: do not grow it on ACKs.
    const cc = this.src.ld.cc;
    cc.appLimited = cc.canSend(this.src.pmtu.size) && this.pacingAt === 0 && !this.hasAppData();
    return out.datagramCount - first;
  }

  /**
   * One datagram with CONNECTION_CLOSE in every space the peer may be able to read (RFC 9000
   * §10.2.3): before the handshake is confirmed the peer may lack 1-RTT (or Handshake) keys,
   * so the frame also goes in Handshake and, while we have the keys, Initial packets. Returns
   * false when the amplification limit leaves no room for it.
   */
  writeClose(out: PacketBuilder, now: number, close: ConnectionCloseFrame): boolean {
    const { spaces, keys, path, _stats: stats } = this.src;
    // RFC 9000 §8.1: within the anti-amplification limit.
    const room = Math.min(path.amplificationRoom(), this.src.pmtu.size);
    if (room < MIN_CLOSE_DATAGRAM) return false;
    this.b = out;
    try {
      out.startDatagram(Math.floor(room));
      for (const space of SPACES) {
        const sp = spaces[space];
        const key = space !== App ? sp.writeKey : this.host.oneRttAllowed ? keys.write : undefined;
        if (!key || sp.discarded) continue;
        // §10.2.3: in Initial and Handshake packets an application close (0x1d) is replaced by
        // a transport close (0x1c) with APPLICATION_ERROR and no reason.
        let frame: ConnectionCloseFrame =
          space !== App && close.application ? CONVERTED_CLOSE : close;
        if (!this.startPacket(space, key)) continue;
        const over = frameSize(frame) - out.room;
        if (over > 0) {
          // Shorten the reason phrase to fit (it is only diagnostic).
          if (over > frame.reason.length) {
            out.cancelPacket();
            continue;
          }
          frame = { ...frame, reason: frame.reason.subarray(0, frame.reason.length - over) };
        }
        out.writeFrame(frame);
        const size = out.finishPacket();
        const pn = sp.nextPn++;
        this.host.qlogEmit?.(
          now,
          'transport:packet_sent',
          qlogPacket(packetType(space), pn, size, [qlogFrame(frame)]),
        );
      }
      // CONNECTION_CLOSE is not ack-eliciting: only a client pads it (RFC 9000 §14.1).
      const len = out.finishDatagram(this.host.role === 'client');
      path.bytesSent += len;
      stats.bytesSent += len;
    } finally {
      this.b = NO_BUILDER;
    }
    return true;
  }

  /** Something waits to be sent in the application space (beyond ACKs). */
  hasAppData(): boolean {
    const { control, path, spaces, streams } = this.src;
    if (control.hasData(this.host.established) || path.hasFrames) return true;
    return spaces[App].cryptoPending || streams.hasData;
  }

  /** One datagram, coalescing Initial, Handshake and 1-RTT packets. False if nothing to send. */
  private datagram(now: number): boolean {
    const { ld, pacer, path, pmtu, spaces, _stats: stats } = this.src;
    const b = this.b;
    let limit = spaces[App].probes > 0 ? pmtu.ptoDatagramSize : pmtu.size;
    const amp = path.amplificationRoom();
    if (amp < limit) {
      // RFC 9000 §8.1: at most 3x the bytes received before the address is validated.
      if (amp < MIN_INITIAL_DATAGRAM) {
        this.host.onPathBytesSent(now);
        return false;
      }
      limit = Math.floor(amp);
    }
    if (b.slabRoom < limit) return false;
    // Congestion control and pacing gate ack-eliciting packets (not ACKs or probes).
    const cc = ld.cc;
    let ccOk = cc.canSend(limit);
    if (ccOk) {
      const t = pacer.nextSendTime(now, limit, cc.cwnd, ld.rtt.smoothedRtt);
      if (t > now) {
        ccOk = false;
        this.pacingAt = t;
      }
    }
    b.startDatagram(limit);
    const packets = DG_PACKETS;
    const spacesOf = DG_SPACES;
    let count = 0;
    let size = 0;
    let initialEliciting = false;
    for (const space of SPACES) {
      const p = this.packet(space, now, ccOk);
      if (p) {
        packets[count] = p;
        spacesOf[count++] = space;
        size += p.size;
        if (space === Initial && p.ackEliciting) initialEliciting = true;
      }
    }
    // RFC 9000 §14.1: a client pads every datagram carrying an Initial packet, a server only
    // those with an ack-eliciting one (its ACK-only Initials would waste amplification budget).
    const len = b.finishDatagram(this.host.role === 'client' || initialEliciting);
    if (len === 0) {
      packets.fill(undefined, 0, count);
      return false;
    }
    if (len > size) {
      // Initial padding went into the last packet: it now counts in flight.
      const last = packets[count - 1]!;
      last.size += len - size;
      last.inFlight = true;
    }
    let eliciting = false;
    for (let i = 0; i < count; i++) {
      const p = packets[i]!;
      packets[i] = undefined; // (the record keeps it, not the packetizer)
      ld.onPacketSent(spacesOf[i]!, p, now);
      if (p.ackEliciting) eliciting = true;
      stats.packetsSent++;
    }
    if (eliciting) {
      pacer.onPacketSent(now, len, cc.cwnd, ld.rtt.smoothedRtt);
      this.host.onAckElicitingSent(now);
    }
    path.bytesSent += len;
    stats.bytesSent += len;
    if (this.handshakeSent) {
      this.handshakeSent = false;
      this.host.onFirstHandshakePacket(now);
    }
    this.host.onPathBytesSent(now);
    return true;
  }

  /**
   * A path MTU probe when one is due (RFC 9000 §14.4, RFC 8899 §4.1): a datagram of its own,
   * one 1-RTT packet of PING and PADDING up to the probed size, within the congestion window
   * and the pacer. Nothing in it is sent again when it is lost. False if none went out.
   */
  private mtuProbe(now: number): boolean {
    const { keys, ld, pacer, path, pmtu, spaces, _stats: stats } = this.src;
    const size = pmtu.probeSize(now);
    const key = keys.write;
    const b = this.b;
    if (size === 0 || !key || !path.validated || b.slabRoom < size) return false;
    const cc = ld.cc;
    if (!cc.canSend(size) || pacer.nextSendTime(now, size, cc.cwnd, ld.rtt.smoothedRtt) > now)
      return false;
    b.startDatagram(size);
    if (!this.startPacket(App, key)) {
      b.finishDatagram(false);
      return false;
    }
    b.writeFrame(PING);
    const padding: Frame = { type: 'padding', length: b.room };
    b.writeFrame(padding);
    b.finishPacket();
    const len = b.finishDatagram(false);
    const sp = spaces[App];
    const pn = sp.nextPn++;
    keys.packetsThisKey++;
    this.host.qlogEmit?.(
      now,
      'transport:packet_sent',
      qlogPacket('1rtt', pn, len, [qlogFrame(PING), qlogFrame(padding)]),
    );
    ld.onPacketSent(
      App,
      {
        pn,
        timeSent: now,
        size: len,
        ackEliciting: true,
        inFlight: true,
        mtuProbe: true,
        frames: {
          frames: [{ t: 'other', name: 'ping' }],
          phase: keys.writePhase,
          ecn: this.src.ecn.onSent(App),
        },
      },
      now,
    );
    stats.packetsSent++;
    pacer.onPacketSent(now, len, cc.cwnd, ld.rtt.smoothedRtt);
    this.host.onAckElicitingSent(now);
    this.host.onMtuProbeSent(pn);
    path.bytesSent += len;
    stats.bytesSent += len;
    return true;
  }

  /** The packet of `space` in the open datagram, or null when it has nothing to send. */
  private packet(space: PacketSpace, now: number, ccOk: boolean): SentPacket<PacketMeta> | null {
    const { spaces, keys } = this.src;
    const sp = spaces[space];
    if (sp.discarded) return null;
    // The client sends 1-RTT only after the handshake completes (RFC 9001 §5.7), 0-RTT before.
    const zeroRtt = space === App && !this.host.oneRttAllowed;
    const key = space !== App ? sp.writeKey : zeroRtt ? keys.zeroRttWrite : keys.write;
    if (!key) return null;
    const b = this.b;
    const probe = sp.probes > 0;
    // RFC 9000 §12.4: no ACK frames in 0-RTT packets.
    const ackWanted =
      !zeroRtt && (sp.acks.ackDue(now) || (sp.acks.hasNewAcks && sp.acks.ackImmediately));
    const hasData = space === App ? this.hasAppData() : sp.cryptoPending;
    // Only application data waits for the congestion window. Initial and Handshake packets
    // count in flight (RFC 9002 §7), but their CRYPTO data, small and bounded by the
    // anti-amplification limit, must not wait behind 0-RTT or 0.5-RTT data the peer cannot
    // acknowledge before it has that CRYPTO data: with no PTO armed for application data
    // before the handshake is confirmed (§6.2.1), a lost ClientHello or ServerHello part
    // would never be sent again.
    const mayElicit = ccOk || probe || space !== App;
    if (!ackWanted && !(hasData && mayElicit) && !probe) return null;
    // RFC 9000 §21.4: now and then a number goes unused, to expose optimistic ACKs.
    if (space === App && this.src.pnSkip.skipNext()) this.src.ld.skipPacketNumber(App, sp.nextPn++);
    if (!this.startPacket(space, key, zeroRtt)) return null;
    const frames = SCRATCH;
    if (frames.length !== 0) frames.length = 0; // (a writer that threw may have left some)
    let eliciting = false;
    if (!zeroRtt && (sp.acks.hasNewAcks || ackWanted)) sp.writeAck(b, frames, now);
    if (mayElicit) {
      if (space === App) eliciting = this.appFrames(frames, now);
      eliciting = sp.writeCrypto(b, frames) || eliciting;
      if (space === App) eliciting = this.src.streams.writeData(b, frames) || eliciting;
      if (probe && !eliciting && b.room >= 1) {
        b.writeFrame({ type: 'ping' });
        frames.push({ t: 'other', name: 'ping' });
        eliciting = true;
      }
    }
    if (frames.length === 0) {
      b.cancelPacket();
      return null;
    }
    // The packet keeps an exact-size copy (memory per connection: a pushed-to array has room
    // for 17); the scratch list lets go of the frames.
    const sent = frames.slice();
    frames.length = 0;
    const size = b.finishPacket();
    const pn = sp.nextPn++;
    if (probe && eliciting) sp.probes--;
    if (space === App && !zeroRtt) keys.packetsThisKey++;
    if (space === Handshake && this.host.role === 'client' && !spaces[Initial].discarded)
      this.handshakeSent = true;
    this.host.qlogEmit?.(
      now,
      'transport:packet_sent',
      qlogPacket(packetType(space, zeroRtt), pn, size, sent.map(qlogSentFrame)),
    );
    return {
      pn,
      timeSent: now,
      size,
      ackEliciting: eliciting,
      inFlight: eliciting,
      mtuProbe: false,
      // 0-RTT packets count as no phase: their ACK does not confirm the handshake.
      frames: {
        frames: sent,
        phase: space === App && !zeroRtt ? keys.writePhase : -1,
        ecn: this.src.ecn.onSent(space),
      },
    };
  }

  /** The application space's frames besides STREAM data, in the order they go out. */
  private appFrames(frames: SentFrame[], now: number): boolean {
    const { control, path, streams, ld } = this.src;
    const b = this.b;
    let wrote = control.write(b, frames);
    wrote = path.writeFrames(b, frames) || wrote;
    wrote = streams.writeControl(b, frames, now, ld.rtt.smoothedRtt) || wrote;
    if (this.host.established) wrote = control.writeDatagrams(b, frames) || wrote;
    return wrote;
  }

  private startPacket(space: PacketSpace, key: PacketKey, zeroRtt = false): boolean {
    const sp = this.src.spaces[space];
    const host = this.host;
    const type = packetType(space, zeroRtt);
    return this.b.startPacket({
      type,
      version: host.version,
      dcid: host.dcid,
      scid: type === '1rtt' ? undefined : host.scid, // (a copy each time: long headers only)
      token: space === Initial && host.role === 'client' ? host.token : undefined,
      packetNumber: sp.nextPn,
      largestAcked: this.src.ld.largestAckedIn(space),
      keyIndex: this.b.keyIndex(key),
      keyPhase: this.src.keys.writePhase,
    });
  }
}

const PING: Frame = Object.freeze({ type: 'ping' });

/** RFC 9000 §10.2.3: an application close as Initial and Handshake packets carry it. */
const CONVERTED_CLOSE: ConnectionCloseFrame = Object.freeze({
  type: 'connection_close',
  application: false,
  errorCode: TransportError.APPLICATION_ERROR,
  frameType: 0,
  reason: new Uint8Array(0),
});
