// QuicEndpoint: one node:dgram socket (IPv4 or IPv6) carrying any number of QUIC connections.
// Routes datagrams by destination connection ID (our CIDs are LOCAL_CID_LENGTH bytes, so short
// headers can be routed), accepts new connections as a server through the stateless logic
// (Retry when forced or under handshake load, Version Negotiation, stateless reset), enforces
// the connection limit and handshake timeout, drives all connections' timers with one timer
// armed at the earliest deadline (a min-heap), and sends what they produce in batches.
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';

import { debug, log } from '../debug/log.js';
import {
  Connection,
  LOCAL_CID_LENGTH,
  type Address,
  type ConnectionConfig,
} from '../quic/connection.js';
import {
  StatelessServer,
  type FirstPacketDecision,
  type StatelessOptions,
} from '../quic/stateless.js';
import { QlogWriter } from './diagnostics.js';
import { QuicSession, type SessionDriver } from './session.js';
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
  /** Handshakes in progress above which Retry is used automatically (default 64). */
  retryThreshold?: number;
  /** Directory for per-connection qlog files. */
  qlogDir?: string;
  stateless?: StatelessOptions;
}

const MAX_SEND_QUEUE = 4096;
/** Client endpoints with at most this many sessions look for Stateless Resets. */
const MAX_RESET_CANDIDATES = 8;

function nonNegInt(v: number | undefined, name: string, dflt: number, max = 2 ** 31): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0 || v > max)
    throw new RangeError(`${name} must be an integer in 0..${max}`);
  return v;
}

const key = (cid: Uint8Array): string =>
  Buffer.from(cid.buffer, cid.byteOffset, cid.length).toString('latin1');

export class QuicEndpoint extends EventEmitter {
  /** Resolves when the endpoint's socket is closed. */
  readonly closed: Promise<void>;
  private readonly socket: Socket;
  private readonly routes = new Map<string, QuicSession>();
  private readonly sessions = new Set<QuicSession>();
  private readonly heap = new TimerHeap<QuicSession>();
  private dirty = new Set<QuicSession>();
  private immediate: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private readonly stateless: StatelessServer | undefined;
  private readonly server: EndpointOptions['server'];
  private readonly maxConnections: number;
  private readonly handshakeTimeout: number;
  private readonly forceRetry: boolean;
  private readonly retryThreshold: number;
  private readonly qlogDir: string | undefined;
  private handshaking = 0;
  private closing = false;
  private resolveClosed!: () => void;
  /** Stateless work done by this endpoint. `dropped`: datagrams that reached no connection
   * (garbage, unknown CIDs, limits). */
  readonly stats = {
    accepted: 0,
    dropped: 0,
    retry: 0,
    'version-negotiation': 0,
    'stateless-reset': 0,
  };
  private readonly driver: SessionDriver;
  /** Shared by every server connection (one closure per endpoint, not per connection). */
  private readonly newToken: (remote: Address) => Uint8Array;
  private readonly resetToken: (cid: Uint8Array) => Uint8Array;

  private constructor(socket: Socket, options: EndpointOptions) {
    super();
    this.socket = socket;
    this.server = options.server;
    this.maxConnections = nonNegInt(options.maxConnections, 'maxConnections', 10_000);
    this.handshakeTimeout =
      nonNegInt(options.handshakeTimeout, 'handshakeTimeout', 10_000) || 10_000;
    this.forceRetry = options.retry === true;
    this.retryThreshold = nonNegInt(options.retryThreshold, 'retryThreshold', 64);
    this.qlogDir = options.qlogDir;
    if (this.server)
      this.stateless = new StatelessServer({ cidLength: LOCAL_CID_LENGTH, ...options.stateless });
    const stateless = this.stateless;
    this.newToken = (r) => stateless!.newToken(r, performance.now());
    this.resetToken = (cid) => stateless!.resetToken(cid);
    this.closed = new Promise((res) => (this.resolveClosed = res));
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => log('warn', `endpoint socket: ${err.message}`));
    socket.on('close', () => this.resolveClosed());
    const self = this;
    this.driver = {
      now: () => performance.now(),
      kick: (s) => self.kick(s),
      addRoute: (s, cid) => self.addRoute(s, cid),
      removeRoute: (s, cid) => {
        const k = key(cid);
        if (self.routes.get(k) === s) self.routes.delete(k);
        s.routes.delete(k);
      },
      detach: (s) => self.detach(s),
    };
  }

  /** Binds a socket and returns the endpoint. */
  static async create(options: EndpointOptions = {}): Promise<QuicEndpoint> {
    if (options === null || typeof options !== 'object')
      throw new TypeError('options must be an object');
    const port = nonNegInt(options.port, 'port', 0, 65535);
    if (options.host !== undefined && typeof options.host !== 'string')
      throw new TypeError('host must be a string');
    if (options.host !== undefined) return QuicEndpoint.bindSocket(options, options.host, port);
    try {
      return await QuicEndpoint.bindSocket(options, '::', port);
    } catch {
      return QuicEndpoint.bindSocket(options, '0.0.0.0', port); // no IPv6 on this machine
    }
  }

  private static async bindSocket(
    options: EndpointOptions,
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
    return new QuicEndpoint(socket, options);
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
    const conn = Connection.connect(
      {
        ...config,
        role: 'client',
        wallClockOffset: performance.timeOrigin,
        qlog: qlog?.event ?? config.qlog,
      },
      remote,
      now,
    );
    const session = new QuicSession(this.driver, conn, this.handshakeTimeout, () => {
      qlog?.close();
      onFinish?.();
    });
    this.attach(session);
    this.kick(session);
    return session;
  }

  private attach(session: QuicSession): void {
    this.sessions.add(session);
    for (const cid of session.conn.localConnectionIds()) this.addRoute(session, cid);
  }

  private addRoute(session: QuicSession, cid: Uint8Array): void {
    const k = key(cid);
    if (this.routes.has(k) && this.routes.get(k) !== session) return; // collision: keep the first
    this.routes.set(k, session);
    session.routes.add(k);
  }

  private detach(session: QuicSession): void {
    if (!this.sessions.delete(session)) return;
    for (const k of session.routes) if (this.routes.get(k) === session) this.routes.delete(k);
    session.routes.clear();
    this.heap.remove(session);
    this.dirty.delete(session);
    if (this.closing && this.sessions.size === 0) this.closeSocket();
  }

  private onMessage(msg: Buffer, rinfo: { address: string; port: number; family: string }): void {
    try {
      const now = performance.now();
      const remote: Address = {
        address: rinfo.address,
        port: rinfo.port,
        family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
      };
      const session = this.route(msg);
      if (session) {
        session.conn.receive(msg, remote, now);
        this.kick(session);
        return;
      }
      if (!this.stateless) return this.maybeStatelessReset(msg, remote, now);
      if (this.closing) return this.drop('no connection for this CID');
      this.acceptNew(msg, remote, now);
    } catch (err) {
      // Nothing from the network may throw out of the endpoint. (The connection never throws
      // for network input, so this is a local problem: say so.)
      log(
        'warn',
        `endpoint: datagram from ${rinfo.address}:${rinfo.port}: ${(err as Error).message}`,
      );
      this.drop(`error: ${(err as Error).message}`);
    }
  }

  private route(msg: Buffer): QuicSession | undefined {
    if (msg.length < 1 + LOCAL_CID_LENGTH) return undefined;
    if ((msg[0]! & 0x80) === 0)
      return this.routes.get(msg.toString('latin1', 1, 1 + LOCAL_CID_LENGTH));
    if (msg.length < 6) return undefined;
    const len = msg[5]!;
    if (len > 20 || 6 + len > msg.length) return undefined;
    return this.routes.get(msg.toString('latin1', 6, 6 + len));
  }

  /**
   * RFC 9000 §10.3.1: a Stateless Reset does not carry one of our CIDs, so it cannot be routed;
   * on a client endpoint with few sessions each one checks the datagram against the reset
   * tokens its peer gave it (a copy each: receive() works in place).
   */
  private maybeStatelessReset(msg: Buffer, remote: Address, now: number): void {
    if ((msg[0]! & 0x80) !== 0 || msg.length < 21 || this.sessions.size > MAX_RESET_CANDIDATES)
      return this.drop('no connection for this CID');
    for (const s of this.sessions) {
      if (s.remoteAddress.port !== remote.port || s.remoteAddress.address !== remote.address)
        continue;
      s.conn.receive(Buffer.from(msg), remote, now);
      this.kick(s);
    }
  }

  private drop(reason: string): void {
    this.stats.dropped++;
    debug('packets', () => `endpoint: dropped datagram (${reason})`);
  }

  private acceptNew(msg: Buffer, remote: Address, now: number): void {
    const stateless = this.stateless!;
    const retry = this.forceRetry || this.handshaking >= this.retryThreshold;
    const d = stateless.decideFirstPacket(msg, remote, now, { retry });
    if (d.kind === 'drop') return this.drop(d.reason);
    if (d.kind !== 'accept') {
      debug('packets', () => `endpoint: ${d.kind} to ${remote.address}:${remote.port}`);
      this.stats[d.kind]++;
      this.socket.send(d.packet, remote.port, remote.address);
      return;
    }
    // §5.2.2: a server that cannot take more connections may drop the Initial.
    if (this.sessions.size >= this.maxConnections) return this.drop('connection limit');
    this.startServerSession(msg, remote, now, d);
  }

  /** A server session for an accepted first Initial. (Its own function: the closures made
   * here must not keep the decision's views into the first datagram alive.) */
  private startServerSession(
    msg: Buffer,
    remote: Address,
    now: number,
    d: Extract<FirstPacketDecision, { kind: 'accept' }>,
  ): void {
    const server = this.server!;
    const odcid = Buffer.from(d.originalDcid ?? d.dcid).toString('hex');
    const qlog = this.qlogDir
      ? new QlogWriter(this.qlogDir, 'server', now, odcid, true)
      : undefined;
    const base = server.config();
    const conn = Connection.accept(
      {
        ...base,
        role: 'server',
        wallClockOffset: performance.timeOrigin,
        qlog: qlog?.event ?? base.qlog,
        newToken: this.newToken,
        statelessResetToken: this.resetToken,
      },
      msg,
      remote,
      now,
      {
        originalDcid: d.originalDcid,
        retrySourceCid: d.retrySourceCid,
        addressValidated: d.addressValidated,
      },
    );
    // RFC 9000 §14.1 / §21.1: create state only for an Initial that decrypts; a datagram that
    // merely looks like one (any 1200 random bytes behind a v1 header) is dropped, so garbage
    // cannot fill the connection table until the handshake timeout.
    if (conn.stats.packetsReceived === 0) {
      qlog?.discard();
      return this.drop('Initial did not decrypt');
    }
    qlog?.release();
    this.handshaking++;
    this.stats.accepted++;
    let counted = true;
    const uncount = () => {
      if (counted) this.handshaking--;
      counted = false;
    };
    const session = new QuicSession(this.driver, conn, this.handshakeTimeout, () => {
      uncount();
      qlog?.close();
    });
    session.once('handshake', uncount);
    this.addRoute(session, d.dcid);
    this.attach(session);
    this.kick(session);
    try {
      server.onsession(session);
    } catch (err) {
      log('warn', `onsession threw: ${(err as Error).message}`);
    }
  }

  /** Schedules a service pass for `session` (after the current I/O callbacks: batches). */
  private kick(session: QuicSession): void {
    if (!this.sessions.has(session)) return;
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
      if (this.sessions.has(session)) this.transmit(session, now);
      if (this.sessions.has(session) && session.afterSend(now)) this.transmit(session, now);
      if (this.sessions.has(session)) this.heap.set(session, session.nextDeadline());
    } catch (err) {
      log('error', `session failed: ${(err as Error).stack ?? String(err)}`);
      session.finish();
    }
  }

  /** Sends every datagram the connection has now. Datagrams are views into the connection's
   * slab, valid until its next send(), while node:dgram may send later: each batch is copied
   * once into one buffer. */
  private transmit(session: QuicSession, now: number): void {
    for (let rounds = 0; rounds < 4; rounds++) {
      if (this.socket.getSendQueueCount() > MAX_SEND_QUEUE) {
        this.kick(session); // the kernel buffer is full: try again after I/O
        return;
      }
      const out = session.conn.send(now);
      if (out.length === 0) return;
      let total = 0;
      for (const d of out) total += d.data.length;
      const batch = Buffer.allocUnsafe(total);
      let off = 0;
      for (const d of out) {
        batch.set(d.data, off);
        this.socket.send(batch.subarray(off, off + d.data.length), d.remote.port, d.remote.address);
        off += d.data.length;
      }
    }
    this.kick(session);
  }

  /** One timer for all connections, at the earliest deadline. */
  private arm(): void {
    const top = this.heap.peek();
    const at = top ? top.deadline : Infinity;
    if (at === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    for (let s; (s = this.heap.popDue(now));) {
      try {
        s.timeout(now);
      } catch (err) {
        log('error', `timeout failed: ${(err as Error).message}`);
        s.finish();
      }
      if (this.sessions.has(s)) this.service(s, now);
    }
    this.arm();
  }

  /** Closes every session gracefully, then the socket. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      // A session that ended with an error is closed all the same (its `closed` says why).
      const all = [...this.sessions].map((s) => s.close().catch(() => {}));
      await Promise.all(all);
      if (this.sessions.size === 0) this.closeSocket();
    }
    return this.closed;
  }

  /** Drops every session at once (no CONNECTION_CLOSE) and closes the socket. */
  destroy(): void {
    this.closing = true;
    for (const s of [...this.sessions]) s.finish();
    this.closeSocket();
  }

  private closeSocket(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = this.immediate = undefined;
    this.stateless?.destroy();
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
