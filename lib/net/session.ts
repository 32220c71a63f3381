// QuicSession: one QUIC connection as seen by the application (node:quic style): `opened` /
// `closed` promises, 'stream' / 'datagram' / 'handshake' events (and onstream / ondatagram /
// onhandshake callbacks), Duplex streams, DATAGRAM, key update, graceful close and destroy.
// The endpoint drives it: it feeds datagrams and timeouts to the Connection and calls
// service() afterwards, which turns connection events into API events.
import { EventEmitter } from 'node:events';

import { CRYPTO_ERROR, transportErrorName } from '../quic/errors.js';
import { alertName } from '../tls/alerts.js';
import type {
  Address,
  CloseInfo,
  CloseKind,
  Connection,
  ConnectionEvent,
  ConnectionStats,
  StreamRead,
} from '../quic/connection.js';
import type { SessionTicket } from '../tls/session-ticket.js';
import { QuicStream, type StreamHost } from './stream.js';

export interface HandshakeSummary {
  group: string;
  cipher: string;
  alpn: string | undefined;
  resumed: boolean;
  earlyDataAccepted: boolean;
  postQuantum: boolean;
  /** The QUIC version in use (0x00000001 v1, 0x6b3343cf v2; RFC 9368 may have changed it). */
  version: number;
}

/** Why a session ended: how the connection closed (see CloseKind), or `handshake-timeout`. */
export type SessionCloseKind = CloseKind | 'handshake-timeout' | 'connection-refused';

/**
 * Why a session closed with an error (a transport or application CONNECTION_CLOSE, or a local
 * failure such as a handshake timeout). `code` is a Node-style string to act on:
 * `ERR_QUIC_HANDSHAKE_TIMEOUT`, `ERR_QUIC_CONNECTION_REFUSED` (an ICMP error during the
 * handshake), `ERR_QUIC_IDLE_TIMEOUT`, `ERR_QUIC_STATELESS_RESET`,
 * `ERR_QUIC_VERSION_NEGOTIATION`, `ERR_QUIC_TLS_<ALERT>` (a TLS alert, RFC 9001 §4.8),
 * `ERR_QUIC_TRANSPORT_<NAME>` (RFC 9000 §20.1) or `ERR_QUIC_APPLICATION_ERROR`; `errorCode` is
 * the number on the wire, `address` the peer's.
 */
export class QuicSessionError extends Error {
  readonly code: string;
  readonly errorCode: number;
  readonly application: boolean;
  readonly remote: boolean;
  readonly kind: SessionCloseKind;
  readonly address: Address | undefined;

  constructor(
    message: string,
    o: {
      errorCode: number;
      application: boolean;
      remote: boolean;
      kind: SessionCloseKind;
      address?: Address;
    },
  ) {
    const peer = o.address ? ` (peer ${formatAddress(o.address)})` : '';
    super(message + peer);
    this.name = 'QuicSessionError';
    this.code = errorCodeName(o);
    this.errorCode = o.errorCode;
    this.application = o.application;
    this.remote = o.remote;
    this.kind = o.kind;
    this.address = o.address;
  }
}

function formatAddress(a: Address): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function errorCodeName(o: { errorCode: number; application: boolean; kind: SessionCloseKind }) {
  switch (o.kind) {
    case 'handshake-timeout':
      return 'ERR_QUIC_HANDSHAKE_TIMEOUT';
    case 'connection-refused':
      return 'ERR_QUIC_CONNECTION_REFUSED';
    case 'idle':
      return 'ERR_QUIC_IDLE_TIMEOUT';
    case 'stateless-reset':
      return 'ERR_QUIC_STATELESS_RESET';
    case 'version-negotiation':
      return 'ERR_QUIC_VERSION_NEGOTIATION';
  }
  if (o.application) return 'ERR_QUIC_APPLICATION_ERROR';
  const c = o.errorCode;
  if (c >= CRYPTO_ERROR && c <= CRYPTO_ERROR + 0xff)
    return `ERR_QUIC_TLS_${alertName(c - CRYPTO_ERROR).toUpperCase()}`;
  const name = transportErrorName(c);
  return /^[A-Z_]+$/.test(name) ? `ERR_QUIC_TRANSPORT_${name}` : 'ERR_QUIC_TRANSPORT_ERROR';
}

/** A close that is not an error: NO_ERROR in the transport's space, the application
 * protocol's own no-error code in the application's (RFC 9000 §20). Idle timeouts, stateless
 * resets and failed version negotiation are errors whatever their code. */
function cleanClose(e: CloseInfo, applicationNoError: number): boolean {
  if (e.kind !== 'local' && e.kind !== 'peer') return false;
  return e.code === (e.application ? applicationNoError : 0);
}

function sessionError(e: CloseInfo, address: Address): QuicSessionError {
  const space = e.application ? 'application' : 'transport';
  const message =
    e.kind === 'local' || e.kind === 'peer' || e.kind === 'error'
      ? `${e.remote ? 'peer' : 'local'} closed: ${e.reason} (${space} error 0x${e.code.toString(16)})`
      : e.reason;
  const { application, remote, kind } = e;
  return new QuicSessionError(message, { errorCode: e.code, application, remote, kind, address });
}

/** What the session needs from its endpoint. */
export interface SessionDriver {
  now(): number;
  /** Schedule service() soon (data to send). */
  kick(session: QuicSession): void;
  /** Every event polled from the connection, before the session handles it (the endpoint
   * keeps its routing table and handshake count with them). */
  event(session: QuicSession, ev: ConnectionEvent): void;
  /** The session is finished: forget it. */
  detach(session: QuicSession): void;
}

const GRACEFUL_CLOSE_LIMIT = 10_000;
const ignore = (): void => {};

/** A rejected promise nobody need await (no unhandled rejection). */
function rejected(err: Error): Promise<never> {
  const p = Promise.reject(err);
  p.catch(ignore);
  return p;
}

/** The `timeout` option of a graceful close (ms, default 10 s; Infinity waits for ever). */
export function checkCloseTimeout(options: { timeout?: number } | undefined): number {
  if (options !== undefined && (options === null || typeof options !== 'object'))
    throw new TypeError('options must be an object');
  const timeout = options?.timeout ?? GRACEFUL_CLOSE_LIMIT;
  if (typeof timeout !== 'number' || !(timeout >= 0))
    throw new RangeError('options.timeout must be a number >= 0');
  return timeout;
}

/** The arguments of destroy() (a session's or an endpoint's): an Error or nothing, and an
 * application error code (a QUIC varint, here within the safe integers). */
export function checkDestroyArgs(error: unknown, code: unknown): void {
  if (error !== undefined && !(error instanceof Error))
    throw new TypeError('error must be an Error');
  if (code !== undefined && !(Number.isSafeInteger(code) && (code as number) >= 0))
    throw new RangeError('code must be an integer >= 0');
}

/** A QuicSession's events and what their listeners get (a misspelt event name or a listener of
 * the wrong shape does not compile). */
export interface QuicSessionEvents {
  /** The TLS handshake chose the application protocol (`alpnProtocol` has it): before any
   * stream, 0-RTT ones included, is delivered — a server dispatches by ALPN here. */
  alpn: [protocol: string];
  /** The handshake completed (also `opened` resolves, and `onhandshake` is called). */
  handshake: [info: HandshakeSummary];
  /** The peer opened a stream (also `onstream`). */
  stream: [stream: QuicStream];
  /** An RFC 9221 DATAGRAM arrived (also `ondatagram`). */
  datagram: [data: Uint8Array];
  /** A session ticket for resumption (`connect({ session })`). */
  ticket: [ticket: SessionTicket];
  /** A NEW_TOKEN token for address validation next time (`connect({ token })`). */
  token: [token: Uint8Array];
  /** The peer's address changed (NAT rebinding). */
  path: [remote: Address];
  /** HTTP/3 sessions: the peer's GOAWAY with its stream or push ID (RFC 9114 §5.2). */
  goaway: [id: number];
  /** The session is gone (after `closed` settled). */
  close: [];
}

export class QuicSession extends EventEmitter<QuicSessionEvents> {
  onstream: ((stream: QuicStream) => void) | undefined;
  ondatagram: ((data: Uint8Array) => void) | undefined;
  onhandshake: ((info: HandshakeSummary) => void) | undefined;
  /** The application protocol's code for "no error" (RFC 9000 §20.2: it defines its own; HTTP/3
   * sets H3_NO_ERROR 0x100): what close() and destroy() send by default, and an application
   * close with it settles `closed` without an error. */
  applicationNoError = 0;

  /** @internal timer heap bookkeeping */
  deadline = Infinity;
  /** @internal */
  heapIndex = -1;
  /** @internal */
  readonly conn: Connection;

  private readonly driver: SessionDriver;
  /** API stream objects by id (created with the first stream: memory per idle session). */
  private streams: Map<number, QuicStream> | undefined;
  /** Ids of streams the connection still holds ('stream-closed' removes them): graceful close
   * waits for none to be left. */
  private open: Set<number> | undefined;
  /** The streams' way to the connection (created with the first stream). */
  private host: StreamHost | undefined;
  private summary: HandshakeSummary | undefined;
  /** `opened` and `closed`, made when first asked for or when the session ends (memory per
   * idle session); their settle functions only while they are pending. */
  private openedPromise: Promise<HandshakeSummary> | undefined;
  private closedPromise: Promise<void> | undefined;
  private resolveOpened: ((info: HandshakeSummary) => void) | undefined;
  private rejectOpened: ((err: Error) => void) | undefined;
  private resolveClosed: (() => void) | undefined;
  private rejectClosed: ((err: Error) => void) | undefined;
  private finished = false;
  private alpnAnnounced = false;
  private closeError: Error | null = null;
  /** The code of the CONNECTION_CLOSE sent or received. */
  private closeCode = 0;
  private gracefulSince = -1;
  private gracefulLimit = GRACEFUL_CLOSE_LIMIT;
  private handshakeDeadline: number;
  private streamWaiters: Array<() => void> | undefined;
  private readonly onFinish: (() => void) | undefined;

  /** @internal created by the endpoint */
  constructor(
    driver: SessionDriver,
    conn: Connection,
    handshakeTimeout: number,
    onFinish?: () => void,
  ) {
    super();
    // Memory per idle session: no listener table until the first listener. EventEmitter makes
    // one in its constructor, and makes it itself on the first listener when there is none
    // (as for emitters whose constructor never ran); emit() and the listener queries read a
    // missing table as empty.
    (this as unknown as { _events: undefined })._events = undefined;
    this.driver = driver;
    this.conn = conn;
    this.onFinish = onFinish;
    this.handshakeDeadline = driver.now() + handshakeTimeout;
  }

  // Callers need not await `opened` and `closed`: a failure must not become an unhandled
  // rejection. Each gets its handler when it is rejected (settle(), rejected()), not while it
  // is pending (memory per idle session).

  /** Resolves with the handshake summary when the handshake completes. */
  get opened(): Promise<HandshakeSummary> {
    if (!this.openedPromise) {
      const summary = this.summary;
      this.openedPromise = summary
        ? Promise.resolve(summary)
        : new Promise((res, rej) => {
            this.resolveOpened = res;
            this.rejectOpened = rej;
          });
    }
    return this.openedPromise;
  }

  /** Resolves when the session closed cleanly; rejects with a QuicSessionError otherwise. */
  get closed(): Promise<void> {
    this.closedPromise ??= new Promise((res, rej) => {
      this.resolveClosed = res;
      this.rejectClosed = rej;
    });
    return this.closedPromise;
  }

  /** The application protocol the TLS handshake chose (RFC 7301 §3.2), once it did: a
   * server's is set from the ClientHello on, before any stream is delivered ('alpn' event). */
  get alpnProtocol(): string | undefined {
    return this.conn.alpnProtocol;
  }

  /** The handshake summary, once the handshake completed. */
  get handshake(): HandshakeSummary | undefined {
    return this.summary;
  }

  get stats(): ConnectionStats {
    return this.conn.stats;
  }

  get remoteAddress(): Address {
    return this.conn.remoteAddress;
  }

  get destroyed(): boolean {
    return this.finished;
  }

  createBidirectionalStream(): Promise<QuicStream> {
    return this.createStream(true);
  }

  createUnidirectionalStream(): Promise<QuicStream> {
    return this.createStream(false);
  }

  private async createStream(bidi: boolean): Promise<QuicStream> {
    for (;;) {
      if (this.finished || this.gracefulSince >= 0) throw new Error('session is closing');
      // Before the handshake completes this succeeds only with 0-RTT keys (resumption with
      // earlyData); the data is then sent as 0-RTT (or again as 1-RTT if the server refuses).
      const id = this.conn.openStream(bidi);
      if (id !== null) {
        const s = new QuicStream(this.streamHost(), id, bidi, true);
        this.track(s);
        this.driver.kick(this);
        return s;
      }
      if (!this.summary) {
        await this.opened;
        continue;
      }
      // The peer's MAX_STREAMS is reached: wait for 'streams-available' (or the end).
      this.driver.kick(this);
      await new Promise<void>((res) => (this.streamWaiters ??= []).push(res));
    }
  }

  /** RFC 9221: sends `data` unreliably; false when DATAGRAM is not negotiated or too big. */
  sendDatagram(data: Uint8Array | string): boolean {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (!(bytes instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array or string');
    if (this.finished) return false;
    const ok = this.conn.sendDatagram(bytes);
    if (ok) this.driver.kick(this);
    return ok;
  }

  /** RFC 9001 §6: starts a key update (the handshake must be confirmed). */
  updateKey(): void {
    this.conn.updateKey(this.driver.now());
    this.driver.kick(this);
  }

  /** Graceful close: no new streams; lets the open ones finish (written data sent and
   * acknowledged, the peer's data read) for at most `timeout` ms (default 10 s), then closes
   * with NO_ERROR. Resolves like `closed`. */
  close(options?: { timeout?: number }): Promise<void> {
    const timeout = checkCloseTimeout(options);
    if (!this.finished && this.gracefulSince < 0) {
      this.gracefulSince = this.driver.now();
      this.gracefulLimit = timeout;
      this.driver.kick(this);
    }
    return this.closed;
  }

  /** Closes at once (CONNECTION_CLOSE with `code`, application error space; by default the
   * application's no-error code). Open streams are destroyed with `error` (their 'error'
   * listeners hear it); `closed` rejects with it when given. */
  destroy(error?: Error, code = this.applicationNoError): void {
    checkDestroyArgs(error, code);
    if (this.finished) return;
    this.closeError = error ?? null;
    try {
      this.conn.close(code, error?.message ?? '', true, this.driver.now());
      this.closeCode = code;
    } catch {
      // already closing
    }
    this.driver.kick(this);
  }

  /** @internal a stream's data or state changed: send soon */
  kickSelf(): void {
    this.driver.kick(this);
  }

  /** @internal a stream is gone from the API side */
  releaseStream(s: QuicStream): void {
    this.streams?.delete(s.id);
  }

  private streamHost(): StreamHost {
    return (this.host ??= new SessionStreamHost(this));
  }

  private track(s: QuicStream): void {
    (this.streams ??= new Map()).set(s.id, s);
    (this.open ??= new Set()).add(s.id);
  }

  /** @internal the next time the endpoint must call timeout() */
  nextDeadline(): number {
    let t = this.conn.nextTimeout();
    // The end of a graceful close's wait must come even when nothing is sent or received.
    const state = this.conn.state;
    if (this.gracefulSince >= 0 && (state === 'handshake' || state === 'established'))
      t = Math.min(t, this.gracefulSince + this.gracefulLimit);
    return this.summary || this.finished ? t : Math.min(t, this.handshakeDeadline);
  }

  /** @internal timer expiry */
  timeout(now: number): void {
    if (!this.summary && now >= this.handshakeDeadline && !this.finished)
      return this.abandonHandshake('handshake timeout');
    this.conn.onTimeout(now);
  }

  /** @internal the handshake is given up (its timeout, the endpoint expired it half-open, or
   * an ICMP error refused it): `opened` rejects with a QuicSessionError of `kind` saying `why`. */
  abandonHandshake(
    why: string,
    kind: 'handshake-timeout' | 'connection-refused' = 'handshake-timeout',
  ): void {
    if (this.summary || this.finished) return;
    this.closeError = new QuicSessionError(why, {
      errorCode: 0,
      application: false,
      remote: false,
      kind,
      address: this.remoteAddress,
    });
    this.finish();
  }

  /** @internal after receive()/timeout()/API calls: dispatch connection events. */
  service(_now: number): void {
    // Announced before the events below: a 0-RTT stream arrives with the ClientHello.
    if (!this.alpnAnnounced) {
      const alpn = this.conn.alpnProtocol;
      if (alpn !== undefined) {
        this.alpnAnnounced = true;
        this.emit('alpn', alpn);
      }
    }
    for (let ev; (ev = this.conn.poll());) {
      this.driver.event(this, ev);
      switch (ev.type) {
        case 'handshake-complete': {
          const i = ev.info;
          this.summary = {
            group: i.group,
            cipher: i.cipher,
            alpn: i.alpn,
            resumed: i.resumed,
            earlyDataAccepted: i.earlyDataAccepted,
            postQuantum: i.postQuantum,
            version: this.conn.version,
          };
          this.resolveOpened?.(this.summary);
          this.resolveOpened = this.rejectOpened = undefined;
          this.emit('handshake', this.summary);
          this.onhandshake?.(this.summary);
          break;
        }
        case 'stream-opened': {
          const id = ev.streamId;
          const s = new QuicStream(this.streamHost(), id, true, (id & 2) === 0);
          this.track(s);
          if (this.listenerCount('stream') === 0 && !this.onstream) {
            s.resetCode = 0;
            s.destroy(); // nobody takes streams: refuse it (STOP_SENDING / RESET_STREAM)
            break;
          }
          this.emit('stream', s);
          this.onstream?.(s);
          break;
        }
        case 'readable':
          this.streams?.get(ev.streamId)?.onReadable();
          break;
        case 'writable':
          this.streams?.get(ev.streamId)?.onWritable();
          break;
        case 'stream-reset':
          this.streams?.get(ev.streamId)?.onReset(ev.code);
          break;
        case 'stop-sending':
          this.streams?.get(ev.streamId)?.onStopSending(ev.code);
          break;
        case 'stream-closed':
          this.open?.delete(ev.streamId);
          break;
        case 'streams-available':
          this.wakeStreamWaiters();
          break;
        case 'datagram':
          this.emit('datagram', ev.data);
          this.ondatagram?.(ev.data);
          break;
        case 'session-ticket':
          this.emit('ticket', ev.ticket satisfies SessionTicket);
          break;
        case 'new-token':
          this.emit('token', ev.token);
          break;
        case 'path-changed':
          this.emit('path', ev.remote);
          break;
        case 'closed': {
          const e = ev.error;
          this.closeCode = e.code;
          if (!this.closeError && !cleanClose(e, this.applicationNoError))
            this.closeError = sessionError(e, this.remoteAddress);
          this.settle();
          break;
        }
      }
    }
    if (this.conn.state === 'closed') this.finish();
  }

  /** @internal after the endpoint sent what the connection had: true when a graceful close
   * started now (so its CONNECTION_CLOSE must be sent). */
  afterSend(now: number): boolean {
    if (this.gracefulSince < 0 || this.finished) return false;
    const state = this.conn.state;
    if (state !== 'handshake' && state !== 'established') return false;
    if (state === 'established' && !this.drained() && now - this.gracefulSince < this.gracefulLimit)
      return false;
    this.conn.close(this.applicationNoError, '', true, now);
    this.service(now);
    return true;
  }

  /** Graceful close may proceed: the connection freed every stream, i.e. each one is finished
   * both ways and everything it sent (FIN included) was acknowledged, or its reset was. */
  private drained(): boolean {
    return !this.open || this.open.size === 0;
  }

  /** The connection reported its close: settle the promises and fail open streams. The
   * first call decides how they settle (made now if nobody asked for them yet). */
  private settle(): void {
    if (this.summary === undefined) {
      const err =
        this.closeError ??
        new QuicSessionError('closed during handshake', {
          errorCode: 0,
          application: false,
          remote: false,
          kind: 'local',
          address: this.remoteAddress,
        });
      if (this.rejectOpened) {
        this.openedPromise!.catch(ignore);
        this.rejectOpened(err);
      } else this.openedPromise ??= rejected(err);
    }
    this.resolveOpened = this.rejectOpened = undefined;
    const streams = this.streams;
    this.streams = undefined;
    if (streams)
      for (const s of streams.values()) s.onConnectionClosed(this.closeError, this.closeCode);
    this.wakeStreamWaiters();
    const error = this.closeError;
    if (this.resolveClosed) {
      if (error) {
        this.closedPromise!.catch(ignore);
        this.rejectClosed!(error);
      } else this.resolveClosed();
    } else this.closedPromise ??= error ? rejected(error) : Promise.resolve();
    this.resolveClosed = this.rejectClosed = undefined;
  }

  private wakeStreamWaiters(): void {
    const waiters = this.streamWaiters;
    this.streamWaiters = undefined;
    if (waiters) for (const w of waiters) w();
  }

  /** @internal the connection is gone (closed state, or abandoned): detach from the endpoint. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.settle();
    this.driver.detach(this);
    this.emit('close');
    this.onFinish?.();
  }
}

/** The session's side of its streams (one small object per session; methods, not closures). */
class SessionStreamHost implements StreamHost {
  constructor(private readonly session: QuicSession) {}
  write(id: number, data: Uint8Array, fin?: boolean): number {
    const conn = this.session.conn;
    // Closing or draining (RFC 9000 §10.2): nothing more is sent. The data waits and the
    // session's end fails the stream with the reason (not with "not established").
    const state = conn.state;
    if (state === 'closing' || state === 'draining' || state === 'closed') return 0;
    return conn.write(id, data, fin);
  }
  read(id: number): StreamRead {
    return this.session.conn.readChunk(id);
  }
  resetStream(id: number, code: number): void {
    this.session.conn.resetStream(id, code);
  }
  stopSending(id: number, code: number): void {
    this.session.conn.stopSending(id, code);
  }
  kick(): void {
    this.session.kickSelf();
  }
  release(s: QuicStream): void {
    this.session.releaseStream(s);
  }
}
