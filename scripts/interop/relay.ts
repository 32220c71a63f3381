// A lossy UDP relay for the interop matrix (handshakeloss, transferloss): it listens on
// loopback, forwards each client's datagrams to the server through a socket of its own per
// client (so the server sees one address per client), and drops datagrams in both directions
// with a seeded PRNG, so a run with the same seed and the same datagram sequence drops the
// same datagrams. `first` limits the losses to the first N datagrams of each direction of each
// client (each client address is one connection: handshakeloss).
//
//   node --import tsx scripts/interop/relay.ts --listen 127.0.0.1:5000 --to 127.0.0.1:4433 \
//     --loss 0.3 [--first 30] [--seed 1]
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export interface RelayOptions {
  /** Where the relay listens (port 0: any). */
  listen: { host: string; port: number };
  /** Where it forwards to. */
  target: { host: string; port: number };
  /** Probability 0..1 that a datagram is dropped. */
  loss: number;
  /** Only the first `first` datagrams of each direction of each client may be dropped
   * (default: all). */
  first?: number;
  /** PRNG seed (default 1). */
  seed?: number;
}

export interface RelayCounts {
  up: { seen: number; dropped: number };
  down: { seen: number; dropped: number };
}

export interface Relay {
  readonly port: number;
  readonly counts: RelayCounts;
  close(): Promise<void>;
}

/** mulberry32: a small 32-bit PRNG, deterministic for a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const udpType = (host: string) => (isIP(host) === 6 ? 'udp6' : 'udp4');

function bind(host: string, port: number): Promise<Socket> {
  const s = createSocket({ type: udpType(host), recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, host, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

export async function startRelay(o: RelayOptions): Promise<Relay> {
  if (!(o.loss >= 0 && o.loss <= 1)) throw new RangeError('loss must be in 0..1');
  const first = o.first ?? Infinity;
  if (!(first >= 0)) throw new RangeError('first must be >= 0');
  const random = prng(o.seed ?? 1);
  const counts: RelayCounts = { up: { seen: 0, dropped: 0 }, down: { seen: 0, dropped: 0 } };
  /** `flow`: this client's datagram count in that direction. */
  const drop = (dir: { seen: number; dropped: number }, flow: number): boolean => {
    dir.seen++;
    // Draw for every datagram, so the decisions depend only on the sequence position.
    const r = random();
    if (flow >= first || r >= o.loss) return false;
    dir.dropped++;
    return true;
  };
  const flows = new Map<string, { up: number; down: number }>();
  const flowOf = (from: RemoteInfo) => {
    const k = `${from.address}|${from.port}`;
    let f = flows.get(k);
    if (!f) flows.set(k, (f = { up: 0, down: 0 }));
    return f;
  };
  const front = await bind(o.listen.host, o.listen.port);
  const upstream = new Map<string, Socket>();
  const pending = new Map<string, Promise<Socket>>();
  const upstreamFor = (from: RemoteInfo): Promise<Socket> => {
    const k = `${from.address}|${from.port}`;
    const s = upstream.get(k);
    if (s) return Promise.resolve(s);
    let p = pending.get(k);
    if (!p) {
      p = bind(o.listen.host, 0).then((sock) => {
        const flow = flowOf(from);
        sock.on('message', (msg) => {
          if (!drop(counts.down, flow.down++)) front.send(msg, from.port, from.address);
        });
        sock.on('error', () => {});
        upstream.set(k, sock);
        pending.delete(k);
        return sock;
      });
      pending.set(k, p);
    }
    return p;
  };
  front.on('error', () => {});
  front.on('message', (msg, from) => {
    // Decide now (arrival order), send when the upstream socket is ready.
    const dropped = drop(counts.up, flowOf(from).up++);
    void upstreamFor(from).then((sock) => {
      if (!dropped) sock.send(msg, o.target.port, o.target.host);
    });
  });
  const port = front.address().port;
  return {
    port,
    counts,
    async close() {
      const all = [front, ...upstream.values()];
      await Promise.all(all.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

function hostPort(v: string | undefined, name: string): { host: string; port: number } {
  const m = v === undefined ? null : (/^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v));
  if (!m || Number(m[2]) > 65535) throw new Error(`--${name} must be HOST:PORT or [V6]:PORT`);
  return { host: m[1]!, port: Number(m[2]) };
}

async function main(argv: string[]): Promise<number> {
  let o: RelayOptions;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        listen: { type: 'string' },
        to: { type: 'string' },
        loss: { type: 'string' },
        first: { type: 'string' },
        seed: { type: 'string' },
      },
      strict: true,
    });
    const loss = Number(values.loss ?? '0');
    if (!(loss >= 0 && loss <= 1)) throw new Error('--loss must be a number in 0..1');
    const first = values.first === undefined ? undefined : Number(values.first);
    if (first !== undefined && !(Number.isInteger(first) && first >= 0))
      throw new Error('--first must be a non-negative integer');
    const seed = Number(values.seed ?? '1');
    if (!Number.isInteger(seed)) throw new Error('--seed must be an integer');
    o = {
      listen: hostPort(values.listen, 'listen'),
      target: hostPort(values.to, 'to'),
      loss,
      first,
      seed,
    };
  } catch (e) {
    console.error(`relay: ${(e as Error).message}`);
    return 2;
  }
  const relay = await startRelay(o);
  console.log(`relay listening on port ${relay.port}`);
  await new Promise<void>((r) => {
    process.once('SIGINT', r);
    process.once('SIGTERM', r);
  });
  console.log(JSON.stringify(relay.counts));
  await relay.close();
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  void main(process.argv.slice(2)).then((c) => (process.exitCode = c));
