/**
 * Flow control (RFC 9000 §4): send credit granted by the peer, receive windows we grant
 * (with auto-tuning), and stream count limits. One object per stream direction plus one per
 * connection; the connection wires them to frames. Protocol violations are returned as
 * RFC 9000 §20.1 codes (TransportError, 0 = fine; negated where a count is returned) so that
 * the hot path allocates nothing and the caller raises its QuicError.
 */

import { TransportError } from './errors.js';

const { FLOW_CONTROL_ERROR, STREAM_LIMIT_ERROR, FRAME_ENCODING_ERROR } = TransportError;

/** RFC 9000 §4.6: stream counts cannot exceed 2^60. */
export const MAX_STREAM_COUNT = 2 ** 60;
/** Largest varint value (RFC 9000 §16); offsets and limits above are invalid. */
const MAX_VARINT = 2 ** 62 - 1;

function checkLimit(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`${name} must be a safe integer >= 0`);
}

/**
 * Send-side credit (MAX_DATA or MAX_STREAM_DATA from the peer, RFC 9000 §4.1).
 * `used` counts bytes sent against it: the highest stream offset sent for a stream, the sum
 * over streams for the connection.
 */
export class SendCredit {
  limit: number;
  used = 0;
  /** Limit at which a *_BLOCKED frame was last queued, or -1. */
  private blockedAt = -1;
  private blockedPending = false;

  constructor(initialLimit: number) {
    checkLimit('initialLimit', initialLimit);
    this.limit = initialLimit;
  }

  /** Bytes that may still be sent. */
  get available(): number {
    return this.limit - this.used;
  }

  /**
   * MAX_DATA / MAX_STREAM_DATA received. RFC 9000 §4.1: values that do not increase the limit
   * are ignored. Returns true if the limit grew (sending may resume).
   */
  update(max: number): boolean {
    if (!(max > this.limit)) return false;
    this.limit = Math.min(max, MAX_VARINT);
    this.blockedPending = false;
    return true;
  }

  /** Accounts `n` bytes as sent; throws if that exceeds the credit (a caller bug). */
  consume(n: number): void {
    if (!(n >= 0 && this.used + n <= this.limit)) throw new RangeError('n exceeds the credit');
    this.used += n;
  }

  /**
   * The sender has data but no credit: queue one *_BLOCKED frame per limit (RFC 9000 §4.1,
   * §19.12/§19.13). Returns true if a frame was queued by this call.
   */
  onBlocked(): boolean {
    if (this.available > 0 || this.blockedAt === this.limit) return false;
    this.blockedAt = this.limit;
    this.blockedPending = true;
    return true;
  }

  /** A *_BLOCKED frame is due; returns the limit to put in it and clears it, or -1. */
  takeBlocked(): number {
    if (!this.blockedPending) return -1;
    this.blockedPending = false;
    return this.blockedAt;
  }

  /** A *_BLOCKED frame carrying `limit` was lost: resend if still blocked at that limit. */
  onBlockedLost(limit: number): void {
    if (limit === this.limit && this.available === 0) this.blockedPending = true;
  }
}

/** What a WindowPool keeps counting (fields of the endpoint's stats). */
export interface WindowPoolCounters {
  /** Bytes lent to connections: receive window beyond their initial windows, and send
   * buffering beyond their guaranteed share. */
  windowPoolInUse: number;
  /** Window growths and writes the pool cut short (in whole or in part): it had no more to
   * lend. */
  windowPoolRefused: number;
}

/**
 * The memory an endpoint lends its connections beyond what each is guaranteed, all together:
 * receive window that auto-tuning adds beyond the initial window (RecvWindow), and send
 * buffering beyond the guaranteed share (SendBudget in send-buffer.ts). Each connection keeps
 * its initial window (what it announced in its transport parameters) and its guaranteed send
 * share whatever the pool holds. An empty pool stops growth, never announced credit (RFC 9000
 * §4.1): a connection then keeps the window it has, and write() pushes back. What peers can
 * make the endpoint hold is thus at most their guaranteed parts plus `size`.
 */
export class WindowPool {
  readonly size: number;
  private readonly counters: WindowPoolCounters;

  constructor(size: number, counters: WindowPoolCounters) {
    checkLimit('size', size);
    this.size = size;
    this.counters = counters;
  }

  /** Bytes left to lend. */
  get available(): number {
    return this.size - this.counters.windowPoolInUse;
  }

  /** Lends up to `n` bytes; returns how many (less when the pool runs out, which counts). */
  take(n: number): number {
    const got = Math.min(n, this.available);
    if (got < n) this.counters.windowPoolRefused++;
    this.counters.windowPoolInUse += got;
    return got;
  }

  /** Takes back `n` bytes lent by take(). */
  give(n: number): void {
    this.counters.windowPoolInUse -= n;
  }
}

/** Smoothed RTTs without a window update after which reclaim() may shrink a window. */
export const IDLE_RTTS = 4;

export interface RecvWindowOptions {
  /** Initial window = initial limit advertised in the transport parameters. */
  window: number;
  /** Auto-tuning cap; default = window (no auto-tuning). */
  maxWindow?: number;
  /** Where growth beyond `window` is borrowed from (default: no limit but maxWindow). */
  pool?: WindowPool;
}

/**
 * Receive-side window we grant (RFC 9000 §4.1/§4.2). For a stream, report the highest offset
 * received with onReceivedOffset; for the connection, report newly counted bytes with
 * onReceivedBytes. Bytes consumed by the application move the window.
 *
 * Updates: a MAX_(STREAM_)DATA is due once the credit consumed but not yet announced reaches
 * half the window (the peer then still has half a window to send while the update travels),
 * so updates come in steps of at least half a window, never byte by byte.
 *
 * Auto-tuning (the window is what a sender may have in flight towards us, so it must cover
 * the bandwidth-delay product of the path plus our own delay in reading and answering): when
 * an update is taken, the window doubles, up to maxWindow, if either
 * - the previous update was taken less than 2 smoothed RTTs ago: the application drains the
 *   window faster than the update loop turns, so the window and not the application limits
 *   the transfer (the rule of Chromium's QUIC), or
 * - the peer had used all the credit we granted before the update went out: it stopped
 *   sending for lack of credit. This catches what the RTT rule misses when our own delay
 *   (an event loop busy with a burst of packets) dominates a short path's RTT: the smoothed
 *   RTT does not count the time data waits for us, so updates look slow while the sender
 *   idles. A reader slower than the network meets this rule too; the maxima bound what it
 *   may then hold (the connection's window caps all its streams together).
 * An announced limit is never lowered (RFC 9000 §4.1), and while traffic flows the window
 * never shrinks: an RTT inflated by a busy event loop only stops further growth by the first
 * rule. With a pool, growth is borrowed from it (see WindowPool).
 *
 * Giving back (reclaim(), run by the endpoint about once a second, RECLAIM_INTERVAL in
 * endpoint.ts): a window that took no update since the previous run, nor in the last
 * IDLE_RTTS smoothed RTTs, is not what limits the transfer any more: the peer went idle, or
 * the application reads less than half a window per run (application-limited). It then
 * shrinks to what it still owes, never below the initial window: the credit announced and
 * not yet received plus the bytes received and not yet read, i.e. limit - consumed. What it
 * borrowed beyond that goes back to the pool at once; later updates extend the limit by the
 * smaller window, and growth starts again by the rules above if the window limits the
 * transfer again. At all times limit - consumed <= window = initial window + borrowed, so
 * what the peer can make us hold never exceeds what the connection borrowed. release() gives
 * back the rest when the connection is gone.
 */
export class RecvWindow {
  /** Limit currently advertised to the peer. */
  limit: number;
  /** Flow-control bytes received (highest offset for a stream, sum for the connection). */
  received = 0;
  /** Bytes consumed by the application. */
  consumed = 0;
  window: number;
  private _maxWindow: number;
  private lastUpdateTime = -1;
  private stopped = false;
  private pool: WindowPool | undefined;
  /** The window announced in the transport parameters: never given back. */
  private readonly initial: number;
  /** An update was taken since the last reclaim(). */
  private updatedSinceReclaim = false;

  constructor(options: RecvWindowOptions) {
    checkLimit('window', options.window);
    this.window = this.initial = this.limit = options.window;
    this._maxWindow = options.maxWindow ?? options.window;
    checkLimit('maxWindow', this._maxWindow);
    if (this._maxWindow < this.window) throw new RangeError('maxWindow must be >= window');
    if (options.pool !== undefined && !(options.pool instanceof WindowPool))
      throw new TypeError('pool must be a WindowPool');
    this.pool = options.pool;
  }

  /** Auto-tuning cap (the window after release()). */
  get maxWindow(): number {
    return this._maxWindow;
  }

  /** Bytes of the window borrowed from the pool: with one, all growth beyond the initial
   * window is borrowed. */
  get pooled(): number {
    return this.pool ? this.window - this.initial : 0;
  }

  /** Gives what was borrowed back to the pool; the window grows no more (the connection is
   * done). Idempotent. */
  release(): void {
    this.pool?.give(this.pooled);
    this.pool = undefined;
    this._maxWindow = this.window;
  }

  /**
   * Gives back to the pool what the window borrowed and no longer needs, if traffic stopped
   * (the class comment's "Giving back"); returns the bytes given back. `now` and
   * `smoothedRtt` in ms.
   */
  reclaim(now: number, smoothedRtt: number): number {
    const busy =
      this.updatedSinceReclaim ||
      (this.lastUpdateTime >= 0 && now - this.lastUpdateTime < IDLE_RTTS * smoothedRtt);
    this.updatedSinceReclaim = false;
    if (busy || this.pooled === 0) return 0;
    const keep = Math.max(this.initial, this.limit - this.consumed);
    const excess = this.window - keep; // <= pooled: keep >= initial
    if (!(excess > 0)) return 0;
    this.window -= excess;
    this.pool!.give(excess); // (pooled > 0: there is a pool)
    return excess;
  }

  /** Grows the window towards `target` (at most maxWindow), borrowing from the pool; returns
   * true if it grew. */
  private grow(target: number): boolean {
    const want = Math.min(target, this._maxWindow) - this.window;
    if (!(want > 0)) return false;
    const got = this.pool ? this.pool.take(want) : want;
    this.window += got;
    return got > 0;
  }

  /**
   * Stream data up to (exclusive) `end` arrived. Returns the increase of the highest offset
   * (to add to the connection window) or -FLOW_CONTROL_ERROR when `end` exceeds the limit
   * (RFC 9000 §4.1).
   */
  onReceivedOffset(end: number): number {
    if (!(end <= this.limit)) return -FLOW_CONTROL_ERROR; // (also rejects NaN)
    if (end <= this.received) return 0;
    const delta = end - this.received;
    this.received = end;
    return delta;
  }

  /** `n` more bytes counted (connection level). Returns 0 or FLOW_CONTROL_ERROR. */
  onReceivedBytes(n: number): number {
    if (!(n >= 0 && this.received + n <= this.limit)) return FLOW_CONTROL_ERROR;
    this.received += n;
    return 0;
  }

  /** The application consumed `n` bytes (or they were discarded, e.g. after a reset). */
  onConsumed(n: number): void {
    if (!(n >= 0) || this.consumed + n > this.received) throw new RangeError('n exceeds received');
    this.consumed += n;
  }

  /** No more updates (the final size is known, RFC 9000 §4.5). */
  stop(): void {
    this.stopped = true;
  }

  /** A MAX_(STREAM_)DATA update is due: half the window is consumed and unannounced. */
  get updateNeeded(): boolean {
    return !this.stopped && this.limit - this.consumed < this.window / 2;
  }

  /**
   * Returns the new limit to advertise and records it, or -1 if no update is due. `now` and
   * `smoothedRtt` (ms) drive auto-tuning.
   */
  takeUpdate(now: number, smoothedRtt: number): number {
    if (!this.updateNeeded) return -1;
    if (this.window < this._maxWindow && this.windowLimited(now, smoothedRtt))
      this.grow(this.window * 2);
    this.lastUpdateTime = now;
    this.updatedSinceReclaim = true;
    this.limit = Math.min(this.consumed + this.window, MAX_VARINT);
    return this.limit;
  }

  /** The window, not the application, limits the transfer (the class comment's two rules). */
  private windowLimited(now: number, smoothedRtt: number): boolean {
    if (this.lastUpdateTime >= 0 && now - this.lastUpdateTime < 2 * smoothedRtt) return true;
    return this.received === this.limit;
  }

  /** Current limit to resend when a MAX_(STREAM_)DATA frame was lost, or -1 if stale. */
  onUpdateLost(limit: number): number {
    return !this.stopped && limit === this.limit ? this.limit : -1;
  }

  /** Grow the window to at least `window` (e.g. connection window >= 1.5x a stream window);
   * returns true if it grew. */
  ensureWindow(window: number): boolean {
    this.updatedSinceReclaim = true; // (a stream's window was updated: traffic flows)
    return this.grow(window);
  }
}

/**
 * Limit on streams the peer may open of one type (RFC 9000 §4.6). Stream indices are
 * `streamId >> 2`. MAX_STREAMS updates keep `window` streams open as streams close.
 */
export class PeerStreamLimit {
  /** Cumulative count advertised (peer may open indices < limit). */
  limit: number;
  /** Streams opened by the peer so far (highest index + 1). */
  opened = 0;
  /** Streams the peer opened that are fully closed. */
  closed = 0;
  readonly window: number;

  constructor(window: number) {
    checkLimit('window', window);
    if (window > MAX_STREAM_COUNT) throw new RangeError('window must be <= 2^60');
    this.window = window;
    this.limit = window;
  }

  /**
   * A frame referenced peer stream `index`. Returns the number of streams newly opened
   * (indices below are opened implicitly, RFC 9000 §3.2) or -STREAM_LIMIT_ERROR (§4.6).
   */
  onStreamReferenced(index: number): number {
    if (index >= this.limit) return -STREAM_LIMIT_ERROR;
    if (index < this.opened) return 0;
    const n = index + 1 - this.opened;
    this.opened = index + 1;
    return n;
  }

  /** A peer-initiated stream was closed and its state freed. */
  onStreamClosed(): void {
    if (this.closed >= this.opened) throw new RangeError('more streams closed than opened');
    this.closed++;
  }

  /** New MAX_STREAMS value when at least half the window is free again, or -1. */
  takeUpdate(): number {
    const target = Math.min(this.closed + this.window, MAX_STREAM_COUNT);
    if (target - this.limit < Math.max(1, this.window / 2)) return -1;
    this.limit = target;
    return target;
  }

  /** A MAX_STREAMS frame carrying `limit` was lost: value to resend, or -1 if stale. */
  onUpdateLost(limit: number): number {
    return limit === this.limit ? limit : -1;
  }
}

/** Limit on streams we may open of one type, granted by the peer's MAX_STREAMS (§4.6). */
export class LocalStreamLimit {
  limit: number;
  /** Streams we opened (next index to use). */
  opened = 0;
  private blockedAt = -1;
  private blockedPending = false;

  constructor(initialLimit: number) {
    checkLimit('initialLimit', initialLimit);
    if (initialLimit > MAX_STREAM_COUNT) throw new RangeError('initialLimit must be <= 2^60');
    this.limit = initialLimit;
  }

  get canOpen(): boolean {
    return this.opened < this.limit;
  }

  /** Opens a stream; returns its index, or -1 if blocked (a STREAMS_BLOCKED is queued). */
  open(): number {
    if (this.opened >= this.limit) {
      if (this.blockedAt !== this.limit) {
        this.blockedAt = this.limit;
        this.blockedPending = true;
      }
      return -1;
    }
    return this.opened++;
  }

  /**
   * MAX_STREAMS received. RFC 9000 §19.11: above 2^60 is FRAME_ENCODING_ERROR; values that do
   * not increase the limit are ignored (§4.6). Returns 0 or the error code.
   */
  update(max: number): number {
    if (max > MAX_STREAM_COUNT) return FRAME_ENCODING_ERROR;
    if (max > this.limit) {
      this.limit = max;
      this.blockedPending = false;
    }
    return 0;
  }

  /** STREAMS_BLOCKED due: the limit to report, or -1 (RFC 9000 §19.14). */
  takeBlocked(): number {
    if (!this.blockedPending) return -1;
    this.blockedPending = false;
    return this.blockedAt;
  }

  /** A STREAMS_BLOCKED frame carrying `limit` was lost: resend if still blocked there. */
  onBlockedLost(limit: number): void {
    if (limit === this.limit && this.opened >= this.limit) this.blockedPending = true;
  }
}
