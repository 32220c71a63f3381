/**
 * qlog (draft-ietf-quic-qlog-quic-events) event shapes the connection emits through its
 * `qlog` callback; writing them as JSON-SEQ is the endpoint's job.
 */
import type { Frame } from './frames.js';

export interface QlogEvent {
  time: number;
  name: string;
  data: Record<string, unknown>;
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
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
      return { frame_type: 'connection_close', error_code: f.errorCode };
    default:
      return { frame_type: f.type };
  }
}
