// QuicStream: one QUIC stream as a Node stream.Duplex with backpressure both ways.
// Write side: _write hands data to Connection.write(), which may take only part of it; the rest
// (and the callback) waits for the connection's 'writable' event. end() sends FIN.
// Read side: _read pulls views from Connection.readChunk() while push() accepts more; a 'readable'
// event from the connection resumes a reader that ran dry. FIN ends the readable side.
// destroy(err) sends RESET_STREAM / STOP_SENDING for the halves still open (RFC 9000 §3).
import { Duplex } from 'node:stream';

/** The part of the connection (and session) a stream needs; a fake implements it in tests. */
export interface StreamHost {
  write(streamId: number, data: Uint8Array, fin?: boolean): number;
  /** Ordered data (or null) and whether the stream's data ends with this call (Connection.readChunk). */
  read(streamId: number): { data: Uint8Array | null; fin: boolean };
  resetStream(streamId: number, code: number): void;
  stopSending(streamId: number, code: number): void;
  /** Data or state changed: the host should send soon. */
  kick(): void;
  /** The stream is gone (both halves done or destroyed). */
  release(stream: QuicStream): void;
}

/** Error raised on a stream the peer reset or stopped; `code` is the application error code. */
export class QuicStreamError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'QuicStreamError';
  }
}

const EMPTY = new Uint8Array(0);

/** A QuicStream's own events besides a Duplex's, and what their listeners get. */
export interface QuicStreamEvents {
  /** The peer reset the stream (RESET_STREAM) with this application error code. */
  reset: [code: number];
  /** The peer asked us to stop sending (STOP_SENDING) with this application error code. */
  'stop-sending': [code: number];
}

/** Another event name than QuicStreamEvents' (a Duplex's: Node's own signatures). */
type DuplexEvent<E> = Exclude<E, keyof QuicStreamEvents>;
type AnyListener = (...args: any[]) => void;

// Typed listeners for QuicStreamEvents (a listener of the wrong shape does not compile).
export interface QuicStream {
  on<E extends keyof QuicStreamEvents>(e: E, l: (...a: QuicStreamEvents[E]) => void): this;
  on<E extends string | symbol>(e: DuplexEvent<E>, l: AnyListener): this;
  once<E extends keyof QuicStreamEvents>(e: E, l: (...a: QuicStreamEvents[E]) => void): this;
  once<E extends string | symbol>(e: DuplexEvent<E>, l: AnyListener): this;
  off<E extends keyof QuicStreamEvents>(e: E, l: (...a: QuicStreamEvents[E]) => void): this;
  off<E extends string | symbol>(e: DuplexEvent<E>, l: AnyListener): this;
}

/**
 * Bytes each side of a QuicStream buffers before it pushes back (Node's highWaterMark, set
 * rather than Node's default, which grew between versions). Data in the readable buffer was
 * already taken from the connection (its flow-control credit is given back), so this, per
 * stream, adds to what a peer can make us hold beyond the connection's receive window: with
 * the writable side, at most 2 x 16 KiB and the chunk being written per open stream
 * (README "Limits and abuse").
 */
export const STREAM_HIGH_WATER_MARK = 16 * 1024;

export class QuicStream extends Duplex {
  readonly id: number;
  /** Application error code sent in RESET_STREAM/STOP_SENDING by destroy() (default 0). */
  resetCode = 0;
  /** Why the peer (or the connection's end) finished this stream early, if it did. */
  peerError: Error | undefined;
  private readonly host: StreamHost;
  private pending: { data: Uint8Array; cb: (err?: Error | null) => void } | undefined;
  private reading = false;
  private readDone: boolean;
  private writeDone: boolean;
  /** Readables piped into this stream: each one holds an 'error' listener that rethrows. */
  private pipedIn = 0;

  /** @param readable / writable which halves exist (unidirectional streams have one). */
  constructor(host: StreamHost, id: number, readable: boolean, writable: boolean) {
    super({ allowHalfOpen: true, highWaterMark: STREAM_HIGH_WATER_MARK });
    this.host = host;
    this.id = id;
    this.readDone = !readable;
    this.writeDone = !writable;
    if (!readable) this.push(null);
    if (!writable) this.end();
    this.on('pipe', () => this.pipedIn++);
    this.on('unpipe', () => this.pipedIn--);
  }

  get bidirectional(): boolean {
    return (this.id & 2) === 0;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.writeDone) return cb(); // the peer sent STOP_SENDING: discard (see peerError)
    this.pending = { data: chunk, cb };
    this.flushPending();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.writeDone) return cb();
    try {
      this.host.write(this.id, EMPTY, true);
      this.writeDone = true;
      this.host.kick();
      this.maybeRelease();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  /** Connection event: room in the send buffer / flow-control window. */
  onWritable(): void {
    this.flushPending();
  }

  private flushPending(): void {
    const p = this.pending;
    if (!p) return;
    let n: number;
    try {
      n = this.host.write(this.id, p.data);
    } catch (err) {
      this.pending = undefined;
      return p.cb(err as Error);
    }
    if (n > 0) this.host.kick();
    if (n < p.data.length) {
      p.data = p.data.subarray(n);
      return; // 'writable' resumes
    }
    this.pending = undefined;
    p.cb();
  }

  override _read(): void {
    this.reading = true;
    this.pull();
  }

  /** Connection event: data or FIN available. */
  onReadable(): void {
    if (this.reading) this.pull();
  }

  private pull(): void {
    if (this.readDone) return;
    try {
      for (;;) {
        const { data, fin } = this.host.read(this.id);
        if (data) this.host.kick(); // reading may open the window (MAX_STREAM_DATA)
        // The FIN comes with the last bytes: 'end' follows them whatever push() says.
        const more = data !== null && data.length > 0 && this.push(data);
        if (fin) break;
        if (!data) return; // the connection's 'readable' event resumes
        if (!more) {
          this.reading = false;
          return;
        }
      }
      this.readDone = true;
      this.push(null);
      this.host.kick();
      this.maybeRelease();
    } catch (err) {
      this.destroy(err as Error);
    }
  }

  // What the peer does to a stream never becomes an 'error' event: an application without an
  // 'error' listener (s.pipe(s) has none of its own) would crash on any peer's RESET_STREAM.
  // The stream is destroyed without an error instead; `peerError` says why and 'reset' /
  // 'stop-sending' events carry the code. (Async iteration then ends with a premature close.)
  // The connection's end is told to the application's own 'error' listeners (see
  // onConnectionClosed).

  /** Connection event: the peer sent RESET_STREAM. */
  onReset(code: number): void {
    this.readDone = true;
    this.peerError = new QuicStreamError(`stream ${this.id} reset by peer (code ${code})`, code);
    this.emit('reset', code);
    this.destroy();
  }

  /** Connection event: the peer sent STOP_SENDING (the connection answers with RESET_STREAM):
   * what is still to be written is discarded, the readable side (if any) goes on. */
  onStopSending(code: number): void {
    this.writeDone = true;
    this.peerError = new QuicStreamError(`stream ${this.id} stopped by peer (code ${code})`, code);
    this.emit('stop-sending', code);
    const p = this.pending;
    this.pending = undefined;
    p?.cb();
    this.maybeRelease();
  }

  /** The connection is gone while this stream was unfinished: `err` is the session's error,
   * or null when it closed cleanly (`code`: the code it closed with), which still cuts this
   * stream short. An aborted Duplex emits 'error' (Node's convention: a reader or writer
   * waiting for 'end' or 'drain' learns of the abort), but only to a listener: like a reset,
   * a hostile peer's CONNECTION_CLOSE must not crash an application that has none. A pipe
   * into this stream (s.pipe(s)) listens only to throw again: its listener does not count. */
  onConnectionClosed(err: Error | null, code = 0): void {
    this.readDone = this.writeDone = true;
    const error =
      err ??
      this.peerError ??
      new QuicStreamError(`stream ${this.id} cut short: its session closed (code ${code})`, code);
    this.peerError ??= error;
    if (this.destroyed) return;
    this.destroy(this.listenerCount('error') > this.pipedIn ? error : undefined);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const code = this.resetCode;
    try {
      if (!this.writeDone) this.host.resetStream(this.id, code);
      if (!this.readDone) this.host.stopSending(this.id, code);
      this.host.kick();
    } catch {
      // the connection is already closed: nothing to tell the peer
    }
    this.readDone = this.writeDone = true;
    const p = this.pending;
    this.pending = undefined;
    this.host.release(this);
    if (p) p.cb(err ?? new Error('stream destroyed'));
    cb(err);
  }

  private maybeRelease(): void {
    if (this.readDone && this.writeDone) this.host.release(this);
  }
}
