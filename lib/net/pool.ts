// Http3Agent: HTTP/3 connections pooled per origin, as undici's Agent pools HTTP/1 and HTTP/2
// ones. One connection per origin carries every request (HTTP/3 multiplexes them; requests
// beyond the peer's MAX_STREAMS wait for more, RFC 9000 §4.6); an unused connection closes
// after `idleTimeout`; a GOAWAY moves new requests to a new connection; each origin's latest
// session ticket resumes the next connection, with 0-RTT for safe methods.
import { H3, H3Error } from '../h3/errors.js';
import type { SessionTicket } from '../tls/session-ticket.js';
import { abortable } from './abortable.js';
import { noop } from './h3-binding.js';
import {
  connectHttp3,
  type Http3Client,
  type Http3ClientResponse,
  type Http3ConnectOptions,
  type Http3RequestInit,
} from './http3-client.js';

export interface Http3AgentOptions {
  /** Options for every connection (ca, servername, groups, transportParams, ...); ALPN 'h3'. */
  connect?: Omit<Http3ConnectOptions, 'session' | 'earlyData' | 'signal'>;
  /** Milliseconds an unused connection stays open (default 4000). */
  idleTimeout?: number;
  /** Send safe requests (GET, HEAD, OPTIONS, TRACE) as 0-RTT on resumed connections (default
   * true). Other methods wait for the handshake: early data can be replayed (RFC 8470 §3). */
  earlyData?: boolean;
}

export interface Http3AgentStats {
  /** Connections open or opening now, all origins. */
  connections: number;
  /** Of these, the ones taking no new requests (GOAWAY received, or closing). */
  draining: number;
  /** Connections opened since the agent was made. */
  connectionsOpened: number;
}

interface Pooled {
  readonly origin: string;
  readonly client: Promise<Http3Client>;
  /** Requests whose exchange is in progress. */
  active: number;
  /** GOAWAY received or closing: no new requests. */
  draining: boolean;
  idle: NodeJS.Timeout | undefined;
}

/** RFC 9110 §9.2.1. */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);
const DEFAULT_IDLE_MS = 4000;
/** Origins whose session ticket is kept. */
const MAX_TICKETS = 1000;

export class Http3Agent {
  private readonly pools = new Map<string, Pooled[]>();
  private readonly tickets = new Map<string, SessionTicket>();
  private readonly connectOptions: Http3ConnectOptions;
  private readonly idleTimeout: number;
  private readonly earlyData: boolean;
  private opened = 0;

  constructor(options: Http3AgentOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new TypeError('options must be an object');
    const { connect = {}, idleTimeout = DEFAULT_IDLE_MS, earlyData = true } = options;
    if (connect === null || typeof connect !== 'object')
      throw new TypeError('options.connect must be an object');
    if (typeof idleTimeout !== 'number' || !(idleTimeout >= 0))
      throw new RangeError('options.idleTimeout must be a number >= 0');
    if (typeof earlyData !== 'boolean') throw new TypeError('options.earlyData must be a boolean');
    this.connectOptions = connect;
    this.idleTimeout = idleTimeout;
    this.earlyData = earlyData;
  }

  /** Sends a request to `url` (https:) on the origin's pooled connection. */
  async request(url: string | URL, init: Http3RequestInit = {}): Promise<Http3ClientResponse> {
    const u = httpsUrl(url);
    if (init === null || typeof init !== 'object') throw new TypeError('init must be an object');
    if (init.signal !== undefined && !(init.signal instanceof AbortSignal))
      throw new TypeError('init.signal must be an AbortSignal');
    const method = init.method ?? 'GET';
    const safe = typeof method === 'string' && SAFE.has(method.toUpperCase());
    for (let attempt = 0; ; attempt++) {
      const pc = this.acquire(u);
      try {
        const client = await abortable(pc.client, init.signal);
        if (!client.session.handshake && !safe) await abortable(client.session.opened, init.signal);
        const res = await client.request(u.pathname + u.search, init);
        res.body.once('close', () => this.release(pc));
        return res;
      } catch (e) {
        // RFC 9114 §4.1.1: a request rejected unprocessed (GOAWAY, a closing connection) may
        // be retried: once, on a new connection, when its body can be sent again.
        const rejected = e instanceof H3Error && e.code === H3.REQUEST_REJECTED;
        const body = init.body;
        const replayable =
          body === undefined || typeof body === 'string' || body instanceof Uint8Array;
        const retry = attempt === 0 && rejected && replayable;
        if (retry) pc.draining = true;
        this.release(pc);
        if (!retry) throw e;
      }
    }
  }

  /** Open connections and how many were opened. */
  stats(): Http3AgentStats {
    const all = [...this.pools.values()].flat();
    const draining = all.filter((c) => c.draining).length;
    return { connections: all.length, draining, connectionsOpened: this.opened };
  }

  /** Closes every connection gracefully (GOAWAY, requests in progress finish). The agent stays
   * usable: later requests open new connections. */
  async close(): Promise<void> {
    const all = [...this.pools.values()].flat();
    for (const pc of all) {
      pc.draining = true;
      clearTimeout(pc.idle);
    }
    await Promise.all(all.map(closeQuietly));
  }

  private acquire(u: URL): Pooled {
    const list = this.pools.get(u.origin) ?? [];
    let pc = list.find((c) => !c.draining);
    if (!pc) {
      pc = this.open(u);
      list.push(pc);
      this.pools.set(u.origin, list);
    }
    pc.active++;
    clearTimeout(pc.idle);
    pc.idle = undefined;
    return pc;
  }

  private open(u: URL): Pooled {
    const origin = u.origin;
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    const port = u.port || '443';
    // A ticket is used once (RFC 8446 §C.4); the new connection brings its own.
    const ticket = this.tickets.get(origin);
    this.tickets.delete(origin);
    this.opened++;
    const client = connectHttp3(host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, {
      servername: host,
      ...this.connectOptions,
      ...(ticket ? { session: ticket, earlyData: this.earlyData } : {}),
    });
    const pc: Pooled = { origin, client, active: 0, draining: false, idle: undefined };
    client.then(
      (c) => {
        const s = c.session;
        s.on('ticket', (t: SessionTicket) => this.storeTicket(origin, t));
        s.once('goaway', () => {
          pc.draining = true;
          if (pc.active === 0) void closeQuietly(pc);
        });
        s.once('close', () => this.forget(pc));
        if (s.destroyed) this.forget(pc);
      },
      () => this.forget(pc),
    );
    return pc;
  }

  /** Keeps the latest ticket of the most recently served origins (bounded). */
  private storeTicket(origin: string, ticket: SessionTicket): void {
    this.tickets.delete(origin);
    this.tickets.set(origin, ticket);
    if (this.tickets.size > MAX_TICKETS) this.tickets.delete(this.tickets.keys().next().value!);
  }

  private release(pc: Pooled): void {
    if (--pc.active > 0) return;
    if (pc.draining) return void closeQuietly(pc);
    pc.idle = setTimeout(() => {
      pc.draining = true;
      void closeQuietly(pc);
    }, this.idleTimeout);
  }

  private forget(pc: Pooled): void {
    clearTimeout(pc.idle);
    pc.draining = true;
    const list = this.pools.get(pc.origin);
    if (!list) return;
    const rest = list.filter((c) => c !== pc);
    if (rest.length) this.pools.set(pc.origin, rest);
    else this.pools.delete(pc.origin);
  }
}

/** Graceful close; a connection that already failed has nothing more to say. */
function closeQuietly(pc: Pooled): Promise<void> {
  return pc.client.then((c) => c.close()).catch(noop);
}

/** `url` as an https: URL (HTTP/3 is https only, RFC 9114 §3.1). */
export function httpsUrl(url: string | URL): URL {
  let u: URL;
  if (url instanceof URL) u = url;
  else if (typeof url === 'string') {
    try {
      u = new URL(url);
    } catch {
      throw new TypeError(`url is not a valid URL: '${url}'`);
    }
  } else throw new TypeError('url must be a string or a URL');
  if (u.protocol !== 'https:') throw new TypeError('url must be an https: URL');
  return u;
}
