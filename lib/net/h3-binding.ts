// The glue between lib/h3's sans-IO H3Connection and a QuicSession: the Binding moves bytes
// and events between them (backpressure both ways), plus the field-list helpers the HTTP/3
// server and client share.
import { H3Connection, type Field, type H3Event, type UniStreamName } from '../h3/connection.js';
import { H3, H3Error } from '../h3/errors.js';
import { log } from '../debug/log.js';
import type { QuicSession } from './session.js';
import type { QuicStream } from './stream.js';

const EMPTY = new Uint8Array(0);
/** Graceful close: most time to wait for requests in progress, then for sent data to be
 * acknowledged, before CONNECTION_CLOSE (ms). */
const DRAIN_REQUESTS_MS = 10_000;
const DRAIN_ACKS_MS = 2_000;

export const noop = (): void => {};

/** Field list -> { name: value } with duplicates joined (cookie with '; ', RFC 9114 §4.2.1). */
export function toRecord(fields: readonly Field[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [n, v] of fields) {
    const prev = out[n];
    out[n] = prev === undefined ? v : `${prev}${n === 'cookie' ? '; ' : ', '}${v}`;
  }
  return out;
}

/** Header values the API takes: a string or number, or an array for a field repeated in
 * several lines (set-cookie, RFC 9110 §5.3). */
export type Http3HeaderValue = string | number | readonly string[];

/** Headers the API takes: a record, a WHATWG `Headers`, or [name, value] pairs. */
export type Http3HeadersInit =
  Record<string, Http3HeaderValue> | Headers | Iterable<readonly [string, string]>;

function fieldLine(name: string, v: unknown, what: string): Field {
  if (typeof v !== 'string' && typeof v !== 'number')
    throw new TypeError(`${what}['${name}'] must be a string, a number or an array of them`);
  const value = String(v);
  if (/[^\0-\xff]/.test(value)) throw new TypeError(`${what}['${name}'] has non-latin1 characters`);
  return [name.toLowerCase(), value];
}

/** Headers from the API -> lower-case field list (values as latin1 byte strings); an array
 * value is one field line per element. */
export function toFields(headers: Http3HeadersInit | undefined, what: string): Field[] {
  if (headers === undefined) return [];
  if (headers === null || typeof headers !== 'object')
    throw new TypeError(`${what} must be an object, a Headers or an iterable of pairs`);
  const out: Field[] = [];
  if (headers instanceof Headers || Symbol.iterator in headers) {
    for (const pair of headers as Iterable<readonly [string, string]>) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string')
        throw new TypeError(`${what} pairs must be [name, value] arrays`);
      out.push(fieldLine(pair[0], pair[1], what));
    }
    return out;
  }
  for (const [k, v] of Object.entries(headers)) {
    if (Array.isArray(v)) for (const one of v as unknown[]) out.push(fieldLine(k, one, what));
    else out.push(fieldLine(k, v, what));
  }
  return out;
}

/** Binds an H3Connection to a QuicSession. */
export class Binding {
  readonly conn: H3Connection;
  private readonly streams = new Map<number, QuicStream>();
  private readonly uni = new Map<UniStreamName, Promise<QuicStream | undefined>>();
  private readonly handlers = new Map<number, StreamHandler>();
  private closing: Promise<void> | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly session: QuicSession,
    role: 'client' | 'server',
    private readonly onRequest?: (
      b: Binding,
      qs: QuicStream,
      ev: H3Event & { type: 'request' },
    ) => void,
  ) {
    this.conn = new H3Connection({ role });
    // RFC 9114 §8.1: H3_NO_ERROR closes the connection without an error.
    session.applicationNoError = H3.NO_ERROR;
    session.on('stream', (qs: QuicStream) => this.adopt(qs));
    // The session's end (its `closed` says why) fails every request still in progress.
    session.closed.then(
      () => this.onSessionClosed(new Error('HTTP/3 connection closed')),
      (e: Error) => this.onSessionClosed(e),
    );
    this.conn.start();
    this.flush();
  }

  /** Peer-initiated streams, and our request streams (client). */
  adopt(qs: QuicStream): void {
    const id = qs.id;
    this.streams.set(id, qs);
    qs.on('error', noop); // failures reach the request/response objects through the H3 events
    qs.on('data', (chunk: Uint8Array) => {
      this.conn.receive(id, chunk, false);
      this.flush();
    });
    qs.on('end', () => {
      this.conn.receive(id, EMPTY, true);
      this.flush();
    });
    qs.on('reset', (code: number) => {
      this.conn.streamReset(id, code);
      this.flush();
    });
    qs.on('stop-sending', (code: number) => {
      this.conn.stopSending(id, code);
      this.flush();
    });
    qs.on('close', () => {
      this.streams.delete(id);
      this.checkIdle();
    });
  }

  handle(id: number, h: StreamHandler): void {
    this.handlers.set(id, h);
  }

  stream(id: number): QuicStream | undefined {
    return this.streams.get(id);
  }

  /** Carries out what the H3 connection asked for. */
  flush(): void {
    for (let ev; (ev = this.conn.poll());) {
      switch (ev.type) {
        case 'send': {
          if (typeof ev.stream === 'string') {
            this.writeUni(ev.stream, ev.data);
            break;
          }
          const qs = this.streams.get(ev.stream);
          if (!qs || qs.destroyed || qs.writableEnded) break;
          if (ev.data.length) qs.write(ev.data);
          if (ev.fin) qs.end();
          break;
        }
        case 'abort':
        case 'stop-sending': {
          const qs = this.streams.get(ev.stream);
          if (!qs || qs.destroyed) break;
          qs.resetCode = ev.code;
          // STOP_SENDING alone: destroy() resets only a send half still open, so wait until
          // what we wrote (FIN included) is handed to the connection.
          if (ev.type === 'abort' || qs.writableFinished) qs.destroy();
          else qs.once('finish', () => qs.destroy());
          break;
        }
        case 'close':
          log('info', `HTTP/3 connection error: ${ev.reason}`);
          this.session.destroy(new H3Error(ev.code, ev.reason), ev.code);
          break;
        case 'request':
          this.onRequest?.(this, this.streams.get(ev.stream)!, ev);
          break;
        case 'response':
        case 'data':
        case 'trailers':
        case 'end':
        case 'stream-error': {
          const h = this.handlers.get(ev.stream);
          if (!h) break;
          if (ev.type === 'end' || ev.type === 'stream-error') this.handlers.delete(ev.stream);
          h(ev);
          break;
        }
        case 'goaway':
          this.session.emit('goaway', ev.id);
          break;
        case 'settings':
          break;
      }
    }
    this.checkIdle();
  }

  private writeUni(name: UniStreamName, data: Uint8Array): void {
    let p = this.uni.get(name);
    if (!p) {
      // A critical stream: its loss is the connection's end (nothing to do here).
      p = this.session.createUnidirectionalStream().then(
        (qs) => (qs.on('error', noop), qs),
        () => undefined,
      );
      this.uni.set(name, p);
    }
    void p.then((qs) => qs && !qs.destroyed && qs.write(data));
  }

  private onSessionClosed(err: Error): void {
    this.conn.shutdown();
    for (const [id, h] of [...this.handlers]) {
      this.handlers.delete(id);
      h({ type: 'closed', error: err });
    }
    this.checkIdle();
  }

  private checkIdle(): void {
    if (this.conn.activeRequests > 0 && !this.conn.closed) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Graceful close (RFC 9114 §5.2): GOAWAY, let requests in progress finish and what was sent
   * be acknowledged, all within `timeout` ms, then CONNECTION_CLOSE with H3_NO_ERROR. */
  close(timeout = DRAIN_REQUESTS_MS): Promise<void> {
    this.closing ??= (async () => {
      const s = this.session;
      if (s.destroyed) return;
      const until = Date.now() + timeout;
      this.conn.goaway();
      this.flush();
      await this.waitIdle(timeout);
      // Responses complete in H3 terms may still sit in the Duplex streams: wait until each
      // request stream handed everything (FIN included) to the connection, then until the
      // connection has nothing in flight.
      const sleep = () => new Promise((r) => setTimeout(r, 5));
      const writing = () =>
        [...this.streams.values()].some(
          (q) => q.bidirectional && !q.destroyed && !q.writableFinished && !q.peerError,
        );
      while (!s.destroyed && writing() && Date.now() < until) await sleep();
      const acked = Math.min(until, Date.now() + DRAIN_ACKS_MS);
      do await sleep();
      while (!s.destroyed && s.stats.bytesInFlight > 0 && Date.now() < acked);
      if (!s.destroyed) s.destroy(undefined, H3.NO_ERROR);
      await s.closed;
    })();
    return this.closing;
  }

  private waitIdle(ms: number): Promise<void> {
    if (this.conn.activeRequests === 0 || this.conn.closed) return Promise.resolve();
    return new Promise<void>((res) => {
      const t = ms === Infinity ? undefined : setTimeout(res, ms);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        res();
      });
    });
  }
}

/** What a request's handler hears: its H3 events, or the connection's end. */
export type StreamHandler = (ev: H3Event | { type: 'closed'; error: Error }) => void;

/** Calls cb once the QUIC stream took the data (or is gone). */
export function afterWrite(qs: QuicStream | undefined, cb: (err?: Error | null) => void): void {
  if (!qs || qs.destroyed) return cb(new Error('stream closed'));
  if (!qs.writableNeedDrain) return cb();
  const done = (err?: Error | null) => {
    qs.off('drain', onDrain);
    qs.off('close', onClose);
    cb(err);
  };
  const onDrain = () => done();
  const onClose = () => done(new Error('stream closed'));
  qs.on('drain', onDrain);
  qs.on('close', onClose);
}
