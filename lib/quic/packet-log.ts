// ZQUIC_DEBUG_PACKETS: one line per packet sent or received (direction, type, version,
// CIDs, packet number, length, frames), and one per dropped datagram or packet.
import { QUIC_V1, QUIC_V2 } from '../crypto/packet.js';
import { debug } from '../debug/log.js';
import type { Frame } from './frames.js';

const hex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

function versionName(version: number): string {
  if (version === QUIC_V1) return 'v1';
  if (version === QUIC_V2) return 'v2';
  return `0x${version.toString(16).padStart(8, '0')}`;
}

/** A compact description of one frame, e.g. STREAM(4,off=0,len=1000,fin). */
export function describeFrame(f: Frame): string {
  switch (f.type) {
    case 'padding':
      return `PADDING(${f.length})`;
    case 'ack': {
      const r = f.ranges
        .map((x) => (x.start === x.end ? `${x.end}` : `${x.start}-${x.end}`))
        .join(',');
      return `ACK(${r};delay=${f.ackDelay}${f.ecn ? `;ecn=${f.ecn.ect0}/${f.ecn.ect1}/${f.ecn.ce}` : ''})`;
    }
    case 'crypto':
      return `CRYPTO(off=${f.offset},len=${f.data.length})`;
    case 'stream':
      return `STREAM(${f.streamId},off=${f.offset},len=${f.data.length}${f.fin ? ',fin' : ''})`;
    case 'reset_stream':
      return `RESET_STREAM(${f.streamId},err=${f.errorCode},final=${f.finalSize})`;
    case 'stop_sending':
      return `STOP_SENDING(${f.streamId},err=${f.errorCode})`;
    case 'max_data':
      return `MAX_DATA(${f.maximum})`;
    case 'max_stream_data':
      return `MAX_STREAM_DATA(${f.streamId},${f.maximum})`;
    case 'max_streams':
      return `MAX_STREAMS(${f.bidi ? 'bidi' : 'uni'},${f.maximum})`;
    case 'data_blocked':
      return `DATA_BLOCKED(${f.limit})`;
    case 'stream_data_blocked':
      return `STREAM_DATA_BLOCKED(${f.streamId},${f.limit})`;
    case 'streams_blocked':
      return `STREAMS_BLOCKED(${f.bidi ? 'bidi' : 'uni'},${f.limit})`;
    case 'new_connection_id':
      return `NEW_CONNECTION_ID(seq=${f.sequence},rpt=${f.retirePriorTo},cid=${hex(f.connectionId)})`;
    case 'retire_connection_id':
      return `RETIRE_CONNECTION_ID(${f.sequence})`;
    case 'new_token':
      return `NEW_TOKEN(len=${f.token.length})`;
    case 'path_challenge':
    case 'path_response':
      return `${f.type.toUpperCase()}(${hex(f.data)})`;
    case 'connection_close':
      return `CONNECTION_CLOSE(${f.application ? 'app' : 'transport'},err=0x${f.errorCode.toString(16)}${
        f.application ? '' : `,frame=0x${f.frameType.toString(16)}`
      },reason=${JSON.stringify(Buffer.from(f.reason).toString('utf8'))})`;
    case 'datagram':
      return `DATAGRAM(len=${f.data.length})`;
    default:
      return f.type.toUpperCase();
  }
}

export function describeFrames(frames: readonly Frame[]): string {
  return frames.map(describeFrame).join(' ');
}

/** Logs one packet line when ZQUIC_DEBUG_PACKETS is on. */
export function logPacket(
  direction: 'rx' | 'tx',
  type: string,
  version: number,
  dcid: Uint8Array,
  scid: Uint8Array,
  pn: number,
  length: number,
  frames: string | readonly Frame[],
): void {
  debug('packets', () => {
    const v = type === '1rtt' ? '' : ` ${versionName(version)}`;
    const s = type === '1rtt' ? '' : ` scid=${hex(scid)}`;
    const f = typeof frames === 'string' ? frames : describeFrames(frames);
    return `${direction} ${type}${v} dcid=${hex(dcid)}${s} pn=${pn} len=${length} [${f}]`;
  });
}

/** Logs a dropped datagram or packet and why. */
export function logDrop(direction: 'rx' | 'tx', what: string, reason: string): void {
  debug('packets', () => `${direction} drop ${what}: ${reason}`);
}
