/**
 * What an ACK frame and a lost packet mean for a connection (RFC 9002 §6, §7; RFC 9000 §13.3):
 * acknowledged and lost frames go back to the part of the connection that sent them (CRYPTO to
 * its space, stream frames to the streams, control frames to their queue), ECN counts are
 * validated (RFC 9000 §13.4.2), and path MTU probes are answered (pmtud.ts).
 */
import { decodeAckDelay, PacketSpace } from './ack-tracker.js';
import type { ConnectionCore } from './connection-core.js';
import { QuicError } from './errors.js';
import { FrameType, type EcnCounts, type Frame } from './frames.js';
import { packetType } from './packetizer.js';
import { qlogPacket } from './qlog.js';
import type { SentPacket } from './recovery/index.js';
import type { PacketMeta } from './spaces.js';

const App = PacketSpace.ApplicationData;

export function onAck(
  c: ConnectionCore,
  space: PacketSpace,
  ranges: { start: number; end: number }[],
  ackDelayField: number,
  ecn: EcnCounts | undefined,
  now: number,
): void {
  const exp = space === App ? (c.peer?.ackDelayExponent ?? 3) : 3;
  const r = c.ld.onAckReceived(space, ranges, decodeAckDelay(ackDelayField, exp), now);
  if (r.error)
    throw new QuicError(r.error, 'ACK of an unsent packet', { frameType: FrameType.ACK });
  // The arrays are loss detection's own, reused by its next onAckReceived (only this function
  // calls it, and nothing below does): read in place, no copy per ACK frame. Emptied after,
  // also on a throw: they would keep the last acknowledged packets (and their frames) alive.
  const { acked, lost } = r;
  const changed = acked.length > 0 || lost.length > 0;
  try {
    for (let i = 0; i < acked.length; i++) onAcked(c, space, acked[i]!, now);
    for (let i = 0; i < lost.length; i++) onLost(c, space, lost[i]!, now);
    if (acked.length > 0) onAckEcn(c, space, ranges[0]!.end, acked, ecn, now);
  } finally {
    acked.length = 0;
    lost.length = 0;
  }
  if (c.qlog && changed)
    c.emitQlog(now, 'recovery:metrics_updated', {
      smoothed_rtt: c.ld.rtt.smoothedRtt,
      min_rtt: c.ld.rtt.minRtt,
      latest_rtt: c.ld.rtt.latestRtt,
      congestion_window: c.ld.cc.cwnd,
      bytes_in_flight: c.ld.bytesInFlight,
    });
}

/** RFC 9000 §13.4.2.1: validates the ACK's ECN counts; a validated increase in CE is a
 * congestion signal (RFC 9002 §7.1), dated by the newest packet acknowledged. */
function onAckEcn(
  c: ConnectionCore,
  space: PacketSpace,
  largest: number,
  acked: readonly SentPacket<PacketMeta>[],
  ecn: EcnCounts | undefined,
  now: number,
): void {
  let marked = 0;
  let newest = acked[0]!;
  for (const p of acked) {
    if (p.frames.ecn) marked++;
    if (p.pn > newest.pn) newest = p;
  }
  if (c.ecn.onAck(space, largest, marked, ecn) > 0) c.ld.cc.onCongestionEvent(newest.timeSent, now);
}

function onAcked(
  c: ConnectionCore,
  space: PacketSpace,
  p: SentPacket<PacketMeta>,
  now: number,
): void {
  const sp = c.spaces[space];
  if (space === App) {
    const old = c.pmtu.size;
    if (!p.mtuProbe) c.pmtu.onPacketAcked(p.pn, p.size);
    else if (c.pmtu.onProbeAcked(p.pn, now)) c.onMtuUpdated(old, now);
  }
  if (p.frames.phase >= 0) {
    // RFC 9001 §4.1.2: a client may consider the handshake confirmed on an ACK of 1-RTT.
    if (c.role === 'client' && !c.handshakeConfirmed && c.info) c.confirmHandshake(now);
    c.keys.onAcked(p.frames.phase, p.pn);
  }
  for (const f of p.frames.frames) {
    switch (f.t) {
      case 'ack':
        sp.acks.onAckAcknowledged(f.largest);
        break;
      case 'crypto':
        sp.cryptoAcked(f.offset, f.len);
        break;
      case 'stream':
      case 'reset':
      case 'stop':
      case 'max_stream_data':
        c.streams.onAcked(f);
        break;
      default:
        break;
    }
  }
}

export function onLost(
  c: ConnectionCore,
  space: PacketSpace,
  p: SentPacket<PacketMeta>,
  now: number,
): void {
  const sp = c.spaces[space];
  if (c.qlog) c.emitQlog(now, 'recovery:packet_lost', qlogPacket(packetType(space), p.pn));
  // A path MTU probe carries nothing to send again (RFC 9000 §14.4).
  if (p.mtuProbe) return c.pmtu.onProbeLost(p.pn, now);
  c._stats.packetsLost++;
  if (p.frames.ecn) c.ecn.onMarkedLost();
  const old = c.pmtu.size;
  if (space === App && c.pmtu.onPacketLost(p.pn, p.size, now)) c.onMtuUpdated(old, now);
  for (const f of p.frames.frames) {
    switch (f.t) {
      case 'crypto':
        sp.cryptoLost(f.offset, f.len);
        break;
      case 'stream':
      case 'reset':
      case 'stop':
      case 'max_stream_data':
        c.streams.onLost(f);
        break;
      case 'handshake_done':
        c.control.handshakeDonePending = true;
        break;
      case 'challenge':
        // RFC 9000 §8.2.1: a new PATH_CHALLENGE (same data is fine) until validated.
        c.path.onChallengeLost();
        break;
      case 'ctrl':
        onCtrlLost(c, f.f);
        break;
      default:
        break;
    }
  }
}

function onCtrlLost(c: ConnectionCore, f: Frame): void {
  switch (f.type) {
    case 'max_data':
    case 'max_streams':
    case 'data_blocked':
    case 'streams_blocked':
    case 'stream_data_blocked':
      return c.streams.onCtrlLost(f);
    case 'new_connection_id':
      if (c.cids.hasLocal(f.sequence)) c.control.queue.push(f);
      return;
    case 'retire_connection_id':
    case 'new_token':
      c.control.queue.push(f);
      return;
    default:
      return;
  }
}
