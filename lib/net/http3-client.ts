// connectHttp3(): one HTTP/3 connection as a client object whose request() sends a request and
// resolves with the response head; the body is a Readable that streams.
import { Readable } from 'node:stream';

import type { Field } from '../h3/connection.js';
import { H3, H3Error } from '../h3/errors.js';
import { abortable } from './abortable.js';
import { connect } from './connect.js';
import {
  afterWrite,
  Binding,
  noop,
  toFields,
  toRecord,
  type Http3HeadersInit,
} from './h3-binding.js';
import type { ConnectOptions } from './options.js';
import type { QuicSession } from './session.js';
import type { QuicStream } from './stream.js';

export interface Http3RequestInit {
  method?: string;
  /** A record (array values: one field line each), a `Headers`, or [name, value] pairs. */
  headers?: Http3HeadersInit;
  /** Request body: bytes, a string (UTF-8), or an async iterable of chunks (streamed). */
  body?: string | Uint8Array | AsyncIterable<Uint8Array | string>;
  signal?: AbortSignal;
}

export interface Http3ClientResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Every field line in order, lower-case names (several set-cookie stay apart). */
  readonly fields: readonly Field[];
  /** Trailers, once the body ended. */
  readonly trailers: Record<string, string>;
  /** Response body bytes; destroying it before its end cancels the request
   * (H3_REQUEST_CANCELLED). */
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
    readonly fields: readonly Field[],
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
    const fields = toFields(init.headers, 'init.headers');
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
    // The request is not sent on a closing connection: H3_REQUEST_REJECTED says it may be
    // retried on another one (RFC 9114 §4.1.1).
    const closing = () => new H3Error(H3.REQUEST_REJECTED, 'HTTP/3 connection is closing');
    if (!b.conn.canRequest) throw closing();
    let qs: QuicStream;
    try {
      // May wait for the peer's MAX_STREAMS (RFC 9000 §4.6) until the signal aborts.
      qs = await abortable(b.session.createBidirectionalStream(), signal, (late) => late.destroy());
    } catch (e) {
      if (signal?.aborted) throw e;
      throw closing();
    }
    if (!b.conn.canRequest) {
      qs.destroy();
      throw closing();
    }
    const id = qs.id;
    b.adopt(qs);
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    const fixed = bytes instanceof Uint8Array ? bytes : undefined;
    if (fixed && !fields.some(([n]) => n === 'content-length'))
      fields.push(['content-length', String(fixed.length)]);
    return new Promise<Http3ClientResponse>((resolve, reject) => {
      let res: ClientResponse | undefined;
      let ended = false;
      const bodyStream = new Readable({
        read: () => {
          if (qs.isPaused()) qs.resume();
        },
        // A body dropped before its end: the rest of the response is not wanted (RFC 9114 §4.1.1).
        destroy: (err, cb) => {
          if (!ended) {
            signal?.removeEventListener('abort', onAbort);
            b.conn.abort(id, H3.REQUEST_CANCELLED);
            b.flush();
          }
          cb(err);
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
          ended = true;
          signal?.removeEventListener('abort', onAbort);
          bodyStream.push(null);
        } else if (ev.type === 'stream-error' || ev.type === 'closed') {
          ended = true;
          fail(ev.error);
        }
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

/** connect()'s options, with ALPN 'h3' by default. */
export type Http3ConnectOptions = Omit<ConnectOptions, 'alpn'> &
  Partial<Pick<ConnectOptions, 'alpn'>>;

/** Connects to an HTTP/3 server ('host:port'); resolves after the handshake. ALPN 'h3'. */
export async function connectHttp3(
  authority: string,
  options: Http3ConnectOptions = {},
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
