// The HTTP/3 connection (RFC 9114) as a sans-IO state machine for either role. The transport
// feeds it stream bytes (receive), resets and stop-sendings; it answers with events from poll():
// bytes to send on a stream ('send'; our control and QPACK streams are named, the transport
// opens them), stream aborts, a connection error to close with, and the HTTP messages.
import { H3, H3Error } from './errors.js';
import {
  FrameReader,
  FrameType,
  HeaderBudget,
  Setting,
  encodeFrame,
  encodeIdFrame,
  encodeSettings,
  encodeVarint,
  frameHeader,
  greaseValue,
  readVarint,
  type H3Frame,
} from './frames.js';
import {
  checkOutgoing,
  contentLength,
  parseRequest,
  parseResponse,
  parseTrailers,
  type RequestHead,
  type ResponseHead,
} from './message.js';
import {
  DecoderStreamReader,
  EncoderStreamReader,
  decodeFieldSection,
  encodeFieldSection,
  fieldSectionSize,
  type Field,
} from './qpack.js';

export type { RequestHead, ResponseHead } from './message.js';
export type { Field } from './qpack.js';

/** Our unidirectional streams (§6.2): the transport opens one per name on the first 'send'. */
export type UniStreamName = 'control' | 'encoder' | 'decoder';

export type H3Event =
  | { type: 'send'; stream: number | UniStreamName; data: Uint8Array; fin: boolean }
  /** Abort the stream both ways (RESET_STREAM and STOP_SENDING) with `code`. */
  | { type: 'abort'; stream: number; code: number }
  /** Stop reading a stream (STOP_SENDING): a peer's unknown unidirectional stream, or a request
   * body after the complete response (the response is not reset). */
  | { type: 'stop-sending'; stream: number; code: number }
  /** Connection error (§8): close the connection with this application error code. */
  | { type: 'close'; code: number; reason: string }
  /** Server: a request head arrived. */
  | { type: 'request'; stream: number; head: RequestHead }
  /** Client: a response head (interim 1xx ones included) arrived. */
  | { type: 'response'; stream: number; head: ResponseHead }
  | { type: 'data'; stream: number; data: Uint8Array }
  | { type: 'trailers'; stream: number; fields: Field[] }
  /** The message on the stream is complete (FIN after a valid message). */
  | { type: 'end'; stream: number }
  /** The stream failed: `error.code` says why; `local` when we detected it (and emitted an
   * 'abort'), otherwise the peer reset it. */
  | { type: 'stream-error'; stream: number; error: H3Error; local: boolean }
  | { type: 'goaway'; id: number }
  | { type: 'settings'; settings: ReadonlyMap<number, number> };

export interface H3ConnectionOptions {
  role: 'client' | 'server';
  /** SETTINGS_MAX_FIELD_SECTION_SIZE we announce and enforce (default 64 KiB). */
  maxFieldSectionSize?: number;
  /** Most field lines per section (default 500). */
  maxFields?: number;
  /** Most bytes of unfinished HEADERS held for all request streams together (default 1 MiB);
   * the stream whose bytes go over is reset with H3_EXCESSIVE_LOAD. */
  maxUnfinishedHeaderBytes?: number;
  /** Send reserved setting/frame values (§7.2.4.1, §7.2.8) (default true). */
  grease?: boolean;
}

const EMPTY = new Uint8Array(0);
const STREAM_CONTROL = 0x00;
const STREAM_PUSH = 0x01;
const STREAM_ENCODER = 0x02;
const STREAM_DECODER = 0x03;

interface RecvState {
  reader: FrameReader;
  phase: 'head' | 'body' | 'trailers';
  length: number; // content-length, -1 none
  received: number;
  headRequest: boolean; // client: response to HEAD (no content)
}

interface SendState {
  phase: 'head' | 'body' | 'done';
}

interface UniState {
  kind: number; // -1 until the type varint arrived
  typeBytes: Uint8Array;
  reader?: FrameReader;
  encoder?: EncoderStreamReader;
  decoder?: DecoderStreamReader;
  gotSettings?: boolean;
}

export class H3Connection {
  readonly role: 'client' | 'server';
  /** The peer's SETTINGS once received. */
  peerSettings: ReadonlyMap<number, number> | undefined;
  /** GOAWAY id we received (client: first stream id the server will not process). */
  peerGoaway = -1;
  /** GOAWAY id we sent. */
  localGoaway = -1;
  /** Set after a connection error: everything else is ignored. */
  closed = false;

  private readonly events: H3Event[] = [];
  private readonly maxSize: number;
  private readonly maxFields: number;
  private readonly grease: boolean;
  private readonly headerBudget: HeaderBudget;
  private readonly recv = new Map<number, RecvState>();
  private readonly send = new Map<number, SendState>();
  private readonly uni = new Map<number, UniState>();
  private readonly seen = new Set<number>(); // peer stream types received: control, encoder, decoder
  private maxPushId = -1; // server: the client's MAX_PUSH_ID
  private highestRequest = -1; // server: highest request stream id accepted
  private started = false;

  constructor(opts: H3ConnectionOptions) {
    if (opts.role !== 'client' && opts.role !== 'server')
      throw new TypeError("role must be 'client' or 'server'");
    this.role = opts.role;
    this.maxSize = opts.maxFieldSectionSize ?? 64 * 1024;
    this.maxFields = opts.maxFields ?? 500;
    if (!(Number.isSafeInteger(this.maxSize) && this.maxSize > 0))
      throw new RangeError('maxFieldSectionSize must be a positive integer');
    if (!(Number.isSafeInteger(this.maxFields) && this.maxFields > 0))
      throw new RangeError('maxFields must be a positive integer');
    this.grease = opts.grease !== false;
    const budget = opts.maxUnfinishedHeaderBytes ?? 1 << 20;
    if (!(Number.isSafeInteger(budget) && budget > 0))
      throw new RangeError('maxUnfinishedHeaderBytes must be a positive integer');
    this.headerBudget = new HeaderBudget(budget);
  }

  /** Bytes of unfinished HEADERS held now, and the request streams refused for holding too
   * many (maxUnfinishedHeaderBytes). */
  get unfinishedHeaders(): { bytes: number; refused: number } {
    return { bytes: this.headerBudget.used, refused: this.headerBudget.refused };
  }

  poll(): H3Event | undefined {
    return this.events.shift();
  }

  /** Opens our control stream with SETTINGS (§6.2.1, §7.2.4) and the QPACK streams (RFC 9204
   * §4.2). Call once, first. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const settings = new Map<number, number>([
      [Setting.QPACK_MAX_TABLE_CAPACITY, 0],
      [Setting.MAX_FIELD_SECTION_SIZE, this.maxSize],
      [Setting.QPACK_BLOCKED_STREAMS, 0],
    ]);
    if (this.grease) settings.set(greaseValue(), Math.floor(Math.random() * 0x3fff));
    const parts = [encodeVarint(STREAM_CONTROL), encodeSettings(settings)];
    if (this.grease) parts.push(encodeFrame(greaseValue(), EMPTY)); // §7.2.8 reserved frame
    this.out('control', Buffer.concat(parts));
    this.out('encoder', encodeVarint(STREAM_ENCODER));
    this.out('decoder', encodeVarint(STREAM_DECODER));
  }

  // ------------------------------------------------------------------------ sending messages

  /** Client: sends a request's HEADERS on a new bidirectional stream `id`. */
  sendRequest(id: number, head: Omit<RequestHead, 'fields'> & { fields?: Field[] }, end = false) {
    if (this.role !== 'client') throw new TypeError('only a client sends requests');
    if (this.peerGoaway >= 0 && id >= this.peerGoaway)
      throw new RangeError('the server sent GOAWAY: no new requests');
    if (this.send.has(id) || this.recv.has(id)) throw new RangeError(`stream ${id} is in use`);
    const fields: Field[] = [[':method', head.method]];
    if (head.method !== 'CONNECT') fields.push([':scheme', head.scheme]);
    if (head.authority) fields.push([':authority', head.authority]);
    if (head.method !== 'CONNECT') fields.push([':path', head.path]);
    if (!head.method || /[^A-Za-z0-9!#$%&'*+.^_`|~-]/.test(head.method))
      throw new TypeError('method must be a token');
    if (head.method !== 'CONNECT' && !head.path.startsWith('/') && head.path !== '*')
      throw new TypeError("path must start with '/'");
    const regular = head.fields ?? [];
    checkOutgoing(regular);
    const ev = this.headersEvent(id, [...fields, ...regular], end);
    this.send.set(id, { phase: end ? 'done' : 'body' });
    if (end) this.send.delete(id);
    this.recv.set(id, this.newRecv(head.method === 'HEAD'));
    this.events.push(ev);
  }

  /** Server: sends a response head (an interim 1xx one may come before the final one). */
  sendResponse(id: number, status: number, fields: Field[] = [], end = false): void {
    if (this.role !== 'server') throw new TypeError('only a server sends responses');
    if (!Number.isInteger(status) || status < 100 || status > 999)
      throw new RangeError('status must be an integer in 100..999');
    checkOutgoing(fields);
    const s = this.send.get(id);
    if (!s || s.phase !== 'head')
      throw new RangeError(`stream ${id}: no request awaiting a response`);
    if (status < 200) {
      if (end) throw new RangeError('an interim response cannot end the stream');
      this.events.push(this.headersEvent(id, [[':status', String(status)], ...fields], false));
      return;
    }
    this.sendFields(id, [[':status', String(status)], ...fields], end);
  }

  /** Sends body bytes (a DATA frame; the payload is passed on as is, not copied). */
  sendData(id: number, data: Uint8Array, fin = false): void {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    const s = this.send.get(id);
    if (!s || s.phase !== 'body') throw new RangeError(`stream ${id}: cannot send DATA now`);
    if (data.length) {
      this.out(id, frameHeader(FrameType.DATA, data.length));
      this.out(id, data, fin);
    } else if (fin) this.out(id, EMPTY, true);
    if (fin) this.sendDone(id);
  }

  /** Sends trailers and ends the stream. */
  sendTrailers(id: number, fields: Field[]): void {
    const s = this.send.get(id);
    if (!s || s.phase !== 'body') throw new RangeError(`stream ${id}: cannot send trailers now`);
    checkOutgoing(fields);
    if (fields.some(([n]) => n.startsWith(':'))) throw new TypeError('pseudo-header in trailers');
    this.sendFields(id, fields, true);
  }

  /** Ends the stream (FIN) after what was sent. */
  end(id: number): void {
    this.sendData(id, EMPTY, true);
  }

  /** Aborts a request stream (both ways) with `code` (e.g. H3_REQUEST_CANCELLED). */
  abort(id: number, code: number = H3.REQUEST_CANCELLED): void {
    if (!this.send.has(id) && !this.recv.has(id)) return;
    this.send.delete(id);
    this.dropRecv(id);
    this.events.push({ type: 'abort', stream: id, code });
  }

  /** Server: stops reading a request whose response is complete (STOP_SENDING H3_NO_ERROR,
   * §4.1); the rest of its body is discarded. */
  abortReading(id: number): void {
    if (!this.dropRecv(id)) return;
    this.events.push({ type: 'stop-sending', stream: id, code: H3.NO_ERROR });
  }

  /** Sends GOAWAY (§5.2): a server names the first request stream it will not process; a
   * client sends push ID 0 (it allows no pushes). Repeats may only lower the id. */
  goaway(): void {
    if (this.closed) return;
    const id = this.role === 'server' && this.highestRequest >= 0 ? this.highestRequest + 4 : 0;
    if (this.localGoaway >= 0 && id >= this.localGoaway) return;
    this.localGoaway = id;
    this.out('control', encodeIdFrame(FrameType.GOAWAY, id));
  }

  /** True when the client may still open requests (no GOAWAY received, no error). */
  get canRequest(): boolean {
    return !this.closed && this.peerGoaway < 0;
  }

  /** Number of request streams still in progress (either direction). */
  get activeRequests(): number {
    const ids = new Set([...this.send.keys(), ...this.recv.keys()]);
    return ids.size;
  }

  private sendFields(id: number, fields: Field[], end: boolean): void {
    this.events.push(this.headersEvent(id, fields, end));
    if (end) this.sendDone(id);
    else this.send.get(id)!.phase = 'body';
  }

  private headersEvent(id: number, fields: Field[], fin: boolean): H3Event {
    // §4.2.2: the peer's SETTINGS_MAX_FIELD_SECTION_SIZE (unlimited until its SETTINGS arrive).
    const max = this.peerSettings?.get(Setting.MAX_FIELD_SECTION_SIZE);
    if (max !== undefined && fieldSectionSize(fields) > max)
      throw new RangeError(`field section exceeds the peer's limit of ${max} bytes`);
    return {
      type: 'send',
      stream: id,
      data: encodeFrame(FrameType.HEADERS, encodeFieldSection(fields)),
      fin,
    };
  }

  private sendDone(id: number): void {
    const s = this.send.get(id);
    if (s) s.phase = 'done';
    this.send.delete(id);
  }

  private out(stream: number | UniStreamName, data: Uint8Array, fin = false): void {
    this.events.push({ type: 'send', stream, data, fin });
  }

  // ------------------------------------------------------------------------------- receiving

  /** Bytes (a view; not kept past the call except DATA views handed on) arrived on a stream. */
  receive(id: number, data: Uint8Array, fin = false): void {
    if (this.closed) return;
    try {
      if (id & 2) this.receiveUni(id, data, fin);
      else this.receiveRequest(id, data, fin);
    } catch (e) {
      this.onError(e, id);
    }
  }

  /** The peer reset a stream (RESET_STREAM). */
  streamReset(id: number, code: number): void {
    if (this.closed) return;
    if (id & 2) {
      const u = this.uni.get(id);
      this.uni.delete(id);
      if (u && u.kind !== -1 && this.isCritical(u.kind))
        this.connectionError(new H3Error(H3.CLOSED_CRITICAL_STREAM, 'critical stream reset'));
      return;
    }
    if (!this.recv.has(id) && !this.send.has(id)) return;
    this.dropRecv(id);
    this.send.delete(id);
    const e = new H3Error(code, `stream ${id} reset by the peer`, true);
    this.events.push({ type: 'stream-error', stream: id, error: e, local: false });
  }

  /** The peer sent STOP_SENDING on a stream we write. */
  stopSending(id: number, code: number): void {
    if (this.closed) return;
    if (id & 2) {
      // §6.2.1: our control stream must not be closed; the QPACK streams likewise (RFC 9204 §4.2)
      this.connectionError(new H3Error(H3.CLOSED_CRITICAL_STREAM, 'critical stream stopped'));
      return;
    }
    if (!this.send.has(id)) return;
    this.send.delete(id);
    // A server may stop reading a request it answered early (H3_NO_ERROR, §4.1): only then
    // does the response go on; otherwise the exchange is over.
    if (code === H3.NO_ERROR && this.role === 'client') return;
    this.dropRecv(id);
    const e = new H3Error(code, `stream ${id} stopped by the peer`, true);
    this.events.push({ type: 'stream-error', stream: id, error: e, local: false });
  }

  /** The transport closed (or is closing) the connection: nothing more to do. */
  shutdown(): void {
    this.closed = true;
    for (const id of [...this.recv.keys()]) this.dropRecv(id);
    this.send.clear();
    this.uni.clear();
  }

  private onError(e: unknown, id: number): void {
    const err =
      e instanceof H3Error ? e : new H3Error(H3.INTERNAL_ERROR, (e as Error)?.message ?? String(e));
    if (err.stream && !(id & 2)) this.streamError(id, err);
    else this.connectionError(err);
  }

  private streamError(id: number, err: H3Error): void {
    this.dropRecv(id);
    this.send.delete(id);
    this.events.push({ type: 'abort', stream: id, code: err.code });
    this.events.push({ type: 'stream-error', stream: id, error: err, local: true });
  }

  private connectionError(err: H3Error): void {
    if (this.closed) return;
    this.events.push({ type: 'close', code: err.code, reason: err.message });
    this.shutdown();
  }

  /** Forgets a stream's receiving side, giving back the header bytes its reader held. */
  private dropRecv(id: number): boolean {
    const st = this.recv.get(id);
    if (!st) return false;
    st.reader.discard();
    return this.recv.delete(id);
  }

  private newRecv(headRequest = false): RecvState {
    return {
      reader: new FrameReader({ maxHeaderBlock: 4 * this.maxSize + 64, budget: this.headerBudget }),
      phase: 'head',
      length: -1,
      received: 0,
      headRequest,
    };
  }

  private receiveRequest(id: number, data: Uint8Array, fin: boolean): void {
    const serverInitiated = (id & 1) === 1;
    let st = this.recv.get(id);
    if (!st) {
      if (this.role === 'client') {
        // §6.1: a server-initiated bidirectional stream is H3_STREAM_CREATION_ERROR; data on a
        // stream we aborted or finished is ignored.
        if (serverInitiated)
          throw new H3Error(H3.STREAM_CREATION_ERROR, 'server-initiated bidirectional stream');
        return;
      }
      if (serverInitiated || id <= this.highestRequest) return; // aborted or finished earlier
      if (this.localGoaway >= 0 && id >= this.localGoaway) {
        // §5.2: requests after our GOAWAY are rejected without processing.
        this.highestRequest = Math.max(this.highestRequest, id);
        this.events.push({ type: 'abort', stream: id, code: H3.REQUEST_REJECTED });
        return;
      }
      this.highestRequest = id;
      st = this.newRecv();
      this.recv.set(id, st);
      this.send.set(id, { phase: 'head' });
    }
    const state = st;
    state.reader.push(data, (f) => this.onRequestFrame(id, state, f));
    if (!fin || this.recv.get(id) !== state) return;
    // §7.1: a stream may end only between frames.
    if (!state.reader.atBoundary) throw new H3Error(H3.FRAME_ERROR, 'stream ended inside a frame');
    if (state.phase === 'head')
      throw this.role === 'server'
        ? new H3Error(H3.REQUEST_INCOMPLETE, 'request stream ended without HEADERS', true)
        : new H3Error(H3.MESSAGE_ERROR, 'response stream ended without a response', true);
    // §4.1.2: content-length must match the DATA received.
    if (state.length >= 0 && state.received !== state.length)
      throw new H3Error(H3.MESSAGE_ERROR, 'content-length does not match the body', true);
    this.dropRecv(id);
    this.events.push({ type: 'end', stream: id });
  }

  private onRequestFrame(id: number, st: RecvState, f: H3Frame): void {
    if (this.recv.get(id) !== st) return; // aborted while parsing this chunk
    switch (f.type) {
      case 'headers': {
        if (st.phase === 'trailers')
          throw new H3Error(H3.FRAME_UNEXPECTED, 'HEADERS after trailers');
        const fields = decodeFieldSection(f.block, {
          maxSize: this.maxSize,
          maxFields: this.maxFields,
        });
        if (st.phase === 'body') {
          st.phase = 'trailers';
          this.events.push({ type: 'trailers', stream: id, fields: parseTrailers(fields) });
          return;
        }
        if (this.role === 'server') {
          const head = parseRequest(fields);
          st.length = contentLength(head.fields);
          st.phase = 'body';
          this.events.push({ type: 'request', stream: id, head });
          return;
        }
        const head = parseResponse(fields);
        if (head.status >= 200) {
          st.phase = 'body';
          // §4.1.2 / RFC 9110 §8.6: no content in HEAD, 204 and 304 responses.
          st.length =
            st.headRequest || head.status === 204 || head.status === 304
              ? 0
              : contentLength(head.fields);
          if (st.headRequest || head.status === 304) contentLength(head.fields); // still validated
        }
        this.events.push({ type: 'response', stream: id, head });
        return;
      }
      case 'data': {
        if (st.phase !== 'body') throw new H3Error(H3.FRAME_UNEXPECTED, 'DATA outside the body');
        st.received += f.data.length;
        if (st.length >= 0 && st.received > st.length)
          throw new H3Error(H3.MESSAGE_ERROR, 'body longer than content-length', true);
        if (f.data.length) this.events.push({ type: 'data', stream: id, data: f.data });
        return;
      }
      case 'push_promise':
        // §4.6 / §7.2.5: we never send MAX_PUSH_ID, so any push ID exceeds it.
        if (this.role === 'client')
          throw new H3Error(H3.ID_ERROR, 'PUSH_PROMISE without MAX_PUSH_ID');
        throw new H3Error(H3.FRAME_UNEXPECTED, 'PUSH_PROMISE from a client');
      default:
        // §7.2.3-7.2.7: CANCEL_PUSH, SETTINGS, GOAWAY, MAX_PUSH_ID belong on the control stream.
        throw new H3Error(H3.FRAME_UNEXPECTED, `${f.type.toUpperCase()} on a request stream`);
    }
  }

  private isCritical(kind: number): boolean {
    return kind === STREAM_CONTROL || kind === STREAM_ENCODER || kind === STREAM_DECODER;
  }

  private receiveUni(id: number, data: Uint8Array, fin: boolean): void {
    if ((id & 1) === (this.role === 'server' ? 1 : 0)) return; // our own (send-only) stream
    let u = this.uni.get(id);
    if (!u) {
      u = { kind: -1, typeBytes: EMPTY };
      this.uni.set(id, u);
    }
    if (u.kind === -1) {
      // §6.2: the stream type varint, possibly split across chunks.
      const buf = u.typeBytes.length ? Buffer.concat([u.typeBytes, data]) : data;
      const r = readVarint(buf, 0);
      if (r.next < 0) {
        u.typeBytes = buf.slice();
        // §6.2: a stream closed or reset before its type arrived is tolerated.
        if (fin) this.uni.delete(id);
        return;
      }
      data = buf.subarray(r.next);
      this.openUni(id, u, r.value);
      if ((u.kind as number) === -2) return;
    }
    if (u.kind === STREAM_CONTROL) {
      const state = u;
      u.reader!.push(data, (f) => this.onControlFrame(state, f));
    } else if (u.kind === STREAM_ENCODER) u.encoder!.push(data);
    else if (u.kind === STREAM_DECODER) u.decoder!.push(data);
    if (fin) {
      this.uni.delete(id);
      if (this.isCritical(u.kind))
        throw new H3Error(H3.CLOSED_CRITICAL_STREAM, 'critical stream closed');
    }
  }

  private openUni(id: number, u: UniState, type: number): void {
    if (type === STREAM_CONTROL || type === STREAM_ENCODER || type === STREAM_DECODER) {
      // §6.2.1 / RFC 9204 §4.2: one of each per peer.
      if (this.seen.has(type))
        throw new H3Error(H3.STREAM_CREATION_ERROR, `second stream of type ${type}`);
      this.seen.add(type);
      u.kind = type;
      if (type === STREAM_CONTROL) u.reader = new FrameReader({ maxControlFrame: 16 * 1024 });
      else if (type === STREAM_ENCODER) u.encoder = new EncoderStreamReader();
      else u.decoder = new DecoderStreamReader();
      return;
    }
    if (type === STREAM_PUSH) {
      // §6.2.2: only servers push; §4.6: we never sent MAX_PUSH_ID, so any push ID is too big.
      if (this.role === 'server')
        throw new H3Error(H3.STREAM_CREATION_ERROR, 'push stream from a client');
      throw new H3Error(H3.ID_ERROR, 'push stream without MAX_PUSH_ID');
    }
    // §6.2: unknown (or reserved) stream types are not read: STOP_SENDING.
    u.kind = -2;
    this.uni.delete(id);
    this.events.push({ type: 'stop-sending', stream: id, code: H3.STREAM_CREATION_ERROR });
  }

  private onControlFrame(u: UniState, f: H3Frame): void {
    if (this.closed) return;
    if (!u.gotSettings) {
      // §6.2.1: SETTINGS first.
      if (f.type !== 'settings')
        throw new H3Error(H3.MISSING_SETTINGS, 'control stream without SETTINGS first');
      u.gotSettings = true;
      this.peerSettings = f.settings;
      this.events.push({ type: 'settings', settings: f.settings });
      return;
    }
    switch (f.type) {
      case 'goaway':
        return this.onGoaway(f.id);
      case 'max_push_id':
        // §7.2.7: only clients send MAX_PUSH_ID, and it must not decrease.
        if (this.role === 'client')
          throw new H3Error(H3.FRAME_UNEXPECTED, 'MAX_PUSH_ID from a server');
        if (f.pushId < this.maxPushId) throw new H3Error(H3.ID_ERROR, 'MAX_PUSH_ID decreased');
        this.maxPushId = f.pushId;
        return;
      case 'cancel_push':
        // §7.2.3: a server never promised, a client never allowed, this push ID.
        throw new H3Error(H3.ID_ERROR, 'CANCEL_PUSH for a push that never existed');
      default:
        // §7.2.4: a second SETTINGS; §7.2.1/7.2.2/7.2.5: DATA, HEADERS, PUSH_PROMISE.
        throw new H3Error(H3.FRAME_UNEXPECTED, `${f.type.toUpperCase()} on the control stream`);
    }
  }

  private onGoaway(id: number): void {
    // §5.2 / §7.2.6: from a server a client-initiated bidirectional stream id; ids never grow.
    if (this.role === 'client' && id % 4 !== 0)
      throw new H3Error(H3.ID_ERROR, 'GOAWAY with a non-request stream id');
    if (this.peerGoaway >= 0 && id > this.peerGoaway)
      throw new H3Error(H3.ID_ERROR, 'GOAWAY id increased');
    this.peerGoaway = id;
    this.events.push({ type: 'goaway', id });
    if (this.role !== 'client') return;
    // Requests at or above the id were not and will not be processed: they may be retried.
    for (const sid of new Set([...this.send.keys(), ...this.recv.keys()])) {
      if (sid < id) continue;
      this.send.delete(sid);
      this.dropRecv(sid);
      const e = new H3Error(H3.REQUEST_REJECTED, 'not processed before GOAWAY', true);
      this.events.push({ type: 'abort', stream: sid, code: H3.REQUEST_CANCELLED });
      this.events.push({ type: 'stream-error', stream: sid, error: e, local: true });
    }
  }
}
