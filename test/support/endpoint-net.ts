/**
 * An in-memory network of sans-IO Endpoints in simulated time: every datagram takes `delay` ms;
 * each endpoint is driven the way net/endpoint.ts drives it (receive, poll events into
 * Endpoint.event, send, connection and endpoint timeouts, remove when closed). Deterministic: a `trace` of what
 * happened (routing decisions, stateless answers byte for byte, datagram sizes, CIDs, tokens,
 * events) can be compared between runs.
 */
import type {
  Address,
  Connection,
  ConnectionConfig,
  ConnectionEvent,
} from '../../lib/quic/connection.js';
import { Endpoint, type Received } from '../../lib/quic/endpoint.js';
import { SERVER_ADDR, clientConfig, withoutRole } from './link.js';

export interface Datagram {
  at: number;
  seq: number;
  from: Address;
  to: Address;
  data: Buffer;
}

export interface Node {
  readonly name: string;
  readonly address: Address;
  endpoint: Endpoint;
  /** What receive() returned, in order. */
  readonly received: Received[];
  /** Called with each event polled from one of this node's connections. */
  onEvent?: (conn: Connection, ev: ConnectionEvent) => void;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const addr = (a: Address): string => `${a.address}:${a.port}`;

export class EndpointNet {
  now = 0;
  /** One-way delay in ms. */
  delay = 10;
  /** Everything observable, in order. */
  readonly trace: string[] = [];
  /** May drop (null) or replace a datagram as it is sent. */
  tap: ((d: Datagram) => Buffer | null) | undefined;
  /** Deliver the datagrams due for a node at once, copied into one buffer, with one
   * Endpoint.receiveBatch() call (as the native socket hands over one read). */
  batch = false;
  /** How many datagrams each receiveBatch() call carried. */
  readonly batchSizes: number[] = [];
  private readonly queue: Datagram[] = [];
  private readonly nodes = new Map<string, Node>();
  private readonly ids = new WeakMap<Connection, number>();
  private nextId = 0;
  private seq = 0;

  add(name: string, address: Address, endpoint: Endpoint): Node {
    const node: Node = { name, address, endpoint, received: [] };
    this.nodes.set(addr(address), node);
    return node;
  }

  /** Opens a client connection from `node` (its CIDs go into the trace). */
  connect(node: Node, config: Omit<ConnectionConfig, 'role'>, remote: Address): Connection {
    const conn = node.endpoint.connect(config, remote, this.now);
    const cids = conn.localConnectionIds().map(hex);
    this.trace.push(`${this.now} ${node.name} connect #${this.id(conn)} ${cids}`);
    return conn;
  }

  /** A stable number for a connection in the trace. */
  id(conn: Connection): number {
    let n = this.ids.get(conn);
    if (n === undefined) this.ids.set(conn, (n = this.nextId++));
    return n;
  }

  /** Puts a datagram on the wire from `from` to `to`. */
  send(from: Address, to: Address, data: Uint8Array): void {
    const d: Datagram = {
      at: this.now + this.delay,
      seq: this.seq++,
      from,
      to,
      data: Buffer.from(data),
    };
    const out = this.tap ? this.tap(d) : d.data;
    this.trace.push(
      `${this.now} ${addr(from)} -> ${addr(to)} ${data.length}${out ? '' : ' (lost)'}`,
    );
    if (out) this.queue.push({ ...d, data: out });
  }

  /** Polls every connection of `node`, sends what they have, forgets the closed ones. */
  flush(node: Node): void {
    for (const conn of [...node.endpoint.connections()]) {
      for (let ev; (ev = conn.poll());) {
        node.endpoint.event(conn, ev);
        this.trace.push(`${this.now} ${node.name}#${this.id(conn)} ${describe(ev)}`);
        node.onEvent?.(conn, ev);
      }
      for (let out; (out = conn.send(this.now)).length > 0;)
        for (const d of out) this.send(node.address, d.remote, d.data);
      if (conn.state === 'closed') node.endpoint.remove(conn);
    }
  }

  private flushAll(): void {
    for (const node of this.nodes.values()) this.flush(node);
  }

  private nextTime(): number {
    let t = Infinity;
    for (const d of this.queue) t = Math.min(t, d.at);
    for (const node of this.nodes.values()) {
      t = Math.min(t, node.endpoint.nextTimeout());
      for (const conn of node.endpoint.connections()) t = Math.min(t, conn.nextTimeout());
    }
    return t;
  }

  /** Advances to the next thing that happens; false when nothing ever will (before `limit`). */
  step(limit = Infinity): boolean {
    this.flushAll();
    const t = this.nextTime();
    if (t === Infinity || t > limit) return false;
    this.now = Math.max(this.now, t);
    const due = this.queue
      .filter((d) => d.at <= this.now)
      .sort((a, b) => a.at - b.at || a.seq - b.seq);
    const rest = this.queue.filter((d) => d.at > this.now);
    this.queue.length = 0;
    this.queue.push(...rest);
    if (this.batch) this.deliverBatches(due);
    else for (const d of due) this.deliver(d);
    for (const node of this.nodes.values()) {
      // Expired half-open handshakes are forgotten by the endpoint: nothing drives them again.
      if (node.endpoint.nextTimeout() <= this.now)
        for (const conn of node.endpoint.onTimeout(this.now))
          this.trace.push(`${this.now} ${node.name}#${this.id(conn)} expired`);
      for (const conn of node.endpoint.connections())
        if (conn.nextTimeout() <= this.now) conn.onTimeout(this.now);
    }
    this.flushAll();
    return true;
  }

  /** Runs until `done()` or `maxTime` more simulated ms; returns whether done() held. */
  run(done: () => boolean, maxTime = 60_000): boolean {
    const limit = this.now + maxTime;
    while (!done()) if (!this.step(limit)) return done();
    return true;
  }

  private deliver(d: Datagram): void {
    const node = this.nodes.get(addr(d.to));
    if (!node) {
      this.trace.push(`${this.now} ${addr(d.to)} unreachable`);
      return;
    }
    this.record(node, node.endpoint.receive(d.data, d.from, this.now));
  }

  private deliverBatches(due: Datagram[]): void {
    for (const node of this.nodes.values()) {
      const mine = due.filter((d) => addr(d.to) === addr(node.address));
      if (mine.length === 0) continue;
      const slab = Buffer.concat(mine.map((d) => d.data));
      let off = 0;
      const views = mine.map((d) => slab.subarray(off, (off += d.data.length)));
      this.batchSizes.push(mine.length);
      node.endpoint.receiveBatch(
        views,
        mine.map((d) => d.from),
        mine.map(() => 0),
        this.now,
        (r) => this.record(node, r),
      );
    }
    for (const d of due)
      if (!this.nodes.has(addr(d.to))) this.trace.push(`${this.now} ${addr(d.to)} unreachable`);
  }

  private record(node: Node, r: Received): void {
    node.received.push(r);
    switch (r.kind) {
      case 'routed':
        this.trace.push(`${this.now} ${node.name} routed #${this.id(r.conn)}`);
        break;
      case 'new': {
        const cids = r.conn.localConnectionIds().map(hex);
        this.trace.push(`${this.now} ${node.name} new #${this.id(r.conn)} ${cids}`);
        break;
      }
      case 'probed':
        this.trace.push(`${this.now} ${node.name} probed ${r.conns.map((c) => this.id(c))}`);
        break;
      case 'respond':
        this.trace.push(`${this.now} ${node.name} ${r.reason} ${hex(r.datagram)}`);
        this.send(node.address, r.remote, r.datagram);
        break;
      case 'dropped':
        this.trace.push(`${this.now} ${node.name} dropped (${r.reason})`);
        break;
    }
  }
}

function describe(ev: ConnectionEvent): string {
  switch (ev.type) {
    case 'connection-id':
      return `${ev.type} ${ev.action} ${hex(ev.cid)}`;
    case 'new-token':
      return `${ev.type} ${hex(ev.token)}`;
    case 'closed':
      return `${ev.type} ${ev.error ? `${ev.error.code} ${ev.error.reason}` : ''}`;
    case 'handshake-complete':
      return `${ev.type} ${ev.info.group} ${ev.info.cipher}`;
    case 'stream-opened':
    case 'readable':
    case 'writable':
    case 'stream-closed':
      return `${ev.type} ${ev.streamId}`;
    default:
      return ev.type;
  }
}

/** Echoes every stream of `node`'s connections back (with its FIN). */
export function echo(node: Node): void {
  node.onEvent = (conn, ev) => {
    if (ev.type !== 'readable') return;
    for (;;) {
      const { data, fin } = conn.readChunk(ev.streamId);
      if (data && data.length > 0) conn.write(ev.streamId, Buffer.from(data));
      if (fin) conn.write(ev.streamId, new Uint8Array(0), true);
      if (!data || fin) return;
    }
  };
}

/** Reads what stream `id` of `conn` has into `into.echoed`; `into.done` once its FIN came. */
export function readEcho(conn: Connection, id: number, into: { echoed: Buffer[]; done: boolean }) {
  for (;;) {
    const { data, fin } = conn.readChunk(id);
    if (data) into.echoed.push(Buffer.from(data));
    if (fin) into.done = true;
    if (!data || fin) return;
  }
}

/**
 * `count` clients (10.0.`subnet`.1 and on) on `net`, each uploading `payload` to SERVER_ADDR
 * on one stream as fast as it is allowed to (and ending it when `fin`); their connections.
 */
export function uploaders(
  net: EndpointNet,
  subnet: number,
  count: number,
  payload: Uint8Array,
  fin = false,
): Connection[] {
  const sent = new Map<Connection, { id: number; off: number }>();
  const clients: Connection[] = [];
  for (let i = 1; i <= count; i++) {
    const at: Address = { address: `10.0.${subnet}.${i}`, port: 40_000, family: 'IPv4' };
    const node = net.add(`client${i}`, at, new Endpoint());
    clients.push(net.connect(node, withoutRole(clientConfig()), SERVER_ADDR));
    node.onEvent = (conn, ev) => {
      if (ev.type === 'handshake-complete') sent.set(conn, { id: conn.openStream(true)!, off: 0 });
      const s = sent.get(conn);
      if (!s || (ev.type !== 'handshake-complete' && ev.type !== 'writable')) return;
      s.off += conn.write(s.id, payload.subarray(s.off), fin);
    };
  }
  return clients;
}
