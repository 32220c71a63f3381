/**
 * A simulated network link between a client and a server Connection, in simulated time:
 * one-way delay, jitter (reordering), loss, duplication, corruption and an optional
 * bottleneck rate with a drop-tail queue, all drawn from a seeded PRNG (deterministic).
 */
import {
  Connection,
  type Address,
  type ConnectionConfig,
  type ConnectionEvent,
} from '../../lib/quic/connection.js';
import { serverCreds, fixture } from './tls-pair.js';

export const CLIENT_ADDR: Address = { address: '10.0.0.1', port: 40000, family: 'IPv4' };
export const SERVER_ADDR: Address = { address: '10.0.0.2', port: 4433, family: 'IPv4' };
/** Wall clock for the TLS engine (certificate validity) at simulated time 0. */
export const WALL_CLOCK = Date.parse('2030-01-01T00:00:00Z');

export interface LinkOptions {
  seed?: number;
  /** One-way delay in ms (default 10). */
  delay?: number;
  /** Extra uniformly random delay in [0, jitter) ms: reorders datagrams. */
  jitter?: number;
  loss?: number;
  duplicate?: number;
  /** Probability that one byte of a datagram is flipped. */
  corrupt?: number;
  /** Bottleneck rate in bytes per ms (Infinity: none) and its queue in bytes. */
  rate?: number;
  queue?: number;
}

/** xorshift32: deterministic for a given seed. */
export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

interface InFlight {
  at: number;
  seq: number;
  toServer: boolean;
  data: Buffer;
  from: Address;
  /** The ECN codepoint the datagram arrives with. */
  ecn: number;
}

export type Side = 'client' | 'server';

/** A connection config as an endpoint takes it (the endpoint sets the role). */
export function withoutRole(c: ConnectionConfig): Omit<ConnectionConfig, 'role'> {
  const { role, ...rest } = c;
  void role;
  return rest;
}

export function clientConfig(extra: Partial<ConnectionConfig> = {}): ConnectionConfig {
  return {
    role: 'client',
    tls: { alpn: ['echo'], servername: 'localhost', ca: fixture('ca.pem') },
    wallClockOffset: WALL_CLOCK,
    ...extra,
  };
}

export function serverConfig(extra: Partial<ConnectionConfig> = {}): ConnectionConfig {
  return {
    role: 'server',
    tls: { alpn: ['echo'], ...serverCreds() },
    wallClockOffset: WALL_CLOCK,
    ...extra,
  };
}

export class Link {
  now = 0;
  readonly client: Connection;
  server: Connection | undefined;
  readonly events: { client: ConnectionEvent[]; server: ConnectionEvent[] } = {
    client: [],
    server: [],
  };
  /** Bytes each side put on the wire, and datagram counts. */
  readonly sent = { client: 0, server: 0 };
  readonly delivered = { client: 0, server: 0 };
  /** Hook called for every datagram before the link decides its fate; may replace it. */
  tap: ((d: { toServer: boolean; data: Buffer }) => Buffer | null) | undefined;
  /** What the path does to a datagram's ECN codepoint (default: keeps it). */
  ecnPath: ((codepoint: number, toServer: boolean) => number) | undefined;
  /** Called with each event as it is polled. */
  onEvent: ((side: Side, ev: ConnectionEvent, link: Link) => void) | undefined;
  clientAddr: Address = CLIENT_ADDR;
  /** Passed to Connection.accept (a Retry was sent, a token validated the address). */
  acceptInfo:
    | { originalDcid?: Uint8Array; retrySourceCid?: Uint8Array; addressValidated?: boolean }
    | undefined;
  private readonly rand: () => number;
  private readonly opts: Required<LinkOptions>;
  private readonly queue: InFlight[] = [];
  private seq = 0;
  private stalls = 0;
  private linkFree = { client: 0, server: 0 };
  private readonly serverCfg: ConnectionConfig;

  constructor(
    cfgClient: ConnectionConfig = clientConfig(),
    cfgServer: ConnectionConfig = serverConfig(),
    opts: LinkOptions = {},
  ) {
    this.opts = {
      seed: 1,
      delay: 10,
      jitter: 0,
      loss: 0,
      duplicate: 0,
      corrupt: 0,
      rate: Infinity,
      queue: 256 * 1024,
      ...opts,
    };
    this.rand = prng(this.opts.seed);
    this.serverCfg = cfgServer;
    this.client = Connection.connect(cfgClient, SERVER_ADDR, this.now);
  }

  conn(side: Side): Connection {
    return side === 'client' ? this.client : this.server!;
  }

  /** Sends whatever both sides have and queues it on the link. */
  pump(): void {
    for (const side of ['client', 'server'] as const) {
      const c = side === 'client' ? this.client : this.server;
      if (!c) continue;
      this.drainEvents(side);
      for (let round = 0; round < 64; round++) {
        const out = c.send(this.now);
        if (out.length === 0) break;
        for (const d of out) this.transmit(side === 'client', Buffer.from(d.data), c.ecnCodepoint);
      }
      this.drainEvents(side);
    }
  }

  private drainEvents(side: Side): void {
    const c = side === 'client' ? this.client : this.server;
    if (!c) return;
    for (let ev = c.poll(); ev; ev = c.poll()) {
      this.events[side].push(ev);
      this.onEvent?.(side, ev, this);
    }
  }

  private transmit(toServer: boolean, data: Buffer, codepoint = 0): void {
    const o = this.opts;
    const ecn = this.ecnPath ? this.ecnPath(codepoint, toServer) : codepoint;
    this.sent[toServer ? 'client' : 'server'] += data.length;
    let d: Buffer | null = data;
    if (this.tap) d = this.tap({ toServer, data });
    if (!d) return;
    if (this.rand() < o.loss) return;
    const key = toServer ? 'client' : 'server';
    let at = this.now;
    if (o.rate !== Infinity) {
      const start = Math.max(this.now, this.linkFree[key]);
      // Drop-tail: the queue holds at most `queue` bytes.
      if ((start - this.now) * o.rate > o.queue) return;
      this.linkFree[key] = start + d.length / o.rate;
      at = this.linkFree[key];
    }
    at += o.delay + (o.jitter > 0 ? this.rand() * o.jitter : 0);
    if (this.rand() < o.corrupt) {
      d = Buffer.from(d);
      d[Math.floor(this.rand() * d.length)] ^= 1 << Math.floor(this.rand() * 8);
    }
    this.queue.push({
      at,
      seq: this.seq++,
      toServer,
      data: d,
      from: toServer ? this.clientAddr : SERVER_ADDR,
      ecn,
    });
    if (this.rand() < o.duplicate)
      this.queue.push({
        at: at + 1,
        seq: this.seq++,
        toServer,
        data: Buffer.from(d),
        from: toServer ? this.clientAddr : SERVER_ADDR,
        ecn,
      });
  }

  /** Injects a datagram as if the peer sent it. */
  inject(toServer: boolean, data: Uint8Array, from?: Address): void {
    this.queue.push({
      at: this.now,
      seq: this.seq++,
      toServer,
      data: Buffer.from(data),
      from: from ?? (toServer ? this.clientAddr : SERVER_ADDR),
      ecn: 0,
    });
  }

  private nextEventTime(): number {
    let t = Infinity;
    for (const q of this.queue) if (q.at < t) t = q.at;
    t = Math.min(t, this.client.nextTimeout());
    if (this.server) t = Math.min(t, this.server.nextTimeout());
    return t;
  }

  /** Advances to the next event; false when nothing will ever happen again. */
  step(limit = Infinity): boolean {
    // Sends what API calls since the last step queued (and the client's first flight).
    this.pump();
    const t = this.nextEventTime();
    if (t === Infinity || t > limit) return false;
    // A connection whose timer stays due without progress would spin an event loop.
    if (t > this.now) {
      this.now = t;
      this.stalls = 0;
    } else if (++this.stalls > 10_000) throw new Error('timer spin: no progress at a due time');
    // Deliver due datagrams in time order (ties by send order).
    const due = this.queue
      .filter((q) => q.at <= this.now)
      .sort((a, b) => a.at - b.at || a.seq - b.seq);
    if (due.length) {
      const rest = this.queue.filter((q) => q.at > this.now);
      this.queue.length = 0;
      this.queue.push(...rest);
    }
    for (const q of due) {
      if (q.toServer) {
        this.delivered.server += q.data.length;
        if (!this.server) {
          this.server = Connection.accept(this.serverCfg, q.data, q.from, this.now, {
            ...this.acceptInfo,
            ecn: q.ecn,
          });
        } else this.server.receiveBatch([q.data], q.from, this.now, [q.ecn]);
      } else {
        this.delivered.client += q.data.length;
        this.client.receiveBatch([q.data], q.from, this.now, [q.ecn]);
      }
    }
    for (const c of [this.client, this.server])
      if (c && c.nextTimeout() <= this.now) c.onTimeout(this.now);
    this.pump();
    return true;
  }

  /** Runs until `done()` or simulated time `maxTime`; returns whether done() held. */
  run(done: () => boolean, maxTime = 60_000): boolean {
    const limit = this.now + maxTime;
    while (!done()) {
      if (!this.step(limit)) return done();
    }
    return true;
  }
}

/** An upload in progress (see upload()). */
export interface Upload {
  /** What the server read, in order. */
  received: Buffer[];
  /** The server read the stream's FIN. */
  done: boolean;
}

/** Sets `l` up so that the client sends `data` on one stream once the handshake completes
 * (writes of `chunk` bytes, as credit allows) and the server reads it as it arrives, into `u`;
 * then run `l` until `u.done`. */
export function upload(
  l: Link,
  data: Buffer,
  chunk = 100_000,
  u: Upload = { received: [], done: false },
): Upload {
  let sid = -1;
  let off = 0;
  const push = (): void => {
    while (off < data.length) {
      const end = Math.min(data.length, off + chunk);
      const n = l.client.write(sid, data.subarray(off, end), end === data.length);
      if (n === 0) break;
      off += n;
    }
  };
  l.onEvent = (side, ev) => {
    if (side === 'client' && ev.type === 'handshake-complete') {
      sid = l.client.openStream(true)!;
      push();
    } else if (side === 'client' && ev.type === 'writable') push();
    else if (side === 'server' && ev.type === 'readable') {
      for (let d = l.server!.read(ev.streamId); d; d = l.server!.read(ev.streamId))
        u.received.push(Buffer.from(d));
      if (l.server!.isFinished(ev.streamId)) u.done = true;
    }
  };
  return u;
}
