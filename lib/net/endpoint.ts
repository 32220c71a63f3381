// QuicEndpoint: one node:dgram socket (IPv4 or IPv6) carrying any number of QUIC connections.
// The sans-IO quic/endpoint.ts decides what every datagram is for (routing by connection ID,
// accepting new connections, Retry, Version Negotiation, Stateless Reset, the admission limits);
// this file moves the bytes, keeps one QuicSession per connection, enforces the handshake
// timeout, drives all connections' timers and the core endpoint's (half-open expiry) with one
// timer armed at the earliest deadline (a min-heap), and sends what they produce in batches.
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';

import { log } from '../debug/log.js';
import type { Address, Connection, ConnectionConfig } from '../quic/connection.js';
import { PacketBuilder } from '../quic/builder.js';
import { Endpoint, type EndpointStats } from '../quic/endpoint.js';
import type { StatelessOptions } from '../quic/stateless.js';
import { QlogWriter } from './diagnostics.js';
import { checkCloseTimeout, checkDestroyArgs, QuicSession, type SessionDriver } from './session.js';
import { TimerHeap } from './timer-heap.js';

export interface EndpointOptions {
  /** Local address to bind (default '::' when IPv6 is available, else '0.0.0.0'). */
  host?: string;
  /** Local port (default 0: any). */
  port?: number;
  /** Server side: builds the configuration of each accepted connection. */
  server?: {
    config: () => Omit<ConnectionConfig, 'role'>;
    onsession: (session: QuicSession) => void;
  };
  /** Most connections at once (default 10000); more Initials are dropped. */
  maxConnections?: number;
  /** Milliseconds a handshake may take (default 10000). */
  handshakeTimeout?: number;
  /** Always answer new connections with Retry (address validation, RFC 9000 §8.1.2). */
  retry?: boolean;
  /** Load at or above which Retry is used automatically (default 64): handshakes in progress
   * plus Initials that made no connection in about the last second. */
  retryThreshold?: number;
  /** Handshakes in progress from one IPv4 address or IPv6 /64 (default 32). */
  maxHandshakesPerAddress?: number;
  /** Handshakes in progress from one IPv4 /24 or IPv6 /48 (default 256). */
  maxHandshakesPerPrefix?: number;
  /** Milliseconds a handshake may go without the client's first Handshake packet (default
   * 8000); then it is discarded and the session's `opened` rejects ('handshake-timeout'). */
  halfOpenTimeout?: number;
  /** Directory for per-connection qlog files. */
  qlogDir?: string;
  stateless?: StatelessOptions;
  /** UDP I/O (default 'auto'; see CommonOptions.io). */
  io?: IoMode;
}

const IO_MODES = ['auto', 'native', 'dgram'] as const;
export type IoMode = (typeof IO_MODES)[number];

const MAX_SEND_QUEUE = 4096;
/** Datagrams a connection writes per batch, and the slab they go to (48 of up to 2,730 bytes;
 * larger datagrams make smaller batches). */
const DATAGRAMS_PER_BATCH = 48;
const BATCH_SLAB = 128 * 1024;
const HANDSHAKE_TIMEOUT = 10_000;
/** Longest delay setTimeout() takes (a longer one fires at once). */
const MAX_DELAY = 2 ** 31 - 1;
const ignore = (): void => {};

function nonNegInt(v: number | undefined, name: string, dflt: number, max = 2 ** 31): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`${name} must be an integer in 0..${max}`);
  return v;
}

/** The handshake timeout option (ms; 0 or undefined: the default 10 s): a RangeError names it
 * when it is not an integer in 0..2^31. */
export function checkHandshakeTimeout(v: number | undefined): number {
  return nonNegInt(v, 'handshakeTimeout', HANDSHAKE_TIMEOUT) || HANDSHAKE_TIMEOUT;
}

/** Options checked before the socket is bound, and the core endpoint built from them. */
interface CheckedOptions {
  core: Endpoint;
  handshakeTimeout: number;
  /** The endpoint the core's server callback serves (set by its constructor). */
  owner: { endpoint?: QuicEndpoint };
}

export class QuicEndpoint extends EventEmitter {
  /** Resolves when the endpoint's socket is closed. */
  readonly closed: Promise<void>;
  /** Stateless work done by this endpoint and its refusals by reason (see EndpointStats). */
  readonly stats: EndpointStats;
  private readonly socket: Socket;
  private readonly core: Endpoint;
  private readonly sessions = new Map<Connection, QuicSession>();
  private readonly heap = new TimerHeap<QuicSession>();
  /** Where every connection of this endpoint writes its datagrams (one batch at a time). */
  private readonly builder = new PacketBuilder(BATCH_SLAB, 3 * DATAGRAMS_PER_BATCH);
  private dirty = new Set<QuicSession>();
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly server: EndpointOptions['server'];
  private readonly handshakeTimeout: number;
  private readonly qlogDir: string | undefined;
  /** The qlog of the server connection being accepted (made with its config, kept only if the
   * endpoint accepts the connection). */
  private acceptingQlog: QlogWriter | undefined;
  private closing = false;
  private socketClosing = false;
  /** Ends a graceful close at its bound (destroys what is left). */
  private closeTimer: NodeJS.Timeout | undefined;
  private resolveClosed!: () => void;
  private readonly driver: SessionDriver;

  private constructor(socket: Socket, options: EndpointOptions, checked: CheckedOptions) {
    super();
    this.socket = socket;
    this.server = options.server;
    this.handshakeTimeout = checked.handshakeTimeout;
    this.qlogDir = options.qlogDir;
    this.core = checked.core;
    checked.owner.endpoint = this;
    this.stats = this.core.stats;
    this.closed = new Promise((res) => (this.resolveClosed = res));
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => log('warn', `endpoint socket: ${err.message}`));
    socket.on('close', () => this.resolveClosed());
    const self = this;
    this.driver = {
      now: () => performance.now(),
      kick: (s) => self.kick(s),
      event: (s, ev) => self.core.event(s.conn, ev),
      detach: (s) => self.detach(s),
    };
  }

  /** Binds a socket and returns the endpoint. Every option is checked first: an invalid one
   * throws before any socket exists. */
  static async create(options: EndpointOptions = {}): Promise<QuicEndpoint> {
    if (options === null || typeof options !== 'object')
      throw new TypeError('options must be an object');
    const port = nonNegInt(options.port, 'port', 0, 65535);
    if (options.host !== undefined && typeof options.host !== 'string')
      throw new TypeError('host must be a string');
    const checked = QuicEndpoint.check(options);
    if (options.host !== undefined)
      return QuicEndpoint.bindSocket(options, checked, options.host, port);
    try {
      return await QuicEndpoint.bindSocket(options, checked, '::', port);
    } catch {
      return QuicEndpoint.bindSocket(options, checked, '0.0.0.0', port); // no IPv6 here
    }
  }

  /** The options' checks (the core endpoint checks its own limits as it is built). */
  private static check(options: EndpointOptions): CheckedOptions {
    const server = options.server;
    if (
      server !== undefined &&
      (server === null ||
        typeof server !== 'object' ||
        typeof server.config !== 'function' ||
        typeof server.onsession !== 'function')
    )
      throw new TypeError('server must be { config, onsession } functions');
    if (options.io !== undefined && !IO_MODES.includes(options.io))
      throw new TypeError(`io must be one of ${IO_MODES.join(', ')}`);
    const owner: CheckedOptions['owner'] = {};
    const core = new Endpoint({
      server:
        server && ((info) => owner.endpoint!.serverConfig(server, info.originalDcid, info.now)),
      maxConnections: options.maxConnections,
      retry: options.retry,
      retryThreshold: options.retryThreshold,
      maxHandshakesPerAddress: options.maxHandshakesPerAddress,
      maxHandshakesPerPrefix: options.maxHandshakesPerPrefix,
      halfOpenTimeout: options.halfOpenTimeout,
      stateless: options.stateless,
    });
    return { core, owner, handshakeTimeout: checkHandshakeTimeout(options.handshakeTimeout) };
  }

  private static async bindSocket(
    options: EndpointOptions,
    checked: CheckedOptions,
    host: string,
    port: number,
  ): Promise<QuicEndpoint> {
    const type = host.includes(':') ? 'udp6' : 'udp4';
    const socket = createSocket({ type, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    return new QuicEndpoint(socket, options, checked);
  }

  /** The bound local address. */
  get address(): Address {
    const a = this.socket.address();
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  /** Sessions currently open on this endpoint. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Opens a client connection to `remote` with the given connection settings. */
  connect(
    remote: Address,
    config: Omit<ConnectionConfig, 'role'>,
    onFinish?: () => void,
  ): QuicSession {
    if (this.closing) throw new Error('endpoint is closing');
    const now = performance.now();
    const qlog = this.qlogDir ? new QlogWriter(this.qlogDir, 'client', now) : undefined;
    const conn = this.core.connect(
      { ...config, wallClockOffset: performance.timeOrigin, qlog: qlog?.event ?? config.qlog },
      remote,
      now,
    );
    const session = new QuicSession(this.driver, conn, this.handshakeTimeout, () => {
      qlog?.close();
      onFinish?.();
    });
    this.sessions.set(conn, session);
    this.kick(session);
    return session;
  }

  /** The configuration of a server connection for a client's first Initial (its qlog file is
   * named for `originalDcid`). */
  private serverConfig(
    server: NonNullable<EndpointOptions['server']>,
    originalDcid: Uint8Array,
    now: number,
  ): Omit<ConnectionConfig, 'role'> {
    const odcid = Buffer.from(originalDcid).toString('hex');
    // Held in memory until the connection is accepted (an Initial that does not decrypt makes
    // none, and its qlog is never written).
    const qlog = this.qlogDir
      ? new QlogWriter(this.qlogDir, 'server', now, odcid, true)
      : undefined;
    this.acceptingQlog = qlog;
    const base = server.config();
    return { ...base, wallClockOffset: performance.timeOrigin, qlog: qlog?.event ?? base.qlog };
  }

  private detach(session: QuicSession): void {
    if (!this.sessions.delete(session.conn)) return;
    this.core.remove(session.conn);
    this.heap.remove(session);
    this.dirty.delete(session);
    if (this.closing && this.sessions.size === 0) this.closeSocket();
  }

  private onMessage(msg: Buffer, rinfo: { address: string; port: number; family: string }): void {
    const remote: Address = {
      address: rinfo.address,
      port: rinfo.port,
      family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    const r = this.core.receive(msg, remote, performance.now());
    const qlog = this.acceptingQlog;
    this.acceptingQlog = undefined;
    if (r.kind !== 'new') qlog?.discard();
    switch (r.kind) {
      case 'routed':
        this.kickConn(r.conn);
        break;
      case 'probed':
        for (const conn of r.conns) this.kickConn(conn);
        break;
      case 'new':
        qlog?.release();
        this.startServerSession(r.conn, qlog);
        break;
      case 'respond':
        this.socket.send(r.datagram, remote.port, remote.address);
        break;
      case 'dropped':
        // Nothing from the network may throw out of the endpoint; an error here is a local
        // problem (the connection never throws for network input): say so.
        if (r.error)
          log('warn', `endpoint: datagram from ${rinfo.address}:${rinfo.port}: ${r.error.message}`);
        break;
    }
  }

  private kickConn(conn: Connection): void {
    const session = this.sessions.get(conn);
    if (session) this.kick(session);
  }

  /** A session for a connection the core endpoint accepted. */
  private startServerSession(conn: Connection, qlog: QlogWriter | undefined): void {
    const server = this.server!;
    const session = new QuicSession(this.driver, conn, this.handshakeTimeout, () => qlog?.close());
    this.sessions.set(conn, session);
    this.kick(session);
    try {
      server.onsession(session);
    } catch (err) {
      log('warn', `onsession threw: ${(err as Error).message}`);
    }
  }

  /** Schedules a service pass for `session` (after the current I/O callbacks: batches). */
  private kick(session: QuicSession): void {
    if (!this.sessions.has(session.conn)) return;
    this.dirty.add(session);
    this.immediate ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    this.immediate = undefined;
    const batch = this.dirty;
    this.dirty = new Set();
    const now = performance.now();
    for (const s of batch) this.service(s, now);
    this.arm();
  }

  private service(session: QuicSession, now: number): void {
    try {
      session.service(now);
      if (this.sessions.has(session.conn)) this.transmit(session, now);
      if (this.sessions.has(session.conn) && session.afterSend(now)) this.transmit(session, now);
      if (this.sessions.has(session.conn)) this.heap.set(session, session.nextDeadline());
    } catch (err) {
      log('error', `session failed: ${(err as Error).stack ?? String(err)}`);
      session.finish();
    }
  }

  /** Sends every datagram the connection has now. */
  private transmit(session: QuicSession, now: number): void {
    for (let rounds = 0; rounds < 4; rounds++) {
      if (this.socket.getSendQueueCount() > MAX_SEND_QUEUE) {
        this.kick(session); // the kernel buffer is full: try again after I/O
        return;
      }
      if (!this.sendBatch(session, now)) return;
    }
    this.kick(session);
  }

  /** Sends one batch of the connection's datagrams; false when it had none. They are written
   * into this endpoint's builder and protected with one native call, then copied once into a
   * Buffer that node:dgram may hold until they are out (ARCHITECTURE.md, "Buffer ownership"). */
  private sendBatch(session: QuicSession, now: number): boolean {
    const b = this.builder;
    b.reset();
    const n = session.conn.writeDatagrams(b, now, DATAGRAMS_PER_BATCH);
    if (n === 0) return false;
    b.protect();
    const base = b.datagramStart(0);
    const batch = Buffer.allocUnsafe(b.datagramEnd(n - 1) - base);
    batch.set(b.slab.subarray(base, b.datagramEnd(n - 1)));
    const { port, address } = session.conn.remoteAddress;
    for (let i = 0; i < n; i++)
      this.socket.send(
        batch.subarray(b.datagramStart(i) - base, b.datagramEnd(i) - base),
        port,
        address,
      );
    return true;
  }

  /** One timer for all connections and the core endpoint, at the earliest deadline. */
  private arm(): void {
    const top = this.heap.peek();
    const at = Math.min(top ? top.deadline : Infinity, this.core.nextTimeout());
    if (at === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    const delay = Math.min(MAX_DELAY, Math.max(0, Math.ceil(at - performance.now())));
    this.timer = setTimeout(() => this.onTimer(), delay);
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    for (const conn of this.core.onTimeout(now))
      this.sessions.get(conn)?.abandonHandshake('handshake stalled (half-open timeout)');
    for (let s; (s = this.heap.popDue(now));) {
      try {
        s.timeout(now);
      } catch (err) {
        log('error', `timeout failed: ${(err as Error).message}`);
        s.finish();
      }
      if (this.sessions.has(s.conn)) this.service(s, now);
    }
    this.arm();
  }

  /** Graceful close: no new connections; every session closes gracefully (QuicSession.close)
   * within `timeout` ms (default 10 s), after which what is left is destroyed (as destroy()
   * does); then the socket closes. Resolves with `closed`. */
  close(options?: { timeout?: number }): Promise<void> {
    const timeout = checkCloseTimeout(options);
    if (this.closing) return this.closed;
    this.closing = true;
    this.core.close();
    // A session that ends with an error is closed all the same (its `closed` says why).
    for (const s of [...this.sessions.values()]) s.close({ timeout }).catch(ignore);
    if (this.sessions.size === 0) this.closeSocket();
    else if (timeout <= MAX_DELAY) {
      // Each session's own bound is followed by its closing period (RFC 9000 §10.2, three
      // PTOs): the endpoint's bound covers the whole.
      this.closeTimer = setTimeout(() => this.destroy(), timeout);
      this.closeTimer.unref();
    }
    return this.closed;
  }

  /** Closes every session at once and then the socket. Each one that has not closed yet sends
   * its CONNECTION_CLOSE (application space: `code`, by default the session's no-error code;
   * `error` is what its `closed` and its streams fail with), once and best effort, so that
   * peers learn of it now rather than at their idle timeout (RFC 9000 §10.2). */
  destroy(error?: Error, code?: number): void {
    checkDestroyArgs(error, code);
    this.closing = true;
    this.core.close();
    const now = performance.now();
    for (const s of [...this.sessions.values()]) {
      try {
        s.destroy(error, code);
        this.sendBatch(s, now);
      } catch (err) {
        log('warn', `endpoint destroy: ${(err as Error).message}`);
      }
      s.finish();
    }
    this.closeSocket();
  }

  private closeSocket(): void {
    if (this.socketClosing) return;
    this.socketClosing = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.timer = this.immediate = this.closeTimer = undefined;
    this.core.destroy();
    // Let sends queued this tick (dgram resolves addresses on the next tick) go out first.
    setImmediate(() => {
      try {
        this.socket.close();
      } catch {
        this.resolveClosed();
      }
    });
  }
}
