/**
 * One stream (RFC 9000 §2, §3): a send half and a receive half, each with its own state. The
 * halves hold their buffers and flow control; StreamSet (stream-set.ts) owns the streams, the
 * frames and the limits, and drives the transitions.
 */
import { RecvWindow, SendCredit } from './flow-control.js';
import { RecvBuffer, type ReassemblyBudget } from './recv-buffer.js';
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

/** RFC 9000 §3.1 (Figure 2): states of a sending part. */
export type SendState =
  'ready' | 'send' | 'data-sent' | 'data-recvd' | 'reset-sent' | 'reset-recvd';

/**
 * States of a receiving part. RFC 9000 §3.2 (Figure 3): 'recv' stands for Recv, Size Known and
 * Data Recvd alike (how much arrived is the RecvBuffer's business); a reset is reported to the
 * application as it arrives, so Reset Recvd is Reset Read at once. 'stopped' is the
 * application abandoning the half with STOP_SENDING (§3.5): data is discarded from then on.
 * A RESET_STREAM moves 'recv', 'stopped' and 'data-read' to 'reset-read' (its final size must
 * match what arrived; the reset is reported).
 */
export type RecvState = 'recv' | 'data-read' | 'reset-read' | 'stopped';

export class SendHalf {
  state: SendState = 'ready';
  readonly buf = new SendBuffer();
  /** The peer's MAX_STREAM_DATA (RFC 9000 §4.1). */
  readonly credit: SendCredit;
  /** RESET_STREAM error code and final size (RFC 9000 §19.4), once reset. */
  resetCode = -1;
  resetFinalSize = 0;
  /** write() refused bytes: 'writable' is due when room opens (StreamSet.streamRoom, connRoom). */
  wantWritable = false;
  /** In the StreamSet's send round-robin. */
  queued = false;

  constructor(
    readonly stream: Stream,
    creditLimit: number,
  ) {
    this.credit = new SendCredit(creditLimit);
  }

  /** Reset Sent or Reset Recvd: no data is sent any more (RFC 9000 §3.1). */
  get isReset(): boolean {
    return this.state === 'reset-sent' || this.state === 'reset-recvd';
  }

  /** A terminal state: all data acknowledged, or the reset acknowledged (RFC 9000 §3.1). */
  get done(): boolean {
    return this.state === 'data-recvd' || this.state === 'reset-recvd';
  }

  /**
   * Lost data, a FIN, or new data within the stream's credit waits to be sent. `connCredit`
   * is what the connection's MAX_DATA still allows.
   */
  canSend(connCredit: number): boolean {
    const b = this.buf;
    if (this.isReset) return false;
    if (b.hasRetransmit) return true;
    if (b.sentOffset < b.written) return this.credit.available > 0 && connCredit > 0;
    return b.hasPending;
  }

  /** A STREAM frame left: Ready -> Send, and Data Sent with the FIN (RFC 9000 §3.1). */
  onSent(fin: boolean): void {
    if (fin) this.state = 'data-sent';
    else if (this.state === 'ready') this.state = 'send';
  }

  /** A STREAM frame was acknowledged: Data Recvd once everything was (RFC 9000 §3.1). */
  onAcked(offset: number, len: number, fin: boolean): void {
    this.buf.onAcked(offset, len, fin);
    if (!this.isReset && this.buf.allAcked) this.state = 'data-recvd';
  }

  /** The RESET_STREAM was acknowledged (RFC 9000 §3.1 "Reset Recvd"). */
  onResetAcked(): void {
    this.state = 'reset-recvd';
  }

  /** Abandons the data (RFC 9000 §3.1 "Reset Sent"): the final size is what was sent. */
  reset(code: number): void {
    this.state = 'reset-sent';
    this.resetCode = code;
    this.resetFinalSize = this.buf.reset();
  }
}

export class RecvHalf {
  state: RecvState = 'recv';
  readonly buf: RecvBuffer;
  /** Our MAX_STREAM_DATA (RFC 9000 §4.1). */
  readonly window: RecvWindow;
  /** STOP_SENDING error code (RFC 9000 §19.5), once stopped; and whether the peer got it. */
  stopCode = -1;
  stopAcked = false;
  /** A 'readable' event of this stream waits in the connection's event queue. */
  readableQueued = false;

  constructor(
    readonly stream: Stream,
    window: number,
    maxWindow: number,
    budget: ReassemblyBudget,
  ) {
    this.buf = new RecvBuffer({ limit: Infinity, budget });
    this.window = new RecvWindow({ window, maxWindow: Math.max(window, maxWindow) });
  }

  /** Data read up to the FIN, reset, or stopped: the application is done with the half. */
  get ended(): boolean {
    return this.state !== 'recv';
  }

  /** Incoming data is dropped (RFC 9000 §3.5: after STOP_SENDING or a reset). */
  get discarding(): boolean {
    return this.state === 'stopped' || this.state === 'reset-read';
  }

  /** The half's state can go: it ended, and a STOP_SENDING we sent was delivered (§3.5). */
  get done(): boolean {
    return this.ended && (this.stopCode < 0 || this.stopAcked);
  }
}

export class Stream {
  /** Absent on a peer-initiated unidirectional stream. */
  readonly send: SendHalf | undefined;
  /** Absent on a locally initiated unidirectional stream. */
  readonly recv: RecvHalf | undefined;

  /** `sendCredit` undefined: no send half; `recvWindow` undefined: no receive half. The
   * receive half's out-of-order state counts in `budget` (shared by the connection). */
  constructor(
    readonly id: number,
    sendCredit: number | undefined,
    recvWindow: number | undefined,
    recvMaxWindow: number,
    budget: ReassemblyBudget,
  ) {
    if (sendCredit !== undefined) this.send = new SendHalf(this, sendCredit);
    if (recvWindow !== undefined) this.recv = new RecvHalf(this, recvWindow, recvMaxWindow, budget);
  }

  /** Both halves reached a terminal state (RFC 9000 §3): the stream can be freed. */
  get closed(): boolean {
    return (this.send?.done ?? true) && (this.recv?.done ?? true);
  }
}

/** What a sent packet carried for a stream, for acknowledgement and loss (RFC 9000 §13.3). */
export type StreamSentFrame =
  | { t: 'stream'; half: SendHalf; offset: number; len: number; fin: boolean }
  | { t: 'reset'; half: SendHalf }
  | { t: 'stop'; half: RecvHalf }
  | { t: 'max_stream_data'; half: RecvHalf; max: number };
