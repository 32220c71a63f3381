// QuicEndpoint: one UDP socket (IPv4 or IPv6; the addon's batched socket or node:dgram, see
// transport.ts) carrying any number of QUIC connections. The sans-IO quic/endpoint.ts decides
// what every datagram is for (routing by connection ID, accepting new connections, Retry,
// Version Negotiation, Stateless Reset, the admission limits); this file moves the bytes, keeps
// one QuicSession per connection, enforces the handshake timeout, drives all connections'
// timers and the core endpoint's (half-open expiry) with one timer armed at the earliest
// deadline (a min-heap). Per event-loop turn, what one read brought goes to the core in one
// call, and every connection with something to send writes into one batch that is protected
// with one native call and handed to the socket in one send() (ARCHITECTURE.md, "Data path").
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';

import { log } from '../debug/log.js';
import type { Address, Connection, ConnectionConfig } from '../quic/connection.js';
import { PacketBuilder } from '../quic/builder.js';
import { Endpoint, type EndpointStats, type Received } from '../quic/endpoint.js';
import type { StatelessOptions } from '../quic/stateless.js';
import type { WorkerSlot } from '../quic/worker-cid.js';
import { QlogWriter } from './diagnostics.js';
import { checkCloseTimeout, checkDestroyArgs, QuicSession, type SessionDriver } from './session.js';
import { sessionEnded } from './memory-trim.js';
import { TimerHeap } from './timer-heap.js';
import { adoptTransport, bindTransport, type Transport, type TransportError } from './transport.js';
import type { UdpBatch } from './udp-socket.js';

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
  /** Receive window and send buffering lent beyond the connections' guaranteed shares, all
   * connections together (default 256 MiB; ListenOptions.windowPool). */
  windowPool?: number;
  /** Directory for per-connection qlog files. */
  qlogDir?: string;
  stateless?: StatelessOptions;
  /** UDP I/O (default 'auto'; see CommonOptions.io). */
  io?: IoMode;
  /** Kernel socket buffer sizes in bytes (default 4 MiB each). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** @internal Serve on a duplicate of this member of a reuseport group (a worker thread of a
   * QuicWorkerPool) instead of binding: host, port, io and the buffer sizes do not apply. */
  fd?: number;
  /** @internal Which worker this endpoint is (quic/worker-cid.ts). */
  worker?: WorkerSlot;
}

export interface QuicEndpointStats extends EndpointStats {
  /** Datagrams the socket's queue could not take (lost: loss recovery sends their data again). */
  datagramsDropped: number;
}

/** The values of the io option. */
export const IO_MODES = ['auto', 'native', 'dgram'] as const;
export type IoMode = (typeof IO_MODES)[number];

/** Datagrams a connection writes per round, and the slab all connections write to before it is
 * protected and sent (larger datagrams make smaller batches). */
const DATAGRAMS_PER_BATCH = 48;
const BATCH_SLAB = 256 * 1024;
const BATCH_PACKETS = 512;
/** Rounds over the connections per turn before the rest waits for the next turn (fairness). */
const SEND_ROUNDS = 4;
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

const BUFFER_SIZE = 4 << 20;

/** A socket buffer size option: 1 KiB .. 1 GiB (the kernel may grant less: its rmem_max). */
export function bufferSize(v: number | undefined, name: string): number {
  if (v === undefined) return BUFFER_SIZE;
  if (!Number.isInteger(v) || v < 1024 || v > 2 ** 30)
    throw new RangeError(`${name} must be an integer in 1024..2^30`);
  return v;
}

/** Options checked before the socket is bound, and the core endpoint built from them. */
interface CheckedOptions {
  core: Endpoint;
  handshakeTimeout: number;
  recvBufferSize: number;
  sendBufferSize: number;
  /** The endpoint the core's server callback serves (set by its constructor). */
  owner: { endpoint?: QuicEndpoint };
}

/** A QuicEndpoint's events: none (`closed` says when its socket is gone; sessions carry the
 * rest), so that any event name is a compile error. */
export interface QuicEndpointEvents {}

/** The port option: an integer in 0..65535 (default 0: any). */
export function checkPort(v: number | undefined): number {
  return nonNegInt(v, 'port', 0, 65535);
}

/** `bind` on the host option, or on '::' (dual stack) falling back to '0.0.0.0' where there
 * is no IPv6. */
export async function bindHost<T>(
  host: string | undefined,
  bind: (host: string) => T | Promise<T>,
): Promise<T> {
  if (host !== undefined) return bind(host);
  try {
    return await bind('::');
  } catch (err) {
    // Only a host without IPv6 falls back; any other failure (a port in use, no permission)
    // is the caller's, not a reason to serve IPv4 alone.
    const code = (err as { code?: unknown }).code;
    if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
    return bind('0.0.0.0');
  }
}

export class QuicEndpoint extends EventEmitter<QuicEndpointEvents> {
  /** Resolves when the endpoint's socket is closed. */
  readonly closed: Promise<void>;
  /** Stateless work done by this endpoint, its refusals by reason, and its socket's losses. */
  readonly stats: QuicEndpointStats;
  private readonly transport: Transport;
  private readonly core: Endpoint;
  private readonly sessions = new Map<Connection, QuicSession>();
  private readonly heap = new TimerHeap<QuicSession>();
  /** Where every connection of this endpoint writes its datagrams (one batch at a time). */
  private readonly builder = new PacketBuilder(BATCH_SLAB, BATCH_PACKETS);
  /** The batch's send descriptor ([offset, length, peerIndex, ecn] per datagram) and peers. */
  private readonly sendDesc = new Uint32Array(4 * BATCH_PACKETS);
  private readonly sendPeers: Address[] = [];
  /** [first datagram, peer index, ECN codepoint] of each connection's run in the batch. */
  private readonly runs: number[] = [];
  /** The descriptor of a lone datagram (a stateless answer). */
  private readonly one = new Uint32Array(4);
  private dirty = new Set<QuicSession>();
  /** Sessions with datagrams to send while the transport is blocked. */
  private waiting = new Set<QuicSession>();
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

  private constructor(transport: Transport, options: EndpointOptions, checked: CheckedOptions) {
    super();
    this.transport = transport;
    this.server = options.server;
    this.handshakeTimeout = checked.handshakeTimeout;
    this.qlogDir = options.qlogDir;
    this.core = checked.core;
    checked.owner.endpoint = this;
    this.stats = Object.assign(this.core.stats, { datagramsDropped: 0 });
    this.closed = new Promise((res) => (this.resolveClosed = res));
    transport.onbatch = (b) => this.onBatch(b);
    transport.onwritable = () => this.onWritable();
    transport.onerror = (err) => this.onSocketError(err);
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
    const port = checkPort(options.port);
    if (options.host !== undefined && typeof options.host !== 'string')
      throw new TypeError('host must be a string');
    const checked = QuicEndpoint.check(options);
    if (options.fd !== undefined)
      return new QuicEndpoint(adoptTransport(options.fd), options, checked);
    return bindHost(options.host, (host) => QuicEndpoint.bindSocket(options, checked, host, port));
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
      windowPool: options.windowPool,
      stateless: options.stateless,
      worker: options.worker,
    });
    return {
      core,
      owner,
      handshakeTimeout: checkHandshakeTimeout(options.handshakeTimeout),
      recvBufferSize: bufferSize(options.recvBufferSize, 'recvBufferSize'),
      sendBufferSize: bufferSize(options.sendBufferSize, 'sendBufferSize'),
    };
  }

  private static async bindSocket(
    options: EndpointOptions,
    checked: CheckedOptions,
    host: string,
    port: number,
  ): Promise<QuicEndpoint> {
    const transport = await bindTransport({
      io: options.io ?? 'auto',
      host,
      port,
      recvBufferSize: checked.recvBufferSize,
      sendBufferSize: checked.sendBufferSize,
    });
    return new QuicEndpoint(transport, options, checked);
  }

  /** The bound local address. */
  get address(): Address {
    return this.transport.address();
  }

  /** Which UDP I/O this endpoint runs on. */
  get io(): 'native' | 'dgram' {
    return this.transport.kind;
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
      {
        ecn: this.transport.ecn,
        ...config,
        wallClockOffset: performance.timeOrigin,
        qlog: qlog?.event ?? config.qlog,
      },
      remote,
      now,
    );
    const session = new QuicSession(
      this.driver,
      conn,
      this.handshakeTimeout,
      finisher(qlog, onFinish),
    );
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
    return {
      ecn: this.transport.ecn,
      ...base,
      wallClockOffset: performance.timeOrigin,
      qlog: qlog?.event ?? base.qlog,
    };
  }

  private detach(session: QuicSession): void {
    if (!this.sessions.delete(session.conn)) return;
    this.core.remove(session.conn);
    this.heap.remove(session);
    this.dirty.delete(session);
    this.waiting.delete(session);
    sessionEnded();
    if (this.closing && this.sessions.size === 0) this.closeSocket();
  }

  /** What one read of the socket brought: one call into the core endpoint. */
  private onBatch(batch: UdpBatch): void {
    const { buffer, desc, count, peers } = batch;
    const datagrams = new Array<Uint8Array>(count);
    const remotes = new Array<Address>(count);
    const ecn = new Array<number>(count);
    const { buffer: ab, byteOffset } = buffer;
    for (let i = 0; i < count; i++) {
      // (A plain view: Buffer's subarray() costs a Buffer per datagram, and nothing needs one.)
      datagrams[i] = new Uint8Array(ab, byteOffset + desc[4 * i]!, desc[4 * i + 1]!);
      remotes[i] = peers[desc[4 * i + 2]!]!;
      ecn[i] = desc[4 * i + 3]!;
    }
    this.core.receiveBatch(datagrams, remotes, ecn, performance.now(), (r, remote) =>
      this.onReceived(r, remote),
    );
  }

  private onReceived(r: Received, remote: Address): void {
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
        this.one[1] = r.datagram.length;
        this.transport.send(r.datagram, this.one, 1, [remote]);
        break;
      case 'dropped':
        // Nothing from the network may throw out of the endpoint; an error here is a local
        // problem (the connection never throws for network input): say so.
        if (r.error)
          log(
            'warn',
            `endpoint: datagram from ${remote.address}:${remote.port}: ${r.error.message}`,
          );
        break;
    }
  }

  /**
   * An error from the socket. An ICMP error naming a peer (IP_RECVERR: port unreachable →
   * ECONNREFUSED) ends the client handshakes to that address at once instead of at their
   * timeout; it is not authenticated (RFC 9000 §14.2 treats ICMP as a hint), so established
   * connections and server connections ignore it.
   */
  private onSocketError(err: TransportError): void {
    if (err.address === undefined || err.port === undefined) {
      log('warn', `endpoint socket: ${err.message}`);
      return;
    }
    for (const s of this.sessions.values())
      if (s.conn.role === 'client' && s.conn.state === 'handshake') {
        const peer = s.conn.remoteAddress;
        if (peer.port === err.port && peer.address === err.address)
          s.abandonHandshake(
            `connection refused (${err.code ?? err.message})`,
            'connection-refused',
          );
      }
  }

  private kickConn(conn: Connection): void {
    const session = this.sessions.get(conn);
    if (session) this.kick(session);
  }

  /** A session for a connection the core endpoint accepted. */
  private startServerSession(conn: Connection, qlog: QlogWriter | undefined): void {
    const server = this.server!;
    const session = new QuicSession(this.driver, conn, this.handshakeTimeout, finisher(qlog));
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
    this.drive(batch, performance.now());
  }

  /** The transport accepts datagrams again: the sessions that waited send now. */
  private onWritable(): void {
    for (const s of this.waiting) this.kick(s);
    this.waiting.clear();
  }

  /** Services `sessions` (events out, datagrams out, timers in) and re-arms the timer. */
  private drive(sessions: Set<QuicSession>, now: number): void {
    for (const s of sessions) this.guard(s, () => s.service(now));
    this.transmit(sessions, now);
    const again = new Set<QuicSession>();
    for (const s of sessions) if (this.guard(s, () => s.afterSend(now))) again.add(s);
    if (again.size > 0) this.transmit(again, now);
    for (const s of sessions) {
      if (!this.sessions.has(s.conn)) continue;
      const state = s.conn.state;
      // Shutting down: a connection whose CONNECTION_CLOSE is out only waits to repeat it to
      // a peer that missed it (RFC 9000 §10.2); the endpoint's close does not wait for that
      // (such a peer stops at its idle timeout).
      if (this.closing && (state === 'closing' || state === 'draining') && !this.waiting.has(s))
        s.finish();
      else this.heap.set(s, s.nextDeadline());
    }
    this.arm();
  }

  /** Runs `f` for a live session; a throw is a local bug: logged, and the session ends. */
  private guard<T>(s: QuicSession, f: () => T): T | undefined {
    if (!this.sessions.has(s.conn)) return undefined;
    try {
      return f();
    } catch (err) {
      log('error', `session failed: ${(err as Error).stack ?? String(err)}`);
      s.finish();
      return undefined;
    }
  }

  /** Sends every datagram the sessions have now: each round asks every session for up to
   * DATAGRAMS_PER_BATCH into the one batch; those with more go again (SEND_ROUNDS per turn). */
  private transmit(sessions: Iterable<QuicSession>, now: number): void {
    let pending = [...sessions];
    // Only a send() can block the transport (one native call to ask, not one per session).
    let blocked = this.transport.blocked;
    for (let round = 0; round < SEND_ROUNDS && pending.length > 0; round++) {
      const more: QuicSession[] = [];
      for (const s of pending) {
        if (blocked) {
          this.waiting.add(s);
          continue;
        }
        const b = this.builder;
        if (
          b.slabRoom < s.conn.maxDatagramSize ||
          b.packetCount > BATCH_PACKETS - DATAGRAMS_PER_BATCH
        ) {
          this.seal();
          blocked = this.transport.blocked;
          if (blocked) {
            this.waiting.add(s);
            continue;
          }
        }
        const first = b.datagramCount;
        const n = this.guard(s, () => s.conn.writeDatagrams(b, now, DATAGRAMS_PER_BATCH)) ?? 0;
        if (n === 0) continue;
        // A peer index per run: one GSO message carries one connection's datagrams only.
        const peer = this.sendPeers.push(s.conn.remoteAddress) - 1;
        this.runs.push(first, peer, s.conn.ecnCodepoint);
        more.push(s);
      }
      this.seal();
      blocked = this.transport.blocked;
      pending = more;
    }
    for (const s of pending) this.kick(s); // the rest next turn
  }

  /** Protects the batch with one native call and hands it to the transport in one send(). */
  private seal(): void {
    const b = this.builder;
    const n = b.datagramCount;
    if (n > 0) {
      b.protect();
      const desc = this.sendDesc;
      const runs = this.runs;
      for (let r = 0; r < runs.length; r += 3) {
        const end = r + 3 < runs.length ? runs[r + 3]! : n;
        for (let i = runs[r]!; i < end; i++) {
          desc[4 * i] = b.datagramStart(i);
          desc[4 * i + 1] = b.datagramEnd(i) - b.datagramStart(i);
          desc[4 * i + 2] = runs[r + 1]!;
          desc[4 * i + 3] = runs[r + 2]!;
        }
      }
      const sent = this.transport.send(b.slab, desc, n, this.sendPeers);
      // The transport's queue was full: these are lost, and loss recovery sends them again.
      this.stats.datagramsDropped += n - sent;
    }
    b.reset();
    this.runs.length = 0;
    this.sendPeers.length = 0;
  }

  /** One timer for all connections and the core endpoint, at the earliest deadline. A later
   * deadline keeps the armed timer, which then fires early, finds nothing due and arms again:
   * the loss detection timer (RFC 9002 §6.2) moves on with every ACK, and a clearTimeout and
   * setTimeout per event-loop turn cost more than one early wake-up per timer period. */
  private arm(): void {
    const top = this.heap.peek();
    const at = Math.min(top ? top.deadline : Infinity, this.core.nextTimeout());
    if (at >= this.timerAt) return;
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
    const due = new Set<QuicSession>();
    for (let s; (s = this.heap.popDue(now));) {
      this.guard(s, () => s.timeout(now));
      due.add(s);
    }
    this.drive(due, now);
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
    for (const s of [...this.sessions.values()]) {
      s.close({ timeout }).catch(ignore);
      this.kick(s); // those already closing end now (see drive())
    }
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
    const all = [...this.sessions.values()];
    for (const s of all) this.guard(s, () => s.destroy(error, code));
    this.transmit(all, performance.now());
    for (const s of all) s.finish();
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
    this.transport.close().then(this.resolveClosed, this.resolveClosed);
  }
}

/** What a session runs when it finishes: closing its qlog file, then `onFinish`. No closure
 * when there is nothing to close (memory per idle session). */
function finisher(qlog: QlogWriter | undefined, onFinish?: () => void): (() => void) | undefined {
  if (!qlog) return onFinish;
  return () => {
    qlog.close();
    onFinish?.();
  };
}
