/**
 * A sans-IO QUIC endpoint (time is a parameter, no sockets): many connections behind one
 * address. receive() routes a datagram by destination connection ID to its connection (our CIDs
 * are LOCAL_CID_LENGTH bytes, so short headers can be routed), or — as a server — decides about
 * a datagram for no connection: accept it as a new connection, answer it statelessly (Retry when
 * forced or under handshake load, Version Negotiation, Stateless Reset), or drop it. A client
 * endpoint checks unroutable datagrams as possible Stateless Resets instead.
 *
 * The caller moves the bytes and drives each connection (send(), onTimeout(), poll()); it hands
 * every polled event to event() (new and retired CIDs update the routing table, a completed
 * handshake stops counting as load) and calls remove() once it is done with a connection. It
 * also calls the endpoint's own onTimeout() at nextTimeout(): handshakes that stay half-open too
 * long are expired there (admission limits: lib/quic/admission.ts), and receive window lent
 * from the window pool and no longer needed is taken back (RECLAIM_INTERVAL).
 */
import { debug } from '../debug/log.js';
import { Admission, type Refusal } from './admission.js';
import {
  Connection,
  LOCAL_CID_LENGTH,
  type Address,
  type ConnectionConfig,
  type ConnectionEvent,
} from './connection.js';
import { WindowPool } from './flow-control.js';
import { MIN_STATELESS_RESET } from './header.js';
import { randomSource, type RandomSource } from './random.js';
import { StatelessServer, initialOpens, type StatelessOptions } from './stateless.js';
import { checkWorkerSlot, cidWorker, workerCidGenerator, type WorkerSlot } from './worker-cid.js';

/** The datagrams of one read for one connection from one address (receiveBatch()). */
interface Group {
  remote: Address;
  list: Uint8Array[];
  ecn: number[];
}

export interface EndpointConfig {
  /** Server side: the configuration of the connection accepted for a client's first Initial
   * (`originalDcid`: the DCID the client first chose, for naming logs). Without it the endpoint
   * only makes client connections. */
  server?: (info: {
    originalDcid: Uint8Array;
    remote: Address;
    now: number;
  }) => Omit<ConnectionConfig, 'role'>;
  /** Most connections at once (default 10000); more Initials are dropped. */
  maxConnections?: number;
  /** Always answer new connections with Retry (address validation, RFC 9000 §8.1.2). */
  retry?: boolean;
  /** Load at or above which Retry is used automatically (default 64): handshakes in progress
   * plus Initials that made no connection in about the last second. */
  retryThreshold?: number;
  /** Handshakes in progress from one IPv4 address or IPv6 /64 (default 32); more are dropped. */
  maxHandshakesPerAddress?: number;
  /** Handshakes in progress from one IPv4 /24 or IPv6 /48 (default 256); more are dropped. */
  maxHandshakesPerPrefix?: number;
  /** Milliseconds a server handshake may stay half-open, before the client's first Handshake
   * packet (default 8000); then its state is discarded. One whose client sends nothing for
   * STALL_PTOS PTOs is discarded sooner (see onTimeout()). */
  halfOpenTimeout?: number;
  /** Bytes the connections may borrow, all together: receive window that auto-tuning adds
   * beyond their initial windows, and send buffering beyond their guaranteedSendBuffer
   * (default 256 MiB; 0: windows never grow, nor send buffers beyond the guaranteed share).
   * See WindowPool in lib/quic/flow-control.ts. */
  windowPool?: number;
  stateless?: StatelessOptions;
  /** Randomness for the stateless logic and for connections whose config has none (default
   * node:crypto); a seeded source makes a simulated run repeatable. */
  random?: RandomSource;
  /** One of several endpoints sharing an address, one per worker thread (worker-cid.ts):
   * every CID issued names this worker, and short-header packets naming another worker are
   * counted as misrouted and dropped (a Stateless Reset would end a live connection there). */
  worker?: WorkerSlot;
}

/** What receive() did with a datagram. */
export type Received =
  /** Given to an existing connection. */
  | { kind: 'routed'; conn: Connection }
  /** Given to these client connections as a possible Stateless Reset (RFC 9000 §10.3.1). */
  | { kind: 'probed'; conns: Connection[] }
  /** A client's first Initial that decrypted: a new server connection. */
  | { kind: 'new'; conn: Connection }
  /** Answered without state: send `datagram` to `remote`. */
  | {
      kind: 'respond';
      reason: 'retry' | 'version-negotiation' | 'stateless-reset';
      datagram: Uint8Array;
      remote: Address;
    }
  /** Reached no connection; `error` when a local failure (not the datagram) was the cause. */
  | { kind: 'dropped'; reason: string; error?: Error };

/** Stateless work done by an endpoint. `dropped`: datagrams that reached no connection
 * (garbage, unknown CIDs, limits); the counters after it say why for the refusals. */
export interface EndpointStats {
  accepted: number;
  dropped: number;
  retry: number;
  'version-negotiation': number;
  'stateless-reset': number;
  /** Initials dropped: maxHandshakesPerAddress handshakes from that host in progress. */
  refusedPerAddress: number;
  /** Initials dropped: maxHandshakesPerPrefix handshakes from that network in progress. */
  refusedPerPrefix: number;
  /** Initials dropped: maxConnections connections open. */
  connectionLimit: number;
  /** Initials that did not decrypt (no connection was made for them). */
  initialsUndecryptable: number;
  /** Initials that decrypted but that the new connection could not use (malformed frames). */
  initialsRejected: number;
  /** Handshakes discarded after halfOpenTimeout without the client's first Handshake packet. */
  halfOpenExpired: number;
  /** Short-header packets for a connection of another worker (config.worker): the kernel's
   * steering should make it 0. */
  misrouted: number;
  /** Half-open handshakes discarded sooner: no packet from the client for STALL_PTOS PTOs. */
  halfOpenStalled: number;
  /** Bytes of the window pool lent to connections now, and growths it cut short. */
  windowPoolInUse: number;
  windowPoolRefused: number;
}

/**
 * PTOs without a packet from the client after which a half-open server handshake is given up
 * (checked every STALL_CHECK_INTERVAL). A client whose packets were lost sends again when its
 * PTO fires, doubling it each time (RFC 9002 §6.2.1): with the initial 1 s PTO (§6.2.2) that
 * is 1 s and 3 s after its last packet, so 4 PTOs leave a legitimate client two rounds of
 * probes to get one through (any packet counts, a duplicate too: it shows the client is
 * there); our own PTO counts with its backoff, so a handshake waiting for our retransmissions
 * gets as long. A peer that sent half a ClientHello and went quiet holds its slot about 4 to
 * 5 s instead of halfOpenTimeout; one that keeps sending holds it to halfOpenTimeout.
 */
const STALL_PTOS = 4;

/** Milliseconds between two runs of the sweep that takes back, while the window pool lends
 * anything, the receive window connections borrowed and no longer need (RecvWindow.reclaim in
 * flow-control.ts): often enough that an idle connection's share returns within a second or
 * two, seldom enough that the sweep over the connections costs nothing that matters. */
export const RECLAIM_INTERVAL = 1000;

/** Default EndpointConfig.windowPool. */
export const DEFAULT_WINDOW_POOL = 256 << 20;
/** Default EndpointConfig.maxConnections. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/** Client endpoints with at most this many connections look for Stateless Resets. */
const MAX_RESET_CANDIDATES = 8;

/** Routing keys of one connection (a few: its live CIDs; an exact-size array, the smallest
 * container for them, replaced when one is added: memory per connection). */
type Entry = readonly string[];

function intIn(v: number | undefined, name: string, dflt: number, min = 0): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min || v > 2 ** 31)
    throw new RangeError(`${name} must be an integer in ${min}..${2 ** 31}`);
  return v;
}

/** Both datagrams have a short header (RFC 9000 §17.3) with the same DCID of our length. */
function sameShortDcid(a: Uint8Array, d: Uint8Array): boolean {
  if ((d[0]! & 0x80) !== 0 || d.length < 1 + LOCAL_CID_LENGTH) return false;
  for (let i = 1; i <= LOCAL_CID_LENGTH; i++) if (a[i] !== d[i]) return false;
  return true;
}

function checkRemote(r: Address): void {
  if (r === null || typeof r !== 'object' || typeof r.address !== 'string')
    throw new TypeError('remote must be an address object');
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535)
    throw new RangeError('remote.port must be 0..65535');
}

const key = (cid: Uint8Array): string =>
  Buffer.from(cid.buffer, cid.byteOffset, cid.length).toString('latin1');

export class Endpoint {
  readonly stats: EndpointStats = {
    accepted: 0,
    dropped: 0,
    retry: 0,
    'version-negotiation': 0,
    'stateless-reset': 0,
    refusedPerAddress: 0,
    refusedPerPrefix: 0,
    connectionLimit: 0,
    initialsUndecryptable: 0,
    initialsRejected: 0,
    halfOpenExpired: 0,
    misrouted: 0,
    halfOpenStalled: 0,
    windowPoolInUse: 0,
    windowPoolRefused: 0,
  };
  private readonly routes = new Map<string, Connection>();
  private readonly entries = new Map<Connection, Entry>();
  private readonly stateless: StatelessServer | undefined;
  private readonly serverConfig: EndpointConfig['server'];
  private readonly maxConnections: number;
  private readonly forceRetry: boolean;
  private readonly retryThreshold: number;
  private readonly random: RandomSource;
  private readonly worker: WorkerSlot | undefined;
  /** Shared by every server connection (one closure per endpoint, not per connection). */
  private readonly newToken: (remote: Address) => Uint8Array;
  private readonly resetToken: (cid: Uint8Array) => Uint8Array;
  /** Server handshakes in progress, per source, half-open deadlines, failed Initials. */
  private readonly admission: Admission<Connection>;
  /** The receive window lent beyond the initial windows (counted in stats). */
  private readonly windowPool: WindowPool;
  /** The latest `now` given: NEW_TOKEN tokens are stamped with it (connections ask for one
   * while they process a datagram, without the time). */
  private clock = 0;
  /** When the window pool sweep last ran (RECLAIM_INTERVAL). */
  private reclaimedAt = 0;
  private closing = false;

  constructor(config: EndpointConfig = {}) {
    if (config === null || typeof config !== 'object')
      throw new TypeError('config must be an object');
    if (config.server !== undefined && typeof config.server !== 'function')
      throw new TypeError('config.server must be a function');
    this.serverConfig = config.server;
    this.maxConnections = intIn(config.maxConnections, 'maxConnections', DEFAULT_MAX_CONNECTIONS);
    this.forceRetry = config.retry === true;
    this.retryThreshold = intIn(config.retryThreshold, 'retryThreshold', 64);
    // Defaults: a host runs a few handshakes at once (a browser opens a handful of
    // connections), a NATed /24 or an IPv6 site some hundreds; 3 s is about two PTO backoffs of
    // the initial 1 s PTO (RFC 9002 §6.2.2), well below the 10 s handshake timeout.
    this.admission = new Admission({
      maxHandshakesPerAddress: intIn(
        config.maxHandshakesPerAddress,
        'maxHandshakesPerAddress',
        32,
        1,
      ),
      maxHandshakesPerPrefix: intIn(
        config.maxHandshakesPerPrefix,
        'maxHandshakesPerPrefix',
        256,
        1,
      ),
      halfOpenTimeout: intIn(config.halfOpenTimeout, 'halfOpenTimeout', 8000, 1),
    });
    const pool = config.windowPool ?? DEFAULT_WINDOW_POOL;
    if (!Number.isSafeInteger(pool) || pool < 0)
      throw new RangeError('windowPool must be a safe integer >= 0');
    this.windowPool = new WindowPool(pool, this.stats);
    this.random = randomSource(config.random, 'config.random');
    this.worker = config.worker && checkWorkerSlot(config.worker, LOCAL_CID_LENGTH);
    const cidGenerator = this.worker
      ? workerCidGenerator(
          config.stateless?.cidGenerator,
          this.random,
          LOCAL_CID_LENGTH,
          this.worker,
        )
      : config.stateless?.cidGenerator;
    const stateless = config.server
      ? new StatelessServer({
          cidLength: LOCAL_CID_LENGTH,
          random: this.random,
          ...config.stateless,
          cidGenerator,
        })
      : undefined;
    this.stateless = stateless;
    this.newToken = (r) => stateless!.newToken(r, this.clock);
    this.resetToken = (cid) => stateless!.resetToken(cid);
  }

  /** Connections currently known to the endpoint. */
  get size(): number {
    return this.entries.size;
  }

  /** The connections, for driving them (send, timers, events). */
  connections(): IterableIterator<Connection> {
    return this.entries.keys();
  }

  /** Opens a client connection to `remote`; its first flight is ready for send(). */
  connect(config: Omit<ConnectionConfig, 'role'>, remote: Address, now: number): Connection {
    if (this.closing) throw new Error('endpoint is closing');
    if (config === null || typeof config !== 'object')
      throw new TypeError('config must be an object');
    this.tick(now);
    const conn = Connection.connect(
      { random: this.random, ...config, role: 'client', windowPool: this.windowPool },
      remote,
      now,
    );
    this.add(conn);
    return conn;
  }

  /** Handles one datagram from `remote`. The endpoint takes ownership of it (the connection
   * removes protection in place). Never throws for network input. */
  receive(datagram: Uint8Array, remote: Address, now: number): Received {
    if (!(datagram instanceof Uint8Array)) throw new TypeError('datagram must be a Uint8Array');
    checkRemote(remote);
    this.tick(now);
    return this.receiveOne(datagram, remote, now);
  }

  /**
   * Handles the datagrams of one read of the socket: datagram i came from `remotes[i]` with the
   * ECN codepoint `ecn[i]` (RFC 9000 §13.4). Each connection gets its datagrams from one
   * address in one Connection.receiveBatch() call (datagrams that share a buffer are
   * unprotected with one native call); the others are handled one by one, in order, as
   * receive() does. `each` is told what happened: once per connection, and once per datagram
   * for no connection. Takes ownership of the datagrams; never throws for network input.
   */
  receiveBatch(
    datagrams: readonly Uint8Array[],
    remotes: readonly Address[],
    ecn: ArrayLike<number>,
    now: number,
    each: (r: Received, remote: Address) => void,
  ): void {
    if (!Array.isArray(datagrams) || !Array.isArray(remotes) || remotes.length !== datagrams.length)
      throw new TypeError('datagrams and remotes must be arrays of the same length');
    if (typeof ecn !== 'object' || ecn === null || ecn.length !== datagrams.length)
      throw new TypeError('ecn must hold one codepoint per datagram');
    this.tick(now);
    const groups = new Map<Connection, Group>();
    // The last short-header datagram routed, and where: a run of datagrams with its DCID (a
    // connection's burst) is routed by comparing bytes, without a lookup key per datagram.
    let last: Uint8Array | undefined;
    let lastConn: Connection | undefined;
    for (let i = 0; i < datagrams.length; i++) {
      const d = datagrams[i]!;
      const remote = remotes[i]!;
      if (!(d instanceof Uint8Array)) throw new TypeError('datagram must be a Uint8Array');
      checkRemote(remote);
      const conn = last && sameShortDcid(last, d) ? lastConn : this.route(d);
      if (!conn) {
        each(this.receiveOne(d, remote, now, ecn[i]! & 3), remote);
        continue;
      }
      if ((d[0]! & 0x80) === 0) {
        last = d;
        lastConn = conn;
      }
      let g = groups.get(conn);
      if (g && (g.remote.port !== remote.port || g.remote.address !== remote.address)) {
        each(this.deliver(conn, g, now), g.remote); // the peer moved: keep the order per path
        g = undefined;
        last = lastConn = undefined; // (its routes may have changed)
      }
      if (!g) groups.set(conn, (g = { remote, list: [], ecn: [] }));
      g.list.push(d);
      g.ecn.push(ecn[i]! & 3);
    }
    for (const [conn, g] of groups) each(this.deliver(conn, g, now), g.remote);
  }

  private deliver(conn: Connection, g: Group, now: number): Received {
    conn.receiveBatch(g.list, g.remote, now, g.ecn);
    return { kind: 'routed', conn };
  }

  private receiveOne(datagram: Uint8Array, remote: Address, now: number, ecn = 0): Received {
    try {
      const conn = this.route(datagram);
      if (conn) {
        conn.receive(datagram, remote, now, ecn);
        return { kind: 'routed', conn };
      }
      if (!this.stateless) return this.probeReset(datagram, remote, now);
      if (this.foreign(datagram)) {
        this.stats.misrouted++;
        return this.drop("another worker's connection");
      }
      if (this.closing) return this.drop('no connection for this CID');
      return this.acceptNew(this.stateless, datagram, remote, now, ecn);
    } catch (err) {
      // A connection never throws for network input: this is a local failure (the server
      // config, say); the datagram is dropped and the caller told why.
      return this.drop(`error: ${(err as Error).message}`, err as Error);
    }
  }

  /** Keeps the routing table and the handshake load in step with a connection's events; call
   * it with every event polled from a connection of this endpoint. */
  event(conn: Connection, ev: ConnectionEvent): void {
    const entry = this.entries.get(conn);
    if (!entry) return;
    if (ev.type === 'connection-id') {
      if (ev.action === 'add') this.addRoute(conn, ev.cid);
      else {
        const k = key(ev.cid);
        if (this.routes.get(k) === conn) this.routes.delete(k);
        const i = entry.indexOf(k);
        if (i >= 0) this.entries.set(conn, entry.slice(0, i).concat(entry.slice(i + 1)));
      }
    } else if (ev.type === 'handshake-complete') this.admission.end(conn);
  }

  /** Forgets `conn` (closed, or abandoned by the caller): its CIDs route nowhere now. */
  remove(conn: Connection): void {
    const entry = this.entries.get(conn);
    if (!entry) return;
    this.entries.delete(conn);
    for (const k of entry) if (this.routes.get(k) === conn) this.routes.delete(k);
    this.admission.end(conn);
    conn.releaseWindowPool();
  }

  /** When onTimeout() must be called next (Infinity: no half-open handshake, nothing lent). */
  nextTimeout(): number {
    const t = this.admission.nextTimeout();
    return this.stats.windowPoolInUse > 0 ? Math.min(t, this.reclaimedAt + RECLAIM_INTERVAL) : t;
  }

  /**
   * Expires the server handshakes still half-open `halfOpenTimeout` ms after they were
   * accepted: no Handshake packet from the client yet, i.e. it never processed our first
   * flight (or never sent all of its ClientHello); and, sooner, the half-open ones whose
   * client sent nothing for STALL_PTOS PTOs. Their state is discarded silently,
   * as after an idle timeout (RFC 9000 §10.1): the endpoint forgets them and returns them, for
   * the caller to drop. Every RECLAIM_INTERVAL ms while the window pool lends anything, the
   * connections give back the receive window they no longer need.
   */
  onTimeout(now: number): Connection[] {
    this.tick(now);
    if (this.stats.windowPoolInUse > 0 && this.clock >= this.reclaimedAt + RECLAIM_INTERVAL) {
      this.reclaimedAt = this.clock;
      for (const conn of this.entries.keys()) conn.reclaimWindowPool(this.clock);
    }
    const { expired, stalled } = this.admission.expire(this.clock, (conn) => {
      if (conn.initialDiscarded || conn.state !== 'handshake') return -1;
      const p = conn.peerActivity;
      return p.at + STALL_PTOS * p.pto;
    });
    this.stats.halfOpenExpired += expired.length;
    this.stats.halfOpenStalled += stalled.length;
    const gone = expired.concat(stalled);
    for (const conn of gone) {
      debug(
        'packets',
        () => `endpoint: half-open handshake given up (${conn.remoteAddress.address})`,
      );
      this.remove(conn);
    }
    return gone;
  }

  /** Accepts no new connections from now on; existing ones keep being routed. */
  close(): void {
    this.closing = true;
  }

  /** Wipes the token and reset keys (after close(), once every connection is gone). */
  destroy(): void {
    this.closing = true;
    this.stateless?.destroy();
  }

  private tick(now: number): void {
    if (typeof now !== 'number' || !Number.isFinite(now))
      throw new TypeError('now must be a finite number');
    if (now > this.clock) this.clock = now;
  }

  private add(conn: Connection): void {
    this.entries.set(conn, []);
    for (const cid of conn.localConnectionIds()) this.addRoute(conn, cid);
  }

  private addRoute(conn: Connection, cid: Uint8Array): void {
    const k = key(cid);
    const owner = this.routes.get(k);
    if (owner !== undefined && owner !== conn) return; // collision: keep the first
    this.routes.set(k, conn);
    const entry = this.entries.get(conn)!;
    if (!entry.includes(k)) this.entries.set(conn, entry.concat(k));
  }

  /** A short-header packet whose DCID names another worker of this address. */
  private foreign(d: Uint8Array): boolean {
    const w = this.worker;
    return (
      w !== undefined &&
      (d[0]! & 0x80) === 0 &&
      d.length > 1 + w.offset &&
      cidWorker(d.subarray(1), w) !== w.index
    );
  }

  private route(d: Uint8Array): Connection | undefined {
    if (d.length < 1 + LOCAL_CID_LENGTH) return undefined;
    const b = Buffer.from(d.buffer, d.byteOffset, d.length);
    if ((d[0]! & 0x80) === 0) return this.routes.get(b.toString('latin1', 1, 1 + LOCAL_CID_LENGTH));
    if (d.length < 6) return undefined;
    const len = d[5]!;
    if (len > 20 || 6 + len > d.length) return undefined;
    return this.routes.get(b.toString('latin1', 6, 6 + len));
  }

  /** Drops a first Initial for `why` (counted as a refusal) and `reason` (said to the caller). */
  private refuse(why: Refusal | 'connectionLimit', reason: string): Received {
    this.stats[why]++;
    return this.drop(reason);
  }

  /** Drops a first Initial that made no connection: it counts as load for Retry. */
  private failed(why: 'initialsUndecryptable' | 'initialsRejected', reason: string): Received {
    this.stats[why]++;
    this.admission.failed(this.clock);
    return this.drop(reason);
  }

  private drop(reason: string, error?: Error): Received {
    this.stats.dropped++;
    debug('packets', () => `endpoint: dropped datagram (${reason})`);
    return error ? { kind: 'dropped', reason, error } : { kind: 'dropped', reason };
  }

  /**
   * RFC 9000 §10.3.1: a Stateless Reset does not carry one of our CIDs, so it cannot be routed;
   * on a client endpoint with few connections each one talking to `remote` checks the datagram
   * against the reset tokens its peer gave it (a copy each: receive() works in place).
   */
  private probeReset(d: Uint8Array, remote: Address, now: number): Received {
    if ((d[0]! & 0x80) !== 0 || d.length < MIN_STATELESS_RESET)
      return this.drop('no connection for this CID');
    if (this.entries.size > MAX_RESET_CANDIDATES) return this.drop('no connection for this CID');
    const conns: Connection[] = [];
    for (const conn of this.entries.keys()) {
      const peer = conn.remoteAddress;
      if (peer.port !== remote.port || peer.address !== remote.address) continue;
      conn.receive(Buffer.from(d), remote, now);
      conns.push(conn);
    }
    return conns.length > 0 ? { kind: 'probed', conns } : this.drop('no connection for this CID');
  }

  private acceptNew(
    stateless: StatelessServer,
    d: Uint8Array,
    remote: Address,
    now: number,
    ecn: number,
  ): Received {
    const load = this.admission.size + this.admission.failureLoad(this.clock);
    const retry = this.forceRetry || load >= this.retryThreshold;
    const decision = stateless.decideFirstPacket(d, remote, now, { retry });
    if (decision.kind === 'drop') return this.drop(decision.reason);
    if (decision.kind === 'retry' || decision.kind === 'accept') {
      // RFC 9000 §21.6: limits per source (a Retry to a source at its limit would only bring
      // the Initial back to be refused).
      const refusal = this.admission.refusal(remote.address);
      if (refusal) return this.refuse(refusal, `${refusal} (${remote.address})`);
    }
    if (decision.kind !== 'accept') {
      this.stats[decision.kind]++;
      debug('packets', () => `endpoint: ${decision.kind} to ${remote.address}:${remote.port}`);
      return { kind: 'respond', reason: decision.kind, datagram: decision.packet, remote };
    }
    // §5.2.2: a server that cannot take more connections may drop the Initial.
    if (this.entries.size >= this.maxConnections)
      return this.refuse('connectionLimit', 'connection limit');
    // Decrypt first, allocate after: garbage costs a key derivation, not a connection.
    if (!initialOpens(d, LOCAL_CID_LENGTH))
      return this.failed('initialsUndecryptable', 'Initial did not decrypt');
    const { dcid, originalDcid, retrySourceCid, addressValidated } = decision;
    const base = this.serverConfig!({ originalDcid: originalDcid ?? dcid, remote, now });
    const conn = Connection.accept(
      {
        random: this.random,
        ...base,
        role: 'server',
        windowPool: this.windowPool,
        newToken: this.newToken,
        statelessResetToken: this.resetToken,
        cidGenerator: stateless.cidGenerator,
      },
      d,
      remote,
      now,
      { originalDcid, retrySourceCid, addressValidated, ecn },
    );
    // An authentic Initial the connection could not use (malformed frames: it closed at once)
    // leaves no state either.
    if (conn._stats.packetsReceived === 0)
      return this.failed('initialsRejected', 'first Initial rejected by the connection');
    this.stats.accepted++;
    this.add(conn);
    this.admission.start(conn, remote.address, this.clock);
    // The client keeps using the DCID it chose until it learns ours (§7.2).
    this.addRoute(conn, dcid);
    return { kind: 'new', conn };
  }
}
