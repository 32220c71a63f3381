/**
 * Stream state for the connection (RFC 9000 §2, §3): one object per open stream joining its
 * send half (SendBuffer + peer credit) and receive half (RecvBuffer + our window). The
 * connection owns the map, the frames and the limits; this file holds the per-stream parts.
 */
import { RecvWindow, SendCredit } from './flow-control.js';
import { RecvBuffer } from './recv-buffer.js';
import { SendBuffer } from './send-buffer.js';

/** RFC 9000 §2.1: bit 0 = initiator (0 client, 1 server), bit 1 = unidirectional. */
export function isUni(id: number): boolean {
  return (id & 2) !== 0;
}
export function isServerInitiated(id: number): boolean {
  return (id & 1) !== 0;
}
/** Stream index within its type (id >> 2), exact beyond 2^32. */
export function streamIndex(id: number): number {
  return Math.floor(id / 4);
}
export function streamId(index: number, server: boolean, uni: boolean): number {
  return index * 4 + (uni ? 2 : 0) + (server ? 1 : 0);
}

export class Stream {
  /** Send half (absent on a peer-initiated unidirectional stream). */
  readonly send: SendBuffer | undefined;
  readonly credit: SendCredit | undefined;
  /** Receive half (absent on a locally initiated unidirectional stream). */
  readonly recv: RecvBuffer | undefined;
  readonly window: RecvWindow | undefined;
  /** RESET_STREAM to send (code), and its final size; -1 when none. */
  resetCode = -1;
  resetFinalSize = 0;
  resetPending = false;
  resetAcked = false;
  /** STOP_SENDING to send (-1 none). */
  stopCode = -1;
  stopPending = false;
  stopAcked = false;
  /** The peer reset the receive half (RFC 9000 §3.2 "Reset Recvd"). */
  recvReset = false;
  /** STOP_SENDING was sent: incoming data is discarded. */
  recvStopped = false;
  /** A FIN/reset was reported to the application through read()/events. */
  recvDone = false;
  /** write() refused bytes: emit 'writable' when room opens. */
  wantWritable = false;
  /** MAX_STREAM_DATA update pending. */
  maxDataPending = false;
  /** Queued in the connection's send round-robin. */
  queued = false;

  constructor(
    readonly id: number,
    hasSend: boolean,
    hasRecv: boolean,
    sendLimit: number,
    recvWindow: number,
    recvMaxWindow: number,
  ) {
    if (hasSend) {
      this.send = new SendBuffer();
      this.credit = new SendCredit(sendLimit);
    }
    if (hasRecv) {
      this.window = new RecvWindow({
        window: recvWindow,
        maxWindow: Math.max(recvWindow, recvMaxWindow),
      });
      this.recv = new RecvBuffer({ limit: Infinity });
    }
  }

  /** Stream data or a FIN waits to be sent (within flow control or as retransmission). */
  get sendPending(): boolean {
    const s = this.send;
    if (!s || this.resetCode >= 0) return false;
    if (s.hasRetransmit) return true;
    if (s.sentOffset < s.written) return this.credit!.available > 0;
    return s.hasPending;
  }

  /** The send half reached a terminal state (RFC 9000 §3.1 "Data Recvd"/"Reset Recvd"). */
  get sendDone(): boolean {
    if (!this.send) return true;
    return this.resetCode >= 0 ? this.resetAcked : this.send.allAcked;
  }

  /** The receive half reached a terminal state (RFC 9000 §3.2 "Data Read"/"Reset Read"). */
  get recvFinished(): boolean {
    if (!this.recv) return true;
    return this.recvDone && (this.recvReset || this.recvStopped || this.recv.finished);
  }
}
