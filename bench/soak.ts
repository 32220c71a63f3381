// Soak run: a zquic server in a child process (bench/server-child.ts, an echo and an HTTP/3
// endpoint) and many concurrent clients reaching it through the interop matrix's lossy relay
// (scripts/interop/relay.ts). Each client connects, runs a few exchanges of random sizes both
// ways — HTTP/3 (upload checked by the server's SHA-256 of it, download generated from a seed)
// or raw QUIC echo streams — sometimes starts a key update, closes, and connects again; a
// third of the reconnections resume with a session ticket, most of them sending their first
// exchange as 0-RTT. Every byte is checked by SHA-256; the counts include a warm-up round. After the clients go, the server's RSS (after a GC)
// must come back within RSS_MARGIN of its baseline (taken after a warm-up round of every kind
// of exchange, so code and allocator arenas the run needs anyway are in it).
//
//   npm run soak -- --minutes 10 [--clients 20] [--loss 0.02] [--seed 1]
//
// Prints a table and one JSON line; the exit status is non-zero on any failed check.
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import {
  QuicEndpoint,
  connect,
  connectHttp3,
  type QuicSession,
  type SessionTicket,
} from '../lib/index.js';
import { prng, startRelay } from '../scripts/interop/relay.js';
import { patternBytes, sha256 } from './soak-data.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

/** How far above its baseline the server's RSS may stay after the clients left and a GC. */
export const RSS_MARGIN = 64 << 20;

export interface SoakOptions {
  minutes: number;
  clients?: number;
  loss?: number;
  seed?: number;
}

export interface SoakResult {
  seconds: number;
  clients: number;
  loss: number;
  seed: number;
  connections: number;
  resumed: number;
  /** Connections that sent 0-RTT, and those whose 0-RTT the server accepted. */
  earlyData: number;
  earlyAccepted: number;
  keyUpdates: number;
  exchanges: { h3: number; echo: number };
  bytes: { up: number; down: number };
  /** Exchanges or connections that failed (wrong bytes, errors, timeouts). */
  failures: number;
  firstFailures: string[];
  relay: { up: number; upDropped: number; down: number; downDropped: number };
  rss: { baseline: number; peak: number; after: number; margin: number };
  sessionsAfter: number;
  crashed: boolean;
  ok: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A size from 0 to `max`, log-uniform (many small transfers, some large). */
function size(random: () => number, max: number): number {
  return Math.floor(Math.exp(random() * Math.log(max + 1))) - 1;
}

async function readAll(s: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of s) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export async function soak(o: SoakOptions): Promise<SoakResult> {
  const nClients = o.clients ?? 20;
  const loss = o.loss ?? 0.02;
  const seed = o.seed ?? 1;
  const t0 = performance.now();
  const server: ServerProcess = await startServerProcess(['echo', 'h3']);
  const relays = await Promise.all(
    (['echo', 'h3'] as const).map((mode, i) =>
      startRelay({
        listen: { host: '127.0.0.1', port: 0 },
        target: { host: '127.0.0.1', port: server.ports[mode]! },
        loss,
        seed: seed + i,
      }),
    ),
  );
  const [echoRelay, h3Relay] = relays as [(typeof relays)[0], (typeof relays)[0]];
  const r: SoakResult = {
    seconds: 0,
    clients: nClients,
    loss,
    seed,
    connections: 0,
    resumed: 0,
    earlyData: 0,
    earlyAccepted: 0,
    keyUpdates: 0,
    exchanges: { h3: 0, echo: 0 },
    bytes: { up: 0, down: 0 },
    failures: 0,
    firstFailures: [],
    relay: { up: 0, upDropped: 0, down: 0, downDropped: 0 },
    rss: { baseline: 0, peak: 0, after: 0, margin: RSS_MARGIN },
    sessionsAfter: -1,
    crashed: false,
    ok: false,
  };
  const fail = (what: string) => {
    r.failures++;
    if (r.firstFailures.length < 10) r.firstFailures.push(what);
  };
  const common = { ca: server.cert, servername: 'localhost', qlog: false, keylog: false };

  /** One HTTP/3 exchange: a random upload, a random download, both checked. */
  const h3Exchange = async (c: Awaited<ReturnType<typeof connectHttp3>>, rnd: () => number) => {
    const up = patternBytes(Math.floor(rnd() * 2 ** 31), size(rnd, 256 << 10));
    const down = size(rnd, 1 << 20);
    const s = Math.floor(rnd() * 2 ** 31);
    const res = await c.request('/exchange', {
      method: 'POST',
      body: up,
      headers: { 'x-download': down, 'x-seed': s },
    });
    const got = Buffer.from(await res.bytes());
    if (res.status !== 200) throw new Error(`HTTP status ${res.status}`);
    if (res.headers['x-upload-sha256'] !== sha256(up)) throw new Error('upload SHA-256 differs');
    if (sha256(got) !== sha256(patternBytes(s, down))) throw new Error('download SHA-256 differs');
    r.exchanges.h3++;
    r.bytes.up += up.length;
    r.bytes.down += got.length;
  };

  /** One raw QUIC stream: random bytes echoed back, checked. */
  const echoExchange = async (session: QuicSession, rnd: () => number) => {
    const up = patternBytes(Math.floor(rnd() * 2 ** 31), size(rnd, 512 << 10));
    const st = await session.createBidirectionalStream();
    st.on('error', () => {});
    st.end(up);
    const got = await readAll(st);
    if (sha256(got) !== sha256(up)) throw new Error('echo SHA-256 differs');
    r.exchanges.echo++;
    r.bytes.up += up.length;
    r.bytes.down += got.length;
  };

  const usedTickets = new WeakSet<SessionTicket>();

  /** Starts a key update; false while the handshake is not yet confirmed (the session says
   * so with a RangeError) or the previous update is not yet acknowledged. */
  const keyUpdate = (session: QuicSession): boolean => {
    try {
      session.updateKey();
    } catch (e) {
      if (e instanceof RangeError) return false;
      throw e;
    }
    r.keyUpdates++;
    return true;
  };

  /** One connection of one client: 1-5 exchanges, maybe a key update, a graceful close. */
  const connection = async (
    endpoint: QuicEndpoint,
    rnd: () => number,
    tickets: { h3?: SessionTicket; echo?: SessionTicket },
  ) => {
    const h3 = rnd() < 0.5;
    const kind = h3 ? 'h3' : 'echo';
    const ticket = rnd() < 0.33 ? tickets[kind] : undefined;
    // A ticket is single-use for 0-RTT (RFC 8446 §8): a reused one has its early data refused.
    const reused = ticket !== undefined && usedTickets.has(ticket);
    if (ticket) usedTickets.add(ticket);
    const early = ticket !== undefined && rnd() < 0.7;
    const opts = {
      ...common,
      endpoint,
      session: ticket,
      earlyData: early,
    };
    const port = h3 ? h3Relay.port : echoRelay.port;
    const n = 1 + Math.floor(rnd() * 5);
    // RFC 9001 §6: a key update after an exchange, once the handshake is confirmed.
    let wantUpdate = rnd() < 0.3;
    r.connections++;
    if (ticket) r.resumed++;
    if (early) r.earlyData++;
    let session: QuicSession | undefined;
    const started = performance.now();
    try {
      if (h3) {
        const c = await connectHttp3(`127.0.0.1:${port}`, opts);
        session = c.session;
        session.on('ticket', (t: SessionTicket) => (tickets.h3 = t));
        for (let i = 0; i < n; i++) {
          await h3Exchange(c, rnd);
          if (wantUpdate) wantUpdate = !keyUpdate(session);
        }
        if (session.handshake?.earlyDataAccepted) r.earlyAccepted++;
        await c.close();
      } else {
        session = await connect(`127.0.0.1:${port}`, { ...opts, alpn: 'echo' });
        session.on('ticket', (t: SessionTicket) => (tickets.echo = t));
        for (let i = 0; i < n; i++) {
          await echoExchange(session, rnd);
          if (wantUpdate) wantUpdate = !keyUpdate(session);
        }
        if (session.handshake?.earlyDataAccepted) r.earlyAccepted++;
        await session.close();
      }
    } catch (e) {
      const how = ticket
        ? (early ? ' 0-RTT' : ' resumed') + (reused ? ' (ticket reused)' : '')
        : '';
      const t = ((performance.now() - started) / 1000).toFixed(1);
      fail(`${kind}${how} after ${t} s: ${(e as Error).message}`);
      session?.destroy();
    }
  };

  /** A client: one socket (QuicEndpoint) for all its connections, until `until`. */
  const client = async (i: number, until: number, rounds?: number) => {
    // SOAK_QLOG=dir: a qlog file per client connection, to study a failure.
    const endpoint = await QuicEndpoint.create({
      host: '127.0.0.1',
      qlogDir: process.env.SOAK_QLOG,
    });
    const rnd = prng(seed * 1000 + i);
    const tickets = {};
    try {
      for (let k = 0; rounds === undefined ? performance.now() < until : k < rounds; k++) {
        await connection(endpoint, rnd, tickets);
        if (server.exit) break;
      }
    } finally {
      await endpoint.close();
    }
  };

  // Warm-up: a few connections of every kind, then the baseline.
  await Promise.all([0, 1, 2, 3].map((i) => client(1000 + i, 0, 4)));
  await sleep(1000);
  r.rss.baseline = (await server.stats(true)).rss;

  const until = performance.now() + o.minutes * 60_000;
  let peak = 0;
  const sampler = setInterval(() => {
    server.stats().then(
      (s) => (peak = Math.max(peak, s.peakRss)),
      () => {},
    );
  }, 2000);
  await Promise.all(Array.from({ length: nClients }, (_, i) => client(i, until)));
  clearInterval(sampler);

  // The clients are gone: the server's sessions drain; then its memory after a GC.
  if (!server.exit) {
    for (let i = 0; i < 60; i++) {
      const s = await server.stats(true);
      r.rss.after = s.rss;
      r.rss.peak = Math.max(peak, s.peakRss);
      r.sessionsAfter = s.sessions;
      if (s.sessions === 0) break;
      await sleep(500);
    }
  }
  r.crashed = server.exit !== undefined;
  const counts = [echoRelay.counts, h3Relay.counts];
  r.relay = {
    up: counts.reduce((n, c) => n + c.up.seen, 0),
    upDropped: counts.reduce((n, c) => n + c.up.dropped, 0),
    down: counts.reduce((n, c) => n + c.down.seen, 0),
    downDropped: counts.reduce((n, c) => n + c.down.dropped, 0),
  };
  for (const relay of relays) await relay.close();
  const stderr = server.stderr();
  await server.stop();
  if (r.crashed) fail(`server exited:\n${stderr.slice(-4000)}`);
  r.seconds = Math.round((performance.now() - t0) / 100) / 10;
  r.ok =
    !r.crashed &&
    r.failures === 0 &&
    r.sessionsAfter === 0 &&
    r.rss.after <= r.rss.baseline + RSS_MARGIN;
  return r;
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

function printTable(r: SoakResult): void {
  const rows: Array<[string, string]> = [
    ['duration', `${r.seconds} s, ${r.clients} clients, loss ${r.loss}, seed ${r.seed}`],
    [
      'connections',
      `${r.connections} (${r.resumed} resumed, ${r.earlyData} sent 0-RTT, ${r.earlyAccepted} accepted)`,
    ],
    ['key updates', String(r.keyUpdates)],
    ['exchanges', `HTTP/3 ${r.exchanges.h3}, QUIC echo streams ${r.exchanges.echo}`],
    ['bytes checked', `up ${mb(r.bytes.up)}, down ${mb(r.bytes.down)}`],
    [
      'relay datagrams (dropped)',
      `up ${r.relay.up} (${r.relay.upDropped}), down ${r.relay.down} (${r.relay.downDropped})`,
    ],
    ['failures', String(r.failures)],
    [
      'server RSS baseline / peak / after',
      `${mb(r.rss.baseline)} / ${mb(r.rss.peak)} / ${mb(r.rss.after)} (margin ${mb(r.rss.margin)})`,
    ],
    ['server sessions after', String(r.sessionsAfter)],
    ['result', r.ok ? 'ok' : 'FAILED'],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(36)} ${v}`);
  for (const f of r.firstFailures) console.log(`failure: ${f}`);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '1' },
      clients: { type: 'string', default: '20' },
      loss: { type: 'string', default: '0.02' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
    },
  });
  const minutes = Number(values.minutes);
  const clients = Number(values.clients);
  const loss = Number(values.loss);
  const seed = Number(values.seed);
  if (!(minutes > 0)) throw new RangeError('--minutes must be > 0');
  if (!Number.isInteger(clients) || clients < 1) throw new RangeError('--clients must be >= 1');
  if (!(loss >= 0 && loss < 1)) throw new RangeError('--loss must be in 0..1');
  if (!Number.isInteger(seed)) throw new RangeError('--seed must be an integer');
  const r = await soak({ minutes, clients, loss, seed });
  if (!values.json) printTable(r);
  console.log(JSON.stringify(r));
  process.exitCode = r.ok ? 0 : 1;
}
