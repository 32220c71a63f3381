// HTTP/3 over zquic sessions, Node style: serveHttp3(handler) with node:http-like (req, res),
// connectHttp3() + request(), fetchHttp3(). The protocol is lib/h3's sans-IO H3Connection; this
// file only moves its bytes and events to and from the session's Duplex streams (backpressure
// both ways) and turns them into Readable / Writable objects.
import { Readable, Writable } from 'node:stream';

import { H3Connection, type Field, type H3Event, type UniStreamName } from '../h3/connection.js';
import { H3, H3Error } from '../h3/errors.js';
import { log } from '../debug/log.js';
import { connect } from './connect.js';
import { listen } from './listen.js';
import type { ConnectOptions, ListenOptions } from './options.js';
import type { QuicEndpoint } from './endpoint.js';
import type { QuicSession } from './session.js';
import type { QuicStream } from './stream.js';

export { H3, H3Error } from '../h3/errors.js';

const EMPTY = new Uint8Array(0);
/** Graceful close: most time to wait for requests in progress, then for sent data to be
 * acknowledged, before CONNECTION_CLOSE (ms). */
const DRAIN_REQUESTS_MS = 10_000;
const DRAIN_ACKS_MS = 2_000;

const noop = () => {};

/** Field list -> { name: value } with duplicates joined (cookie with '; ', RFC 9114 §4.2.1). */
function toRecord(fields: readonly Field[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (const [n, v] of fields) {
    const prev = out[n];
    out[n] = prev === undefined ? v : `${prev}${n === 'cookie' ? '; ' : ', '}${v}`;
  }
  return out;
}

/** { name: value } from the API -> lower-case field list (values as latin1 byte strings). */
function toFields(headers: Record<string, string | number> | undefined, what: string): Field[] {
  if (headers === undefined) return [];
  if (headers === null || typeof headers !== 'object')
    throw new TypeError(`${what} must be an object`);
  const out: Field[] = [];
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new TypeError(`${what}['${k}'] must be a string or a number`);
    const value = String(v);
    if (/[^\0-\xff]/.test(value)) throw new TypeError(`${what}['${k}'] has non-latin1 characters`);
    out.push([k.toLowerCase(), value]);
  }
  return out;
}

/** Binds an H3Connection to a QuicSession. */
class Binding {
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

  /** Graceful close (RFC 9114 §5.2): GOAWAY, let requests in progress finish, wait (bounded)
   * until what was sent is acknowledged, then CONNECTION_CLOSE with H3_NO_ERROR. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const s = this.session;
      if (s.destroyed) return;
      this.conn.goaway();
      this.flush();
      await this.waitIdle(DRAIN_REQUESTS_MS);
      // Responses complete in H3 terms may still sit in the Duplex streams: wait until each
      // request stream handed everything (FIN included) to the connection, then until the
      // connection has nothing in flight.
      const sleep = () => new Promise((r) => setTimeout(r, 5));
      let until = Date.now() + DRAIN_REQUESTS_MS;
      const writing = () =>
        [...this.streams.values()].some(
          (q) => q.bidirectional && !q.destroyed && !q.writableFinished && !q.peerError,
        );
      while (!s.destroyed && writing() && Date.now() < until) await sleep();
      until = Date.now() + DRAIN_ACKS_MS;
      do await sleep();
      while (!s.destroyed && s.stats.bytesInFlight > 0 && Date.now() < until);
      if (!s.destroyed) s.destroy(undefined, H3.NO_ERROR);
      await s.closed;
    })();
    return this.closing;
  }

  private waitIdle(ms: number): Promise<void> {
    if (this.conn.activeRequests === 0 || this.conn.closed) return Promise.resolve();
    return new Promise<void>((res) => {
      const t = setTimeout(res, ms);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        res();
      });
    });
  }
}

/** What a request's handler hears: its H3 events, or the connection's end. */
type StreamHandler = (ev: H3Event | { type: 'closed'; error: Error }) => void;

// ------------------------------------------------------------------------------------ server

export interface Http3Request extends Readable {
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly scheme: string;
  /** Regular fields, lower-case names; duplicates joined with ', ' (cookie: '; '). */
  readonly headers: Record<string, string>;
  /** Trailers, once the body ended. */
  readonly trailers: Record<string, string>;
  readonly session: QuicSession;
  readonly streamId: number;
}

export interface Http3Response extends Writable {
  /** Status of the response (default 200). */
  statusCode: number;
  setHeader(name: string, value: string | number): this;
  getHeader(name: string): string | undefined;
  writeHead(status: number, headers?: Record<string, string | number>): this;
  /** Trailers to send after the body (on end()). */
  addTrailers(headers: Record<string, string | number>): void;
  readonly headersSent: boolean;
}

class ServerRequest extends Readable implements Http3Request {
  method = '';
  path = '';
  authority = '';
  scheme = '';
  headers: Record<string, string> = Object.create(null);
  trailers: Record<string, string> = Object.create(null);

  constructor(
    readonly session: QuicSession,
    readonly streamId: number,
    private readonly qs: QuicStream,
  ) {
    super();
    this.on('error', noop); // a peer's reset must not crash a server without 'error' listeners
  }

  override _read(): void {
    if (this.qs.isPaused()) this.qs.resume();
  }

  /** Body bytes from the H3 connection; pauses the QUIC stream when we are full. */
  deliver(data: Uint8Array): void {
    if (!this.push(data)) this.qs.pause();
  }
}

class ServerResponse extends Writable implements Http3Response {
  statusCode = 200;
  private fields = new Map<string, string>();
  private trailerFields: Field[] | undefined;
  private sent = false;

  constructor(
    private readonly b: Binding,
    private readonly id: number,
    /** A response to HEAD has no content (RFC 9110 §9.3.2). */
    private readonly head: boolean,
  ) {
    super();
    this.on('error', noop);
  }

  get headersSent(): boolean {
    return this.sent;
  }

  setHeader(name: string, value: string | number): this {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    if (this.sent) throw new Error('headers already sent');
    const [[n, v]] = toFields({ [name]: value }, 'value') as [Field];
    this.fields.set(n, v);
    return this;
  }

  getHeader(name: string): string | undefined {
    return this.fields.get(String(name).toLowerCase());
  }

  writeHead(status: number, headers?: Record<string, string | number>): this {
    if (!Number.isInteger(status) || status < 100 || status > 999)
      throw new RangeError('status must be an integer in 100..999');
    this.statusCode = status;
    for (const [n, v] of toFields(headers, 'headers')) this.fields.set(n, v);
    if (status >= 200) this.sendHead(false);
    else {
      // interim (1xx) response: sent now, the final one follows
      this.b.conn.sendResponse(this.id, status, [...this.fields]);
      this.b.flush();
    }
    return this;
  }

  addTrailers(headers: Record<string, string | number>): void {
    this.trailerFields = [...(this.trailerFields ?? []), ...toFields(headers, 'trailers')];
  }

  private sendHead(end: boolean): void {
    if (this.sent) return;
    this.sent = true;
    this.b.conn.sendResponse(this.id, this.statusCode, [...this.fields], end);
    this.b.flush();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.sendHead(false);
      // No content in responses to HEAD, nor in 204 / 304 (RFC 9110 §6.4.1): written bytes
      // are dropped, as node:http does.
      if (this.head || this.statusCode === 204 || this.statusCode === 304) return cb();
      this.b.conn.sendData(this.id, chunk);
      this.b.flush();
    } catch (e) {
      return cb(e as Error);
    }
    afterWrite(this.b.stream(this.id), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    try {
      if (!this.sent && !this.trailerFields) this.sendHead(true);
      else {
        this.sendHead(false);
        if (this.trailerFields) this.b.conn.sendTrailers(this.id, this.trailerFields);
        else this.b.conn.end(this.id);
        this.b.flush();
      }
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.writableFinished) {
      this.b.conn.abort(this.id, err ? H3.INTERNAL_ERROR : H3.REQUEST_CANCELLED);
      this.b.flush();
    }
    cb(err);
  }
}

/** Calls cb once the QUIC stream took the data (or is gone). */
function afterWrite(qs: QuicStream | undefined, cb: (err?: Error | null) => void): void {
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

/** Starts an HTTP/3 server: `handler` gets each request like node:http's (req, res). ALPN
 * defaults to 'h3'. */
export async function serveHttp3(
  handler: (req: Http3Request, res: Http3Response) => void,
  options: ListenOptions,
): Promise<QuicEndpoint> {
  if (typeof handler !== 'function') throw new TypeError('handler must be a function');
  if (options === null || typeof options !== 'object')
    throw new TypeError('options must be an object');
  const bindings = new Set<Binding>();
  const onRequest = (b: Binding, qs: QuicStream, ev: H3Event & { type: 'request' }) => {
    const req = new ServerRequest(b.session, ev.stream, qs);
    const h = ev.head;
    req.method = h.method;
    req.path = h.path;
    req.authority = h.authority;
    req.scheme = h.scheme;
    req.headers = toRecord(h.fields);
    const res = new ServerResponse(b, ev.stream, h.method === 'HEAD');
    b.handle(ev.stream, (e) => {
      if (e.type === 'data') req.deliver(e.data);
      else if (e.type === 'trailers') req.trailers = toRecord(e.fields);
      else if (e.type === 'end') req.push(null);
      else if (e.type === 'stream-error' || e.type === 'closed') {
        req.destroy(e.error);
        res.destroy(e.error);
      }
    });
    // A complete response ends the exchange: a request body nobody reads is refused with
    // STOP_SENDING H3_NO_ERROR (RFC 9114 §4.1).
    res.on('finish', () => {
      if (!req.readableEnded && req.readableFlowing !== true) {
        req.destroy();
        b.conn.abortReading(ev.stream);
        b.flush();
      }
    });
    try {
      handler(req, res);
    } catch (e) {
      log('warn', `HTTP/3 handler threw: ${(e as Error)?.stack ?? e}`);
      res.destroy(e as Error);
    }
  };
  const endpoint = await listen(
    (session) => {
      const b = new Binding(session, 'server', onRequest);
      bindings.add(b);
      session.once('close', () => bindings.delete(b));
    },
    { ...options, alpn: options.alpn ?? ['h3'] },
  );
  // endpoint.close() would wait for every stream to finish, but HTTP/3's control streams never
  // do (RFC 9114 §6.2.1): close our sessions the HTTP/3 way first.
  const close = endpoint.close.bind(endpoint);
  endpoint.close = async () => {
    await Promise.all([...bindings].map((b) => b.close().catch(noop)));
    return close();
  };
  return endpoint;
}

// ------------------------------------------------------------------------------------ client

export interface Http3RequestInit {
  method?: string;
  headers?: Record<string, string | number>;
  /** Request body: bytes, a string (UTF-8), or an async iterable of chunks (streamed). */
  body?: string | Uint8Array | AsyncIterable<Uint8Array | string>;
  signal?: AbortSignal;
}

export interface Http3ClientResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Trailers, once the body ended. */
  readonly trailers: Record<string, string>;
  /** Response body bytes. */
  readonly body: Readable;
  bytes(): Promise<Uint8Array>;
  arrayBuffer(): Promise<ArrayBuffer>;
  text(): Promise<string>;
}

export interface Http3Client {
  readonly session: QuicSession;
  request(path: string, init?: Http3RequestInit): Promise<Http3ClientResponse>;
  /** Graceful close: GOAWAY, wait for requests in progress, CONNECTION_CLOSE H3_NO_ERROR. */
  close(): Promise<void>;
}

class ClientResponse implements Http3ClientResponse {
  trailers: Record<string, string> = Object.create(null);
  readonly headers: Record<string, string>;

  constructor(
    readonly status: number,
    fields: readonly Field[],
    readonly body: Readable,
  ) {
    this.headers = toRecord(fields);
  }

  async bytes(): Promise<Uint8Array> {
    const parts: Buffer[] = [];
    for await (const c of this.body) parts.push(c as Buffer);
    return Buffer.concat(parts);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.bytes();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.length) as ArrayBuffer;
  }

  async text(): Promise<string> {
    return Buffer.from(await this.bytes()).toString('utf8');
  }
}

class Client implements Http3Client {
  constructor(
    private readonly b: Binding,
    private readonly authority: string,
  ) {}

  get session(): QuicSession {
    return this.b.session;
  }

  async request(path: string, init: Http3RequestInit = {}): Promise<Http3ClientResponse> {
    if (typeof path !== 'string' || !(path.startsWith('/') || path === '*'))
      throw new TypeError("path must be a string starting with '/'");
    if (init === null || typeof init !== 'object') throw new TypeError('init must be an object');
    const method = init.method ?? 'GET';
    if (typeof method !== 'string') throw new TypeError('init.method must be a string');
    const fields = toFields(init.headers as Record<string, string>, 'init.headers');
    const body = init.body;
    if (
      body !== undefined &&
      typeof body !== 'string' &&
      !(body instanceof Uint8Array) &&
      typeof (body as AsyncIterable<unknown>)?.[Symbol.asyncIterator] !== 'function'
    )
      throw new TypeError('init.body must be a string, a Uint8Array or an async iterable');
    const signal = init.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal))
      throw new TypeError('init.signal must be an AbortSignal');
    signal?.throwIfAborted();
    const b = this.b;
    if (!b.conn.canRequest) throw new Error('HTTP/3 connection is closing (GOAWAY or error)');
    const qs = await b.session.createBidirectionalStream();
    const id = qs.id;
    b.adopt(qs);
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const fixed = bytes instanceof Uint8Array ? bytes : undefined;
    if (fixed && !fields.some(([n]) => n === 'content-length'))
      fields.push(['content-length', String(fixed.length)]);
    return new Promise<Http3ClientResponse>((resolve, reject) => {
      let res: ClientResponse | undefined;
      const bodyStream = new Readable({
        read: () => {
          if (qs.isPaused()) qs.resume();
        },
      });
      bodyStream.on('error', noop);
      const onAbort = () => {
        b.conn.abort(id, H3.REQUEST_CANCELLED);
        b.flush();
        fail(signal!.reason ?? new Error('request aborted'));
      };
      const fail = (err: Error) => {
        signal?.removeEventListener('abort', onAbort);
        if (res) bodyStream.destroy(err);
        else reject(err);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      b.handle(id, (ev) => {
        if (ev.type === 'response') {
          if (ev.head.status < 200) return; // interim
          res = new ClientResponse(ev.head.status, ev.head.fields, bodyStream);
          resolve(res);
        } else if (ev.type === 'data') {
          if (!bodyStream.push(ev.data)) qs.pause();
        } else if (ev.type === 'trailers') {
          if (res) res.trailers = toRecord(ev.fields);
        } else if (ev.type === 'end') {
          signal?.removeEventListener('abort', onAbort);
          bodyStream.push(null);
        } else if (ev.type === 'stream-error' || ev.type === 'closed') fail(ev.error);
      });
      try {
        b.conn.sendRequest(
          id,
          { method, scheme: 'https', authority: this.authority, path, fields },
          body === undefined || (fixed !== undefined && fixed.length === 0),
        );
        if (fixed?.length) b.conn.sendData(id, fixed, true);
        b.flush();
      } catch (e) {
        qs.destroy();
        return fail(e as Error);
      }
      if (!fixed && body !== undefined)
        void this.stream(id, qs, body as AsyncIterable<Uint8Array | string>).catch((e) => {
          b.conn.abort(id, H3.REQUEST_CANCELLED);
          b.flush();
          fail(e as Error);
        });
    });
  }

  /** Streams an async iterable request body with backpressure. */
  private async stream(
    id: number,
    qs: QuicStream,
    body: AsyncIterable<Uint8Array | string>,
  ): Promise<void> {
    const b = this.b;
    // A server that answered without reading the body stops it (STOP_SENDING H3_NO_ERROR,
    // RFC 9114 §4.1): the rest of the body is dropped, the response goes on.
    let stopped = false;
    qs.once('stop-sending', () => (stopped = true));
    for await (const chunk of body) {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (!(data instanceof Uint8Array))
        throw new TypeError('body chunks must be bytes or strings');
      if (qs.destroyed || stopped) break;
      b.conn.sendData(id, data);
      b.flush();
      await new Promise<void>((res, rej) => afterWrite(qs, (e) => (e ? rej(e) : res())));
    }
    if (qs.destroyed) return;
    if (stopped) {
      qs.end(); // nothing more is sent: lets the Duplex finish
      return;
    }
    b.conn.end(id);
    b.flush();
  }

  close(): Promise<void> {
    return this.b.close();
  }
}

/** Connects to an HTTP/3 server ('host:port'); resolves after the handshake. ALPN 'h3'. */
export async function connectHttp3(
  authority: string,
  options: ConnectOptions = {},
): Promise<Http3Client> {
  if (typeof authority !== 'string') throw new TypeError("authority must be a 'host:port' string");
  const session = await connect(authority, { ...options, alpn: options.alpn ?? ['h3'] });
  const b = new Binding(session, 'client');
  // With a ticket and earlyData the client is usable at once: requests made before the
  // handshake completes go out as 0-RTT (RFC 9114 §4.1; the server's settings are taken as
  // their defaults, §7.2.4.2, which needs nothing of them with a QPACK table of capacity 0).
  // If the server refuses the early data, the transport sends it again in 1-RTT.
  if (!(options.earlyData && options.session)) {
    try {
      await session.opened;
    } catch (e) {
      session.destroy();
      throw e;
    }
  }
  return new Client(b, authority);
}

/** Connects, sends one request, reads the whole response, closes. */
export async function fetchHttp3(
  url: string | URL,
  options: ConnectOptions & Omit<Http3RequestInit, 'signal'> = {},
): Promise<Http3ClientResponse> {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (!(u instanceof URL)) throw new TypeError('url must be a string or a URL');
  if (u.protocol !== 'https:') throw new TypeError('url must be an https: URL');
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : 443;
  const { method, headers, body, ...connectOptions } = options;
  const client = await connectHttp3(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, {
    servername: host,
    ...connectOptions,
  });
  try {
    const res = await client.request(u.pathname + u.search, {
      method,
      headers,
      body,
      signal: options.signal,
    });
    const data = await res.bytes();
    const done = new ClientResponse(res.status, [], Readable.from([Buffer.from(data)]));
    Object.assign(done, { headers: res.headers, trailers: res.trailers });
    return done;
  } finally {
    await client.close().catch(noop);
  }
}
