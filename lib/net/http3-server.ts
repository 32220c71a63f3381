// serveHttp3(handler): HTTP/3 requests as node:http-shaped (req, res) objects. The request is a
// Readable of its body (req.toWeb() gives a web stream); the response a Writable with
// setHeader / getHeader / removeHeader / getHeaders / writeHead / addTrailers.
import { Readable, Writable } from 'node:stream';

import type { Field, H3Event } from '../h3/connection.js';
import { H3 } from '../h3/errors.js';
import { checkOutgoing } from '../h3/message.js';
import { log } from '../debug/log.js';
import {
  afterWrite,
  Binding,
  noop,
  toFields,
  toRecord,
  type Http3HeaderValue,
  type Http3HeadersInit,
} from './h3-binding.js';
import { listen, listenWorkers } from './listen.js';
import { toWebStream } from './web-stream.js';
import type { ListenOptions } from './options.js';
import type { QuicEndpoint } from './endpoint.js';
import type { QuicWorkerPool } from './workers.js';
import { checkCloseTimeout, type QuicSession } from './session.js';
import type { QuicStream } from './stream.js';

export interface Http3Request extends Readable {
  readonly method: string;
  /** The request target (:path), as node:http's `req.url`. */
  readonly url: string;
  readonly path: string;
  readonly authority: string;
  readonly scheme: string;
  /** Regular fields, lower-case names; duplicates joined with ', ' (cookie: '; '). */
  readonly headers: Record<string, string>;
  /** Every field line in order, as node:http's: [name, value, name, value, ...]. */
  readonly rawHeaders: readonly string[];
  /** Trailers, once the body ended. */
  readonly trailers: Record<string, string>;
  readonly session: QuicSession;
  readonly streamId: number;
  /** The body as a web ReadableStream (cancel() stops reading the request). */
  toWeb(): ReadableStream<Uint8Array>;
}

export interface Http3Response extends Writable {
  /** Status of the response (default 200). */
  statusCode: number;
  /** An array value sends one field line per element (several set-cookie). */
  setHeader(name: string, value: Http3HeaderValue): this;
  getHeader(name: string): string | string[] | undefined;
  hasHeader(name: string): boolean;
  removeHeader(name: string): void;
  /** The headers set so far, lower-case names (a fresh object). */
  getHeaders(): Record<string, string | string[]>;
  getHeaderNames(): string[];
  /** Sends the head now (1xx: an interim response). HTTP/3 has no reason phrase (RFC 9114
   * §4.3.2): a `statusMessage` is accepted for node:http's signature and not sent. */
  writeHead(status: number, headers?: Http3HeadersInit): this;
  writeHead(status: number, statusMessage: string, headers?: Http3HeadersInit): this;
  /** Trailers to send after the body (on end()). */
  addTrailers(headers: Http3HeadersInit): void;
  readonly headersSent: boolean;
}

/** listen()'s options, with ALPN 'h3' by default. */
export type Http3ListenOptions = Omit<ListenOptions, 'alpn'> & Partial<Pick<ListenOptions, 'alpn'>>;

/** A request handler; a returned promise that rejects is treated like a throw. */
export type Http3Handler = (req: Http3Request, res: Http3Response) => void | Promise<void>;

class ServerRequest extends Readable implements Http3Request {
  method = '';
  path = '';
  authority = '';
  scheme = '';
  headers: Record<string, string> = Object.create(null);
  rawHeaders: string[] = [];
  trailers: Record<string, string> = Object.create(null);

  constructor(
    readonly session: QuicSession,
    readonly streamId: number,
    private readonly qs: QuicStream,
  ) {
    super();
    this.on('error', noop); // a peer's reset must not crash a server without 'error' listeners
  }

  get url(): string {
    return this.path;
  }

  toWeb(): ReadableStream<Uint8Array> {
    return toWebStream(this);
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
  /** Lower-case name -> value (one string, or one per field line). */
  private fields = new Map<string, string | string[]>();
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

  setHeader(name: string, value: Http3HeaderValue): this {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    if (this.sent) throw new Error('headers already sent');
    const lines = toFields({ [name]: value }, 'value');
    checkOutgoing(lines); // a bad name or value fails here, not when the head is sent
    const key = name.toLowerCase();
    if (Array.isArray(value))
      this.fields.set(
        key,
        lines.map(([, v]) => v),
      );
    else this.fields.set(key, lines[0]![1]);
    return this;
  }

  getHeader(name: string): string | string[] | undefined {
    const v = this.fields.get(String(name).toLowerCase());
    return Array.isArray(v) ? [...v] : v;
  }

  hasHeader(name: string): boolean {
    return this.fields.has(String(name).toLowerCase());
  }

  removeHeader(name: string): void {
    if (typeof name !== 'string') throw new TypeError('name must be a string');
    if (this.sent) throw new Error('headers already sent');
    this.fields.delete(name.toLowerCase());
  }

  getHeaders(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = Object.create(null);
    for (const n of this.fields.keys()) out[n] = this.getHeader(n)!;
    return out;
  }

  getHeaderNames(): string[] {
    return [...this.fields.keys()];
  }

  writeHead(
    status: number,
    messageOrHeaders?: string | Http3HeadersInit,
    headers?: Http3HeadersInit,
  ): this {
    if (!Number.isInteger(status) || status < 100 || status > 999)
      throw new RangeError('status must be an integer in 100..999');
    const given = typeof messageOrHeaders === 'string' ? headers : messageOrHeaders;
    if (this.sent) throw new Error('headers already sent');
    this.statusCode = status;
    // As node:http: these take precedence over setHeader()'s; repeated names stay apart.
    const byName = new Map<string, string[]>();
    for (const [n, v] of toFields(given, 'headers')) byName.set(n, [...(byName.get(n) ?? []), v]);
    for (const [n, vs] of byName) this.fields.set(n, vs.length === 1 ? vs[0]! : vs);
    if (status >= 200) this.sendHead(false);
    else {
      // interim (1xx) response: sent now, the final one follows
      this.b.conn.sendResponse(this.id, status, this.fieldList());
      this.b.flush();
    }
    return this;
  }

  addTrailers(headers: Http3HeadersInit): void {
    this.trailerFields = [...(this.trailerFields ?? []), ...toFields(headers, 'trailers')];
  }

  /** After a failed handler, before anything was sent: a bare 500 instead of its headers. */
  failWith500(): void {
    this.fields.clear();
    this.trailerFields = undefined;
    this.statusCode = 500;
    this.end();
  }

  private fieldList(): Field[] {
    const out: Field[] = [];
    for (const [n, v] of this.fields)
      if (Array.isArray(v)) for (const one of v) out.push([n, one]);
      else out.push([n, v as string]);
    return out;
  }

  private sendHead(end: boolean): void {
    if (this.sent) return;
    this.sent = true;
    this.b.conn.sendResponse(this.id, this.statusCode, this.fieldList(), end);
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

/** A failed handler (a throw, or a returned promise that rejects): a 500 response when nothing
 * was sent yet, else the stream is reset with H3_INTERNAL_ERROR (RFC 9114 §8.1); logged once. */
function handlerFailed(res: ServerResponse, e: unknown): void {
  log('warn', `HTTP/3 handler failed: ${(e as Error)?.stack ?? e}`);
  if (res.destroyed || res.writableEnded) return; // the response was complete: it stands
  if (!res.headersSent) res.failWith500();
  else res.destroy(e instanceof Error ? e : new Error(String(e)));
}

/** HTTP/3 on the sessions given to attach(): each request goes to `handler`. A server offering
 * several ALPNs attaches only its h3 sessions (`session.alpnProtocol`). */
export class Http3Sessions {
  private readonly bindings = new Set<Binding>();

  constructor(private readonly handler: Http3Handler) {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
  }

  /** Speaks HTTP/3 on `session` (before its first stream is delivered). */
  attach(session: QuicSession): void {
    const b = new Binding(session, 'server', (b, qs, ev) => this.onRequest(b, qs, ev));
    this.bindings.add(b);
    session.once('close', () => this.bindings.delete(b));
  }

  /** Makes `endpoint.close()` close the attached sessions the HTTP/3 way: it would wait for
   * every stream to finish, but HTTP/3's control streams never do (RFC 9114 §6.2.1). Both run
   * within the endpoint's bound (it destroys what is left at `timeout`). */
  closeWith(endpoint: QuicEndpoint): QuicEndpoint {
    const close = endpoint.close.bind(endpoint);
    endpoint.close = (options) => {
      const timeout = checkCloseTimeout(options);
      for (const b of this.bindings) void b.close(timeout).catch(noop);
      return close(options);
    };
    return endpoint;
  }

  private onRequest(b: Binding, qs: QuicStream, ev: H3Event & { type: 'request' }): void {
    const req = new ServerRequest(b.session, ev.stream, qs);
    const h = ev.head;
    req.method = h.method;
    req.path = h.path;
    req.authority = h.authority;
    req.scheme = h.scheme;
    req.headers = toRecord(h.fields);
    req.rawHeaders = h.fields.flat();
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
      const done: unknown = this.handler(req, res);
      if (typeof (done as PromiseLike<void> | undefined)?.then === 'function')
        Promise.resolve(done).catch((e: unknown) => handlerFailed(res, e));
    } catch (e) {
      handlerFailed(res, e);
    }
  }
}

/** Starts an HTTP/3 server: `handler` gets each request like node:http's (req, res). ALPN
 * defaults to 'h3'; every session speaks HTTP/3 whatever ALPN it chose. With a handler module
 * (a URL or a file path; its default export, or its `handler` export, is the handler) the
 * server runs in worker threads, as listen() does. */
export function serveHttp3(
  handler: Http3Handler,
  options: Http3ListenOptions,
): Promise<QuicEndpoint>;
export function serveHttp3(
  handlerModule: string | URL,
  options: Http3ListenOptions,
): Promise<QuicWorkerPool>;
export async function serveHttp3(
  handler: Http3Handler | string | URL,
  options: Http3ListenOptions,
): Promise<QuicEndpoint | QuicWorkerPool> {
  // A handler module: the servers run in worker threads (listen()).
  if (typeof handler === 'string' || handler instanceof URL)
    return listenWorkers('h3', handler, { ...options, alpn: options.alpn ?? ['h3'] });
  const h3 = new Http3Sessions(handler);
  if (options === null || typeof options !== 'object')
    throw new TypeError('options must be an object');
  const endpoint = await listen((session) => h3.attach(session), {
    ...options,
    alpn: options.alpn ?? ['h3'],
  });
  return h3.closeWith(endpoint);
}
