/**
 * qlog (draft-ietf-quic-qlog-quic-events) event shapes the connection emits through its
 * `qlog` callback; writing them as JSON-SEQ is the endpoint's job.
 */
import type { Frame } from './frames.js';
import type { PacketType } from './header.js';
import type { SentFrame } from './spaces.js';

export interface QlogEvent {
  time: number;
  name: string;
  data: Record<string, unknown>;
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** qlog's PacketType values (draft-ietf-quic-qlog-quic-events): the 0-RTT and 1-RTT names are
 * upper case there, unlike this stack's header types. */
export type QlogPacketType =
  'initial' | 'handshake' | '0RTT' | '1RTT' | 'retry' | 'version_negotiation';

/** The qlog PacketType of a packet header type (header.ts). */
export function qlogPacketType(type: PacketType): QlogPacketType {
  switch (type) {
    case '0rtt':
      return '0RTT';
    case '1rtt':
      return '1RTT';
    case 'initial':
    case 'handshake':
    case 'retry':
    case 'version_negotiation':
      return type;
    default:
      throw new TypeError(`type must be a packet type, got ${String(type)}`);
  }
}

/** The data of a transport:packet_sent / packet_received / packet_dropped or recovery:packet_lost
 * event: the header, and the length and frames when known. */
export function qlogPacket(
  type: PacketType,
  pn?: number,
  length?: number,
  frames?: Record<string, unknown>[],
): Record<string, unknown> {
  const header: Record<string, unknown> = { packet_type: qlogPacketType(type) };
  if (pn !== undefined) header.packet_number = pn;
  const data: Record<string, unknown> = { header };
  if (length !== undefined) data.raw = { length };
  if (frames) data.frames = frames;
  return data;
}

/** A received frame as a qlog QuicFrame object. */
export function qlogFrame(f: Frame): Record<string, unknown> {
  switch (f.type) {
    case 'stream':
      return {
        frame_type: 'stream',
        stream_id: f.streamId,
        offset: f.offset,
        length: f.data.length,
        fin: f.fin,
      };
    case 'crypto':
      return { frame_type: 'crypto', offset: f.offset, length: f.data.length };
    case 'ack':
      return { frame_type: 'ack', acked_ranges: f.ranges.map((r) => [r.start, r.end]) };
    case 'connection_close':
      return {
        frame_type: 'connection_close',
        error_space: f.application ? 'application' : 'transport',
        error_code: f.errorCode,
        reason: Buffer.from(f.reason).toString('utf8'),
      };
    default:
      return { frame_type: f.type };
  }
}

/** A sent frame (as the connection records it for loss recovery) as a qlog QuicFrame. */
export function qlogSentFrame(f: SentFrame): Record<string, unknown> {
  switch (f.t) {
    case 'stream':
      return {
        frame_type: 'stream',
        stream_id: f.half.stream.id,
        offset: f.offset,
        length: f.len,
        fin: f.fin,
      };
    case 'crypto':
      return { frame_type: 'crypto', offset: f.offset, length: f.len };
    case 'ack':
      return { frame_type: 'ack', largest_acknowledged: f.largest };
    case 'ctrl':
      return qlogFrame(f.f);
    case 'reset':
      return {
        frame_type: 'reset_stream',
        stream_id: f.half.stream.id,
        error_code: f.half.resetCode,
      };
    case 'stop':
      return {
        frame_type: 'stop_sending',
        stream_id: f.half.stream.id,
        error_code: f.half.stopCode,
      };
    case 'max_stream_data':
      return { frame_type: 'max_stream_data', stream_id: f.half.stream.id, maximum: f.max };
    case 'challenge':
      return { frame_type: 'path_challenge' };
    case 'handshake_done':
      return { frame_type: 'handshake_done' };
    case 'other':
      return { frame_type: f.name };
  }
}
