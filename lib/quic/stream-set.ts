/**
 * The streams of a connection (RFC 9000 §2-§4): the open streams, the limits on how many each
 * side may open, connection-level flow control, the stream frames received from the peer,
 * the stream frames to send (and to send again when lost), and the application's stream API.
 *
 * No packets, keys or clocks here: the connection passes a frame writer for the packet being
 * built, `now` and the smoothed RTT, and collects what happened from the `events` and `ctrl`
 * sinks it owns. Protocol violations throw QuicError with the RFC 9000 §20.1 code.
 */
import type { PacketBuilder } from './builder.js';
import { checkCode } from './checks.js';
import { added, emptyMap, emptySet, withEntry } from './empty.js';
import { QuicError, TransportError } from './errors.js';
import {
  LocalStreamLimit,
  PeerStreamLimit,
  RecvWindow,
  SendCredit,
  type WindowPool,
} from './flow-control.js';
import { FrameType, streamHeaderSize, writeStreamHeader, type Frame } from './frames.js';
import { DROPPED, ReassemblyBudget } from './recv-buffer.js';
import { SendBudget } from './send-buffer.js';
import type { SentFrame } from './spaces.js';
import {
  isServerInitiated,
  isUni,
  SendHalf,
  Stream,
  streamId,
  streamIndex,
  type RecvHalf,
  type StreamSentFrame,
} from './streams.js';
import type { ResolvedTransportParameters } from './transport-params.js';

export type { StreamSentFrame };

const { FLOW_CONTROL_ERROR, STREAM_STATE_ERROR } = TransportError;

// Room a frame needs at most: its largest encoding (RFC 9000 §19, 8-byte varints). Checked
// before the frame's state is taken, so that what is taken is always written.
/** MAX_DATA (§19.9): type, Maximum Data. */
const MAX_DATA_SIZE = 1 + 8;
/** MAX_STREAM_DATA (§19.10): type, Stream ID, Maximum Stream Data. */
const MAX_STREAM_DATA_SIZE = 1 + 8 + 8;
/** RESET_STREAM (§19.4): type, Stream ID, Application Protocol Error Code, Final Size. */
const RESET_STREAM_SIZE = 1 + 8 + 8 + 8;
/** STOP_SENDING (§19.5): type, Stream ID, Application Protocol Error Code. */
const STOP_SENDING_SIZE = 1 + 8 + 8;
/**
 * Below this room a packet is full for stream data: a STREAM header (§19.8: type, 8-byte
 * Stream ID and Offset, 2-byte Length, 19 bytes) would leave fewer than 5 data bytes.
 */
const STREAM_FRAME_MIN_ROOM = 24;
/**
 * Bytes write() accepts on a stream beyond the peer's credit: enough to fill packets the
 * moment a MAX_STREAM_DATA arrives (RFC 9000 §4.1), little enough that a peer granting
 * nothing pins little memory. The rest is backpressure.
 */
export const SEND_HEAD_START = 64 * 1024;

/** The transport parameters (RFC 9000 §18.2) that set stream limits and credit. */
export type StreamLimits = Pick<
  ResolvedTransportParameters,
  | 'initialMaxData'
  | 'initialMaxStreamDataBidiLocal'
  | 'initialMaxStreamDataBidiRemote'
  | 'initialMaxStreamDataUni'
  | 'initialMaxStreamsBidi'
  | 'initialMaxStreamsUni'
>;

export type StreamEvent =
  | { type: 'stream-opened'; streamId: number }
  | { type: 'readable'; streamId: number }
  | { type: 'writable'; streamId: number }
  | { type: 'stream-reset'; streamId: number; code: number }
  | { type: 'stop-sending'; streamId: number; code: number }
  /** Both halves reached a terminal state (RFC 9000 §3): everything sent was acknowledged (or
   * the reset was), everything received was read (or reset/stopped). The stream is freed. */
  | { type: 'stream-closed'; streamId: number }
  | { type: 'streams-available'; bidirectional: boolean };

/** What readChunk() returns: ordered data (a view, or null) and whether the stream's data ends
 * with this call (the FIN is reported exactly once: with the last bytes, or with null data
 * when the FIN arrived after everything was read). */
export interface StreamRead {
  data: Uint8Array | null;
  fin: boolean;
}

/** What the streams hold now and what they refused, for the connection's stats. */
export interface StreamSetStats {
  /** Bytes written by the application and not yet acknowledged, over all streams. */
  sendBufferedBytes: number;
  /** Bytes received and not yet read, over all streams. */
  recvBufferedBytes: number;
  /** Of those, bytes held beyond a hole (out of order). */
  reassemblyBytes: number;
  /** Holes in the received data, over all streams. */
  reassemblyRanges: number;
  /** STREAM frames (or parts) not stored because the reassembly limits were reached. */
  streamFramesDropped: number;
  /** Receive windows (stream or connection) grown by auto-tuning (see RecvWindow). */
  windowUpdates: number;
  /** Largest stream receive window reached so far (bytes). */
  streamWindowMax: number;
  /** Bytes borrowed from the endpoint's window pool now: receive window beyond the initial
   * one, and send buffer beyond the guaranteed share (WindowPool in flow-control.ts). */
  pooledBytes: number;
}

/** The frames from the peer that StreamSet handles. */
export type StreamFrame = Extract<
  Frame,
  {
    type:
      | 'stream'
      | 'reset_stream'
      | 'stop_sending'
      | 'max_data'
      | 'max_stream_data'
      | 'max_streams'
      | 'data_blocked'
      | 'streams_blocked'
      | 'stream_data_blocked';
  }
>;

/** The control frames StreamSet queues in `ctrl` and sends again when lost. */
export type StreamCtrlFrame = Extract<
  Frame,
  {
    type: 'max_data' | 'max_streams' | 'data_blocked' | 'streams_blocked' | 'stream_data_blocked';
  }
>;

/** Where frames go: the packet being built. */
export type FrameWriter = Pick<PacketBuilder, 'room' | 'slab' | 'pos' | 'writeFrame' | 'advance'>;

export interface StreamSetOptions {
  /** Our role: which stream IDs are ours (RFC 9000 §2.1). */
  server: boolean;
  /** The limits we advertise in our transport parameters. */
  local: StreamLimits;
  /** Bytes write() buffers per stream (written, not yet acknowledged). */
  sendBuffer: number;
  /** Bytes write() buffers over all streams; beyond `guaranteedSendBuffer` of them (default
   * all), only within the peer's credit and with what `windowPool` lends (SendBudget in
   * send-buffer.ts). */
  connectionSendBuffer: number;
  guaranteedSendBuffer?: number;
  /** Out-of-order state held over all streams (RFC 9000 §2.2): holes, and bytes. */
  maxReassemblyRanges: number;
  maxReassemblyBytes: number;
  /** Auto-tuning caps of the receive windows of a stream and of the connection (each at
   * least the initial window of the transport parameters). */
  maxStreamWindow: number;
  maxConnectionWindow: number;
  /** Where the connection window's growth beyond initialMaxData, and send buffering beyond
   * guaranteedSendBuffer, are borrowed from. */
  windowPool?: WindowPool;
  events: { push(e: StreamEvent): unknown };
  /** Control frames to send (MAX_STREAMS and the *_BLOCKED frames). */
  ctrl: { push(f: Frame): unknown };
}

export class StreamSet {
  /** The peer's MAX_DATA (RFC 9000 §4.1). */
  readonly sendCredit = new SendCredit(0);
  /** Our MAX_DATA. */
  readonly recvWindow: RecvWindow;
  /** The peer's MAX_STREAMS: streams we may open (RFC 9000 §4.6). */
  readonly localBidi = new LocalStreamLimit(0);
  readonly localUni = new LocalStreamLimit(0);
  /** Our MAX_STREAMS: streams the peer may open. */
  private readonly peerBidi: PeerStreamLimit;
  private readonly peerUni: PeerStreamLimit;
  /** (Shared empty containers until first used: lib/quic/empty.ts.) */
  private streams: Map<number, Stream> = emptyMap();
  /** Send halves with something to send, in round-robin order. */
  private readonly sendQueue: SendHalf[] = [];
  /** Halves with a MAX_STREAM_DATA to send. */
  private maxDataUpdates: Set<RecvHalf> = emptySet();
  /** Halves with a RESET_STREAM (send half) or a STOP_SENDING (receive half) to send. */
  private signals: Set<SendHalf | RecvHalf> = emptySet();
  private readonly server: boolean;
  /** Our initial MAX_STREAM_DATA per kind of stream (RFC 9000 §18.2). */
  private readonly windowBidiLocal: number;
  private readonly windowBidiRemote: number;
  private readonly windowUni: number;
  private readonly maxStreamWindow: number;
  /** Auto-tuning figures for the stats (StreamSetStats). */
  private windowUpdates = 0;
  private streamWindowMax: number;
  /** The peer's (0 until its transport parameters are known). */
  private creditBidiLocal = 0;
  private creditBidiRemote = 0;
  private creditUni = 0;
  private readonly sendBuffer: number;
  /** Bytes buffered for sending (written, not acknowledged), all streams. */
  private readonly sendBudget: SendBudget;
  /** Send halves whose write() was cut short, waiting for 'writable'. */
  private writers: Set<SendHalf> = emptySet();
  /** A writer waits for connection-wide room (every writer is checked when it opens). */
  private connBlocked = false;
  private readonly budget: ReassemblyBudget;
  /** budget.dropped when takeDropped() last looked. */
  private droppedSeen = 0;
  private readonly events: StreamSetOptions['events'];
  private readonly ctrl: StreamSetOptions['ctrl'];

  constructor(options: StreamSetOptions) {
    this.server = options.server;
    const l = options.local;
    this.windowBidiLocal = l.initialMaxStreamDataBidiLocal;
    this.windowBidiRemote = l.initialMaxStreamDataBidiRemote;
    this.windowUni = l.initialMaxStreamDataUni;
    this.maxStreamWindow = options.maxStreamWindow;
    this.streamWindowMax = Math.max(this.windowBidiLocal, this.windowBidiRemote, this.windowUni);
    this.sendBuffer = options.sendBuffer;
    this.sendBudget = new SendBudget(
      Math.min(
        options.guaranteedSendBuffer ?? options.connectionSendBuffer,
        options.connectionSendBuffer,
      ),
      options.connectionSendBuffer,
      options.windowPool,
    );
    this.budget = new ReassemblyBudget(options.maxReassemblyRanges, options.maxReassemblyBytes);
    this.events = options.events;
    this.ctrl = options.ctrl;
    this.recvWindow = new RecvWindow({
      window: l.initialMaxData,
      maxWindow: Math.max(l.initialMaxData, options.maxConnectionWindow),
      pool: options.windowPool,
    });
    this.peerBidi = new PeerStreamLimit(l.initialMaxStreamsBidi);
    this.peerUni = new PeerStreamLimit(l.initialMaxStreamsUni);
  }

  /** Streams open (not yet freed). */
  get size(): number {
    return this.streams.size;
  }

  get(id: number): Stream | undefined {
    return this.streams.get(id);
  }

  /** O(streams): for the connection's stats, not the data path. */
  get stats(): StreamSetStats {
    const b = this.budget;
    let recv = 0;
    for (const s of this.streams.values()) recv += s.recv?.buf.bufferedBytes ?? 0;
    return {
      sendBufferedBytes: this.sendBudget.held,
      recvBufferedBytes: recv,
      reassemblyBytes: b.bytes,
      reassemblyRanges: b.ranges,
      streamFramesDropped: b.dropped,
      windowUpdates: this.windowUpdates,
      streamWindowMax: this.streamWindowMax,
      pooledBytes: this.recvWindow.pooled + this.sendBudget.pooled,
    };
  }

  /**
   * True if a STREAM frame was dropped (reassembly limits) since the last call. The packet
   * that carried it must go unacknowledged: the peer then declares it lost and sends its
   * frames again (RFC 9000 §13.3), whereas data in an acknowledged packet is never resent.
   */
  takeDropped(): boolean {
    const dropped = this.budget.dropped !== this.droppedSeen;
    this.droppedSeen = this.budget.dropped;
    return dropped;
  }

  /** The peer's limits (RFC 9000 §18.2; for 0-RTT the remembered ones, §7.4.1). */
  applyPeerLimits(p: StreamLimits): void {
    this.creditBidiLocal = p.initialMaxStreamDataBidiLocal;
    this.creditBidiRemote = p.initialMaxStreamDataBidiRemote;
    this.creditUni = p.initialMaxStreamDataUni;
    this.sendCredit.update(p.initialMaxData);
    this.localBidi.update(p.initialMaxStreamsBidi);
    this.localUni.update(p.initialMaxStreamsUni);
  }

  /** Gives back what the connection borrowed from the endpoint's pool (it is gone). */
  releasePool(): void {
    this.recvWindow.release();
    this.sendBudget.release();
  }

  /** Frees everything (the connection is closed). */
  clear(): void {
    this.streams.clear();
    this.sendQueue.length = 0;
    this.maxDataUpdates.clear();
    this.signals.clear();
    this.writers.clear();
    this.sendBudget.free(this.sendBudget.held);
    this.budget.ranges = this.budget.bytes = 0;
  }

  // ---------------------------------------------------------------- frames from the peer

  received(f: StreamFrame): void {
    switch (f.type) {
      case 'stream':
        return this.onStream(f.streamId, f.offset, f.data, f.fin);
      case 'reset_stream':
        return this.onResetStream(f.streamId, f.errorCode, f.finalSize);
      case 'stop_sending':
        return this.onStopSending(f.streamId, f.errorCode);
      case 'max_data':
        if (this.sendCredit.update(f.maximum)) this.requeueBlocked();
        return;
      case 'max_stream_data': {
        const s = this.sendHalfFor(f.streamId);
        if (s?.credit.update(f.maximum)) {
          this.enqueue(s);
          this.wake(s);
        }
        return;
      }
      case 'max_streams': {
        const lim = f.bidi ? this.localBidi : this.localUni;
        const before = lim.limit;
        const err = lim.update(f.maximum);
        if (err) throw new QuicError(err, 'MAX_STREAMS above 2^60');
        if (lim.limit > before)
          this.events.push({ type: 'streams-available', bidirectional: f.bidi });
        return;
      }
      case 'stream_data_blocked':
        // Nothing to do but check the stream ID (RFC 9000 §19.13).
        this.recvHalfFor(f.streamId);
        return;
      case 'data_blocked':
      case 'streams_blocked':
        return;
    }
  }

  private isLocal(id: number): boolean {
    return isServerInitiated(id) === this.server;
  }

  /**
   * The stream a peer's frame refers to (RFC 9000 §3, §19.8-§19.13), opening peer streams
   * implicitly. `half` is the half of *our* stream the frame acts on. Returns undefined when the
   * stream was already closed and freed (the frame is then ignored).
   */
  private streamForPeerFrame(id: number, half: 'send' | 'recv'): Stream | undefined {
    const local = this.isLocal(id);
    const uni = isUni(id);
    // Frames on the half a unidirectional stream does not have (§19.8, §19.10, §19.13).
    if (uni && ((local && half === 'recv') || (!local && half === 'send')))
      throw new QuicError(STREAM_STATE_ERROR, `stream ${id}: no ${half} half`);
    const s = this.streams.get(id);
    if (s) return s;
    const index = streamIndex(id);
    if (local) {
      const lim = uni ? this.localUni : this.localBidi;
      if (index >= lim.opened) throw new QuicError(STREAM_STATE_ERROR, `stream ${id} not opened`);
      return undefined;
    }
    const lim = uni ? this.peerUni : this.peerBidi;
    const before = lim.opened;
    const n = lim.onStreamReferenced(index);
    if (n < 0) throw new QuicError(-n, `stream ${id} beyond the stream limit`);
    if (n === 0) return undefined;
    let created: Stream | undefined;
    for (let i = before; i < lim.opened; i++) {
      const sid = streamId(i, isServerInitiated(id), uni);
      created = this.create(sid);
      this.events.push({ type: 'stream-opened', streamId: sid });
    }
    return created;
  }

  private sendHalfFor(id: number): SendHalf | undefined {
    return this.streamForPeerFrame(id, 'send')?.send;
  }

  private recvHalfFor(id: number): RecvHalf | undefined {
    return this.streamForPeerFrame(id, 'recv')?.recv;
  }

  private create(id: number): Stream {
    const local = this.isLocal(id);
    const uni = isUni(id);
    // RFC 9000 §18.2: which initial limit applies depends on who opened the stream.
    const credit = uni ? this.creditUni : local ? this.creditBidiRemote : this.creditBidiLocal;
    const window = uni ? this.windowUni : local ? this.windowBidiLocal : this.windowBidiRemote;
    const s = new Stream(
      id,
      local || !uni ? credit : undefined,
      !local || !uni ? window : undefined,
      this.maxStreamWindow,
      this.budget,
    );
    this.streams = withEntry(this.streams, id, s);
    return s;
  }

  /**
   * Counts data up to `end` against our stream and connection windows (RFC 9000 §4.1; for a
   * RESET_STREAM, §4.5: the final size counts).
   */
  private countReceived(r: RecvHalf, end: number, frameType: number, what: string): void {
    const delta = r.window.onReceivedOffset(end);
    if (delta < 0) throw new QuicError(-delta, `stream ${r.stream.id} ${what}`, { frameType });
    if (delta > 0 && this.recvWindow.onReceivedBytes(delta))
      throw new QuicError(FLOW_CONTROL_ERROR, 'connection flow control', { frameType });
  }

  /**
   * Bytes received that the application will never read count as consumed, so that they do
   * not shrink the connection's credit (RFC 9000 §4.5 after a reset, §3.5 after STOP_SENDING).
   */
  private discardUnread(r: RecvHalf): void {
    const n = r.window.received - r.window.consumed;
    if (n === 0) return;
    r.window.onConsumed(n);
    this.recvWindow.onConsumed(n);
  }

  private onStream(id: number, offset: number, data: Uint8Array, fin: boolean): void {
    const r = this.recvHalfFor(id);
    if (!r) return;
    this.countReceived(r, offset + data.length, 0x08, 'flow control');
    const buf = r.buf;
    const err = buf.insert(offset, data, fin);
    // DROPPED: the out-of-order limits were reached; the packet goes unacknowledged
    // (takeDropped()), so the peer sends the data again (§13.3).
    if (err > 0) throw new QuicError(err, `stream ${id}`, { frameType: FrameType.STREAM });
    if (r.discarding) return this.discardUnread(r);
    if (err === DROPPED) return;
    // One queued event per stream, not one per frame: a receive batch brings thousands of
    // frames, and the application's read after the event takes all that is ready.
    if (!r.readableQueued && (buf.readableBytes > 0 || (buf.finished && !r.ended))) {
      r.readableQueued = true;
      this.events.push({ type: 'readable', streamId: id });
    }
  }

  private onResetStream(id: number, code: number, finalSize: number): void {
    const r = this.recvHalfFor(id);
    if (!r || r.state === 'reset-read') return;
    this.countReceived(r, finalSize, 0x04, 'final size');
    const err = r.buf.reset(finalSize);
    if (err) throw new QuicError(err, `stream ${id} reset`, { frameType: FrameType.RESET_STREAM });
    r.state = 'reset-read';
    this.discardUnread(r);
    r.window.stop();
    this.events.push({ type: 'stream-reset', streamId: id, code });
    this.maybeFree(r.stream);
  }

  private onStopSending(id: number, code: number): void {
    const s = this.sendHalfFor(id);
    if (!s) return;
    this.events.push({ type: 'stop-sending', streamId: id, code });
    // RFC 9000 §3.5: answer with RESET_STREAM (same code) unless already done.
    if (!s.isReset && !s.done) this.queueReset(s, code);
  }

  private queueReset(s: SendHalf, code: number): void {
    this.sendBudget.free(s.buf.bufferedBytes);
    s.reset(code);
    this.signals = added(this.signals, s);
    this.stopWaiting(s);
    this.wakeWriters();
  }

  private maybeFree(s: Stream): void {
    if (!s.closed || this.streams.get(s.id) !== s) return;
    this.streams.delete(s.id);
    if (s.send) {
      this.signals.delete(s.send);
      this.stopWaiting(s.send);
    }
    if (s.recv) {
      this.maxDataUpdates.delete(s.recv);
      this.signals.delete(s.recv);
    }
    this.events.push({ type: 'stream-closed', streamId: s.id });
    if (this.isLocal(s.id)) return;
    // RFC 9000 §4.6: a closed peer stream makes room for another one.
    const lim = isUni(s.id) ? this.peerUni : this.peerBidi;
    lim.onStreamClosed();
    const max = lim.takeUpdate();
    if (max >= 0) this.ctrl.push({ type: 'max_streams', bidi: !isUni(s.id), maximum: max });
  }

  private requeueBlocked(): void {
    for (const s of this.streams.values()) {
      const send = s.send;
      if (send && send.buf.sentOffset < send.buf.written) this.enqueue(send);
    }
  }

  private enqueue(s: SendHalf): void {
    if (s.queued) return;
    s.queued = true;
    this.sendQueue.push(s);
  }

  // ---------------------------------------------------------------- application API

  private checkStreamId(id: unknown): Stream {
    checkId(id);
    const s = this.streams.get(id as number);
    if (!s) throw new RangeError(`streamId ${id}: no such open stream`);
    return s;
  }

  /** Opens a stream; null when the peer's MAX_STREAMS is reached ('streams-available' later). */
  open(bidirectional: boolean): number | null {
    const lim = bidirectional ? this.localBidi : this.localUni;
    const index = lim.open();
    if (index < 0) {
      const limit = lim.takeBlocked();
      if (limit >= 0) this.ctrl.push({ type: 'streams_blocked', bidi: bidirectional, limit });
      return null;
    }
    const id = streamId(index, this.server, !bidirectional);
    this.create(id);
    return id;
  }

  /**
   * Queues data (kept by reference); returns the bytes accepted (fewer, or 0: 'writable'
   * later). What is buffered follows what the peer granted (streamRoom(), connRoom()).
   */
  write(id: number, data: Uint8Array, fin: boolean): number {
    const s = this.checkStreamId(id);
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (typeof fin !== 'boolean') throw new TypeError('fin must be a boolean');
    const send = s.send;
    if (!send) throw new RangeError(`streamId ${id}: receive-only stream`);
    const buf = send.buf;
    if (send.isReset || buf.finOffset >= 0)
      throw new RangeError(`streamId ${id}: stream already ended or reset`);
    const n = this.sendBudget.add(Math.min(this.streamRoom(send), data.length), this.granted(send));
    if (n > 0) buf.write(n === data.length ? data : data.subarray(0, n));
    if (n < data.length) this.wait(send);
    else if (fin) buf.end();
    if (n > 0 || (fin && n === data.length)) this.enqueue(send);
    return n;
  }

  /** The connection handed a 'readable' event of stream `id` to the application: data that
   * arrives from now on queues another one. */
  readablePolled(id: number): void {
    const r = this.streams.get(id)?.recv;
    if (r) r.readableQueued = false;
  }

  /** Ordered received data and, in the same call, whether it is the end of the stream. */
  readChunk(id: number, max: number): StreamRead {
    checkId(id);
    // A stream already read to its end and freed (stale 'readable' events) reads as empty.
    const s = this.streams.get(id);
    if (!s) return { data: null, fin: false };
    if (!(typeof max === 'number' && max > 0)) throw new RangeError('max must be > 0');
    const r = s.recv;
    if (!r) throw new RangeError(`streamId ${id}: send-only stream`);
    if (r.discarding) return { data: null, fin: false };
    const buf = r.buf;
    const d = buf.read(max);
    if (d) {
      r.window.onConsumed(d.length);
      this.recvWindow.onConsumed(d.length);
      if (!buf.finished && r.window.updateNeeded)
        this.maxDataUpdates = added(this.maxDataUpdates, r);
    }
    // RFC 9000 §3.2 "Data Read": the last byte (or a FIN after it) reaches the application now.
    const fin = buf.finished && !r.ended;
    if (fin) {
      r.state = 'data-read';
      this.maybeFree(s);
    }
    return { data: d, fin };
  }

  /** True once all data up to the FIN was read (or the stream was reset). */
  isFinished(id: number): boolean {
    checkId(id);
    const s = this.streams.get(id);
    if (!s) return true;
    const r = s.recv;
    return !!r && (r.buf.finished || r.state === 'reset-read');
  }

  /** Abandons sending (RFC 9000 §3.1 "Reset Sent"): RESET_STREAM with `code`. */
  reset(id: number, code: number): void {
    const s = this.checkStreamId(id);
    checkCode(code);
    const send = s.send;
    if (!send) throw new RangeError(`streamId ${id}: receive-only stream`);
    if (send.isReset || send.done) return;
    this.queueReset(send, code);
  }

  /** Abandons receiving (RFC 9000 §3.5): STOP_SENDING with `code`; data is discarded. */
  stopSending(id: number, code: number): void {
    const s = this.checkStreamId(id);
    checkCode(code);
    const r = s.recv;
    if (!r) throw new RangeError(`streamId ${id}: send-only stream`);
    if (r.ended || r.buf.finished) return;
    r.state = 'stopped';
    r.stopCode = code;
    this.signals = added(this.signals, r);
    r.buf.discard();
    this.discardUnread(r);
    r.window.stop();
    // The application is done with this half; its state can go once the send half is done
    // too and the peer has the STOP_SENDING.
    this.maybeFree(s);
  }

  // ---------------------------------------------------------------- sending

  /** Stream frames wait to be sent (flow-control updates, resets, stops or data). */
  get hasData(): boolean {
    if (this.recvWindow.updateNeeded || this.maxDataUpdates.size > 0) return true;
    if (this.signals.size > 0) return true;
    const connCredit = this.sendCredit.available;
    for (const s of this.sendQueue) if (s.canSend(connCredit)) return true;
    return false;
  }

  /**
   * Writes the due MAX_DATA, MAX_STREAM_DATA, RESET_STREAM and STOP_SENDING frames that fit.
   * `now` and `smoothedRtt` (ms) drive window auto-tuning. Returns true if any was written.
   */
  writeControl(w: FrameWriter, frames: SentFrame[], now: number, smoothedRtt: number): boolean {
    let wrote = false;
    if (this.recvWindow.updateNeeded && w.room >= MAX_DATA_SIZE) {
      const before = this.recvWindow.window;
      const max = this.recvWindow.takeUpdate(now, smoothedRtt);
      if (this.recvWindow.window > before) this.windowUpdates++;
      if (max >= 0) {
        const f: Frame = { type: 'max_data', maximum: max };
        w.writeFrame(f);
        frames.push({ t: 'ctrl', f });
        wrote = true;
      }
    }
    for (const r of this.maxDataUpdates) {
      if (w.room < MAX_STREAM_DATA_SIZE) break;
      this.maxDataUpdates.delete(r);
      const win = r.window;
      const before = win.window;
      const max = win.updateNeeded ? win.takeUpdate(now, smoothedRtt) : win.limit;
      if (win.window > before) {
        this.windowUpdates++;
        if (win.window > this.streamWindowMax) this.streamWindowMax = win.window;
      }
      // The connection window stays ahead of the stream windows (auto-tuning keeps pace), so
      // that one fast stream is not held back by MAX_DATA.
      if (this.recvWindow.ensureWindow(Math.floor(win.window * 1.5))) this.windowUpdates++;
      w.writeFrame({ type: 'max_stream_data', streamId: r.stream.id, maximum: max });
      frames.push({ t: 'max_stream_data', half: r, max });
      wrote = true;
    }
    for (const h of this.signals) {
      if (h instanceof SendHalf) {
        if (w.room < RESET_STREAM_SIZE) break;
        w.writeFrame({
          type: 'reset_stream',
          streamId: h.stream.id,
          errorCode: h.resetCode,
          finalSize: h.resetFinalSize,
        });
        frames.push({ t: 'reset', half: h });
      } else {
        if (w.room < STOP_SENDING_SIZE) break;
        w.writeFrame({ type: 'stop_sending', streamId: h.stream.id, errorCode: h.stopCode });
        frames.push({ t: 'stop', half: h });
      }
      this.signals.delete(h);
      wrote = true;
    }
    return wrote;
  }

  /**
   * Writes STREAM frames (lost data first, then new data within flow control), one stream
   * after the other: a stream that fills the packet goes to the back of the queue (round robin
   * per packet). Returns true if any was written.
   */
  writeData(w: FrameWriter, frames: SentFrame[]): boolean {
    const q = this.sendQueue;
    let wrote = false;
    let visited = 0;
    while (q.length && visited < q.length + 1) {
      const s = q[0]!;
      const id = s.stream.id;
      if (!this.streams.has(id) || !s.canSend(this.sendCredit.available)) {
        this.dequeue(s);
        continue;
      }
      const buf = s.buf;
      const room = w.room - streamHeaderSize(id, 2 ** 40, w.room);
      if (room < 1 && !(buf.finOffset >= 0 && room >= 0)) break;
      const maxOffset = Math.min(s.credit.limit, buf.sentOffset + this.sendCredit.available);
      const c = buf.nextChunk(Math.max(0, room), maxOffset);
      if (!c) {
        this.dequeue(s);
        visited++;
        continue;
      }
      const n = c.data.length;
      if (!c.retransmit && n > 0) {
        s.credit.consume(n);
        this.sendCredit.consume(n);
      }
      const p = writeStreamHeader(w.slab, w.pos, id, c.offset, n, c.fin);
      w.slab.set(c.data, p);
      w.advance(p - w.pos + n);
      s.onSent(c.fin);
      frames.push({ t: 'stream', half: s, offset: c.offset, len: n, fin: c.fin });
      wrote = true;
      if (w.room < STREAM_FRAME_MIN_ROOM) {
        // Packet full: rotate so streams share the bandwidth.
        if (s.canSend(this.sendCredit.available)) {
          q.shift();
          q.push(s);
        } else this.dequeue(s);
        break;
      }
    }
    return wrote;
  }

  // ---------------------------------------------------------------- send buffer room

  /**
   * Bytes write() may buffer on `s` now: the least of streamRoom() and connRoom(). Per
   * stream: at most `sendBuffer` unacknowledged, and written data at most SEND_HEAD_START
   * beyond the peer's MAX_STREAM_DATA (RFC 9000 §4.1), so a stream's memory follows the
   * credit the peer granted it.
   */
  private streamRoom(s: SendHalf): number {
    const b = s.buf;
    return Math.max(
      0,
      Math.min(this.sendBuffer - b.bufferedBytes, s.credit.limit + SEND_HEAD_START - b.written),
    );
  }

  /**
   * Bytes `s` may write within the credit the peer granted (RFC 9000 §4.1): what alone may
   * borrow send buffer from the pool. Its MAX_STREAM_DATA counts what it wrote; MAX_DATA
   * counts what was sent, so what the connection holds is taken off it too (data in flight
   * counted twice errs on the side of not borrowing).
   */
  private granted(s: SendHalf): number {
    const conn = this.sendCredit.available - this.sendBudget.held;
    return Math.max(0, Math.min(s.credit.limit - s.buf.written, conn));
  }

  /**
   * Per connection: at most `connectionSendBuffer` unacknowledged over all streams, beyond
   * the guaranteed share only within granted() (SendBudget). (MAX_DATA does not bound the
   * guaranteed share: head starts held by streams waiting for their own credit would use it
   * up and keep the other streams from the credit the peer did grant.)
   */
  private connRoom(s: SendHalf): number {
    return this.sendBudget.room(this.granted(s));
  }

  private wait(s: SendHalf): void {
    s.wantWritable = true;
    this.writers = added(this.writers, s);
    if (this.connRoom(s) <= 0) this.connBlocked = true;
  }

  private stopWaiting(s: SendHalf): void {
    s.wantWritable = false;
    this.writers.delete(s);
  }

  /** 'writable' for `s` if it waits and has room now. */
  private wake(s: SendHalf): void {
    if (!s.wantWritable) return;
    const conn = this.connRoom(s);
    if (Math.min(this.streamRoom(s), conn) > 0) {
      this.stopWaiting(s);
      this.events.push({ type: 'writable', streamId: s.stream.id });
    } else if (conn <= 0) this.connBlocked = true;
  }

  /**
   * Connection-wide room may have opened (acknowledgements, a reset): every waiting writer is
   * checked, once per time the connection was found full (writers waiting on their own
   * stream's credit or buffer are woken by that stream's acknowledgements and
   * MAX_STREAM_DATA).
   */
  private wakeWriters(): void {
    // (room(Infinity): what a writer with credit could get; none gets more.)
    if (!this.connBlocked || this.sendBudget.room(Infinity) <= 0) return;
    this.connBlocked = false;
    for (const s of this.writers) this.wake(s);
  }

  /** Takes `s`, the first in the send queue, off it (it has nothing it may send now). */
  private dequeue(s: SendHalf): void {
    this.sendQueue.shift();
    s.queued = false;
    this.noteBlocked(s);
  }

  /** *_BLOCKED frames when flow control stops a stream with data (RFC 9000 §4.1). */
  private noteBlocked(s: SendHalf): void {
    const buf = s.buf;
    if (s.isReset || buf.sentOffset >= buf.written) return;
    if (s.credit.available === 0 && s.credit.onBlocked()) {
      const limit = s.credit.takeBlocked();
      if (limit >= 0) this.ctrl.push({ type: 'stream_data_blocked', streamId: s.stream.id, limit });
    }
    const conn = this.sendCredit;
    if (conn.available === 0 && conn.onBlocked()) {
      const limit = conn.takeBlocked();
      if (limit >= 0) this.ctrl.push({ type: 'data_blocked', limit });
    }
  }

  // ---------------------------------------------------------------- acknowledgement and loss

  onAcked(f: StreamSentFrame): void {
    switch (f.t) {
      case 'stream': {
        const s = f.half;
        const before = s.buf.bufferedBytes;
        s.onAcked(f.offset, f.len, f.fin);
        const freed = before - s.buf.bufferedBytes;
        if (freed > 0) {
          this.sendBudget.free(freed);
          this.wake(s);
          this.wakeWriters();
        }
        return this.maybeFree(s.stream);
      }
      case 'reset':
        f.half.onResetAcked();
        return this.maybeFree(f.half.stream);
      case 'stop':
        f.half.stopAcked = true;
        return this.maybeFree(f.half.stream);
      case 'max_stream_data':
        return;
    }
  }

  /** A frame was lost: what is still needed is sent again (RFC 9000 §13.3). */
  onLost(f: StreamSentFrame): void {
    switch (f.t) {
      case 'stream': {
        const s = f.half;
        if (this.streams.get(s.stream.id) !== s.stream || s.isReset) return;
        s.buf.onLost(f.offset, f.len, f.fin);
        return this.enqueue(s);
      }
      case 'reset':
        // Until acknowledged (§13.3), with the same code and final size.
        if (f.half.state === 'reset-sent') this.signals = added(this.signals, f.half);
        return;
      case 'stop': {
        const r = f.half;
        if (!r.stopAcked && this.streams.get(r.stream.id) === r.stream)
          this.signals = added(this.signals, r);
        return;
      }
      case 'max_stream_data': {
        // The current limit, unless a newer update superseded it (§13.3).
        const r = f.half;
        if (r.window.onUpdateLost(f.max) >= 0 && this.streams.get(r.stream.id) === r.stream)
          this.maxDataUpdates = added(this.maxDataUpdates, r);
        return;
      }
    }
  }

  /**
   * A control frame queued through `ctrl` was lost. RFC 9000 §13.3: updates are sent again
   * unless superseded; a *_BLOCKED frame only while still blocked at the limit it carries.
   */
  onCtrlLost(f: StreamCtrlFrame): void {
    switch (f.type) {
      case 'max_data':
        if (this.recvWindow.onUpdateLost(f.maximum) >= 0) this.ctrl.push(f);
        return;
      case 'max_streams': {
        const lim = f.bidi ? this.peerBidi : this.peerUni;
        if (lim.onUpdateLost(f.maximum) >= 0) this.ctrl.push(f);
        return;
      }
      case 'data_blocked':
        return this.blockedLost(this.sendCredit, f);
      case 'streams_blocked':
        return this.blockedLost(f.bidi ? this.localBidi : this.localUni, f);
      case 'stream_data_blocked': {
        const s = this.streams.get(f.streamId)?.send;
        if (s && !s.isReset) this.blockedLost(s.credit, f);
        return;
      }
    }
  }

  private blockedLost(
    limit: SendCredit | LocalStreamLimit,
    f: Extract<StreamCtrlFrame, { limit: number }>,
  ): void {
    limit.onBlockedLost(f.limit);
    if (limit.takeBlocked() >= 0) this.ctrl.push(f);
  }
}

function checkId(id: unknown): void {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0)
    throw new TypeError('streamId must be a non-negative integer');
}
