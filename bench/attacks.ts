// Hostile peers against a live server process (bench/server-child.ts): for each attack, the
// server's RSS while it runs (after a full GC) against its baseline, per attacker connection,
// and the goodput of a legitimate client during the attack against its goodput before.
//   - unread downloads: connections that GET 1 MB files and never read the responses;
//   - unread echoes: connections that upload on many streams and never read the echo;
//   - unfinished HEADERS: HTTP/3 request streams whose HEADERS frame never ends;
//   - garbage Initials: 8,000 per second of 1,200-byte datagrams with a valid Initial header
//     that never decrypt (drawn from a pool made up front: the attacker is not the load).
// The server must hold no more than what flow control and the documented limits grant each
// connection (README "Limits and abuse"), and keep serving. The attackers come in two waves
// of `--conns` each: what one attacker costs is the growth of RSS (and of Buffer memory)
// from the first wave to the second, divided by the attackers of the second, so that what
// the process reserves once (V8's heap growing under load, the allocator's arenas) is not
// counted per attacker; the growth from the baseline over all attackers is printed too.
// Each line gives the bound per attacker from the library's figures (boundPerAttacker()),
// and the RSS and Buffer memory after the attackers left, before and after a full GC (the
// heap returns; RSS above the baseline is what the allocator kept).
// Run: `npm run bench:attacks [-- --conns 10] [--attack 'unread echoes'] [--json]`.
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { parseArgs } from 'node:util';

import { connect, connectHttp3, type QuicSession } from '../lib/index.js';
import { STREAM_HIGH_WATER_MARK } from '../lib/net/stream.js';
import { DEFAULT_BOUNDS, DEFAULT_TRANSPORT } from '../lib/quic/config.js';
import { MAX_COALESCE } from '../lib/quic/recv-buffer.js';
import { fakeInitial } from '../test/support/forge.js';
import type { ServerStats } from './server-child.js';
import { startServerProcess, type ServerProcess } from './server-process.js';

const MB = 1 << 20;
const LEGIT_BYTES = 8 * MB;
/** The data every connection may hold whatever the pool: its initial receive window and its
 * guaranteed send share (default options). */
const GUARANTEED = DEFAULT_TRANSPORT.initialMaxData! + DEFAULT_BOUNDS.guaranteedSendBuffer;
/** Memory around the data, per open stream: the QuicStream's Node buffers, each way; and
 * the blocks received data is copied into (lib/quic/recv-buffer.ts), one being read and one
 * being filled, each up to MAX_COALESCE and partly empty. */
const PER_STREAM = 2 * STREAM_HIGH_WATER_MARK + 2 * MAX_COALESCE;

/**
 * What the library bounds an attacker connection's memory to: GUARANTEED, its share of what
 * the endpoint's window pool lent (the bytes it may borrow beyond GUARANTEED), and PER_STREAM
 * for each of its streams. Data kept by reference pins no more than this in the echo: the send
 * buffer keeps a view only if it is at least half of its buffer (lib/quic/send-buffer.ts), and
 * what the echo writes are views of the receive blocks counted here.
 */
function boundPerAttacker(streams: number, poolShare: number): number {
  return GUARANTEED + poolShare + streams * PER_STREAM;
}

interface Figure {
  attack: string;
  attackers: number;
  baselineRssMB: number;
  rssMB: number;
  /** RSS growth per attacker of the second wave (see the header). */
  perConnectionMB: number;
  /** RSS growth from the baseline over all attackers. */
  perConnectionAllMB: number;
  /** Buffer memory growth per attacker of the second wave. */
  buffersPerConnectionMB: number;
  /** The library's bound per attacker (boundPerAttacker()). */
  boundPerConnectionMB: number;
  poolLentMB: number;
  poolRefused: number;
  legitMbps: number;
  legitRatio: number;
  afterRssMB: number;
  afterGcRssMB: number;
  heapMB: number;
  afterHeapMB: number;
  heapTotalMB: number;
  afterHeapTotalMB: number;
  buffersMB: number;
  afterBuffersMB: number;
  internalErrors: number;
  /** Server sessions still open after the attackers left, and what the pool still lends. */
  sessionsAfter: number;
  poolAfterMB: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The server's figures after a full GC, once V8 has swept the ArrayBuffers it found dead:
 * it frees their memory concurrently, after the collection, so Buffer memory read at once
 * still counts them (tens of MB after an attack). */
async function collected(srv: ServerProcess): Promise<ServerStats> {
  await srv.stats(true);
  await sleep(300);
  return srv.stats(true);
}

async function legitGoodput(srv: ServerProcess): Promise<number> {
  const s = await connect(`127.0.0.1:${srv.ports.echo}`, {
    alpn: 'echo',
    ca: srv.cert,
    servername: 'localhost',
    qlog: false,
    keylog: false,
  });
  await s.opened;
  const t0 = performance.now();
  const st = await s.createBidirectionalStream();
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    st.on('data', (c: Buffer) => (got += c.length));
    st.on('end', resolve);
    st.on('error', reject);
  });
  st.end(Buffer.alloc(LEGIT_BYTES, 7));
  await done;
  const seconds = (performance.now() - t0) / 1000;
  await s.close();
  if (got !== LEGIT_BYTES) throw new Error(`legit echo: ${got} of ${LEGIT_BYTES} bytes`);
  return (2 * LEGIT_BYTES * 8) / seconds / 1e6;
}

/** Each attack opens `n` connections doing harm (`streams` each) and returns them (closed
 * after measuring). */
interface Attack {
  streams: number;
  run(srv: ServerProcess, n: number): Promise<QuicSession[]>;
}

const common = (srv: ServerProcess) => ({
  ca: srv.cert,
  servername: 'localhost',
  qlog: false,
  keylog: false,
});

const attacks: Record<string, Attack> = {
  'unread downloads': {
    streams: 50,
    run: async (srv, n) => {
      const out: QuicSession[] = [];
      for (let i = 0; i < n; i++) {
        const c = await connectHttp3(`127.0.0.1:${srv.ports.www}`, common(srv));
        out.push(c.session);
        // 50 requests of 1 MB whose bodies are never read.
        // The requests fail when the attacker's session is closed: expected, not reported.
        for (let k = 0; k < 50; k++) void c.request('/large.bin').catch(() => {});
      }
      return out;
    },
  },
  'unread echoes': {
    streams: 20,
    run: async (srv, n) => {
      const out: QuicSession[] = [];
      for (let i = 0; i < n; i++) {
        const s = await connect(`127.0.0.1:${srv.ports.echo}`, { ...common(srv), alpn: 'echo' });
        out.push(s);
        for (let k = 0; k < 20; k++) {
          const st = await s.createBidirectionalStream();
          st.on('error', () => {}); // cut short when the attacker closes
          st.pause(); // the echo is never read
          st.write(Buffer.alloc(MB));
        }
      }
      return out;
    },
  },
  'unfinished HEADERS': {
    streams: 50,
    run: async (srv, n) => {
      const out: QuicSession[] = [];
      for (let i = 0; i < n; i++) {
        // Raw QUIC with ALPN h3: request streams whose HEADERS frame (type 0x01) announces
        // 1 MiB and carries 256 KiB of it.
        const s = await connect(`127.0.0.1:${srv.ports.h3}`, { ...common(srv), alpn: 'h3' });
        out.push(s);
        s.on('stream', (st) => st.resume());
        for (let k = 0; k < 50; k++) {
          const st = await s.createBidirectionalStream();
          st.on('error', () => {}); // the server resets it (H3_EXCESSIVE_LOAD) or the attacker closes
          st.resume();
          st.write(
            Buffer.concat([Buffer.from([0x01, 0x80, 0x10, 0x00, 0x00]), randomBytes(256 << 10)]),
          );
        }
      }
      return out;
    },
  },
  'garbage Initials': {
    streams: 0,
    run: async (srv) => {
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      const pool = Array.from({ length: 1024 }, fakeInitial);
      let stop = false;
      const flood = async () => {
        for (let k = 0; !stop; k++) {
          for (let i = 0; i < 80; i++)
            sock.send(pool[(80 * k + i) % pool.length]!, srv.ports.echo!, '127.0.0.1');
          await sleep(10);
        }
        sock.close();
      };
      void flood();
      // A fake session whose close stops the flood.
      return [{ close: async () => void (stop = true) } as unknown as QuicSession];
    },
  },
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      conns: { type: 'string', default: '10' },
      attack: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const n = Number(values.conns);
  // A fresh server for each attack: memory an attack leaves with the allocator would blur the
  // next one's baseline.
  if (values.attack !== undefined && !(values.attack in attacks))
    throw new Error(`--attack must be one of: ${Object.keys(attacks).join(', ')}`);
  for (const [name, attack] of Object.entries(attacks)) {
    if (values.attack !== undefined && name !== values.attack) continue;
    const srv = await startServerProcess(['echo', 'h3', 'www']);
    try {
      await legitGoodput(srv); // warm-up
      const before = await collected(srv);
      const base = await legitGoodput(srv);
      const sessions = await attack.run(srv, n);
      await sleep(1500);
      const wave = await collected(srv);
      sessions.push(...(await attack.run(srv, n)));
      await sleep(1500);
      const during = await collected(srv);
      const legit = await legitGoodput(srv);
      const peak = await collected(srv);
      // An attacker's session closes with an error (its streams are cut short): expected.
      for (const s of sessions) await s.close({ timeout: 1000 }).catch(() => {});
      await sleep(500);
      const afterNoGc = await srv.stats(false);
      const after = await collected(srv);
      const rss = Math.max(during.rss, peak.rss);
      const lent = Math.max(
        during.endpoint.windowPoolInUse ?? 0,
        peak.endpoint.windowPoolInUse ?? 0,
      );
      // The pool share: all it lent during the attack (the legitimate client's share too) over
      // all the attackers.
      const bound = boundPerAttacker(attack.streams, lent / (2 * n));
      const f: Figure = {
        attack: name,
        attackers: 2 * n,
        baselineRssMB: before.rss / MB,
        rssMB: rss / MB,
        perConnectionMB: Math.max(0, during.rss - wave.rss) / MB / n,
        perConnectionAllMB: Math.max(0, rss - before.rss) / MB / (2 * n),
        buffersPerConnectionMB: Math.max(0, during.arrayBuffers - wave.arrayBuffers) / MB / n,
        boundPerConnectionMB: attack.streams > 0 ? bound / MB : 0,
        poolLentMB: lent / MB,
        poolRefused: peak.endpoint.windowPoolRefused ?? 0,
        legitMbps: legit,
        legitRatio: legit / base,
        afterRssMB: afterNoGc.rss / MB,
        afterGcRssMB: after.rss / MB,
        heapMB: Math.max(during.heapUsed, peak.heapUsed) / MB,
        afterHeapMB: after.heapUsed / MB,
        heapTotalMB: Math.max(during.heapTotal, peak.heapTotal) / MB,
        afterHeapTotalMB: after.heapTotal / MB,
        buffersMB: Math.max(during.arrayBuffers, peak.arrayBuffers) / MB,
        afterBuffersMB: after.arrayBuffers / MB,
        internalErrors: after.internalErrors,
        sessionsAfter: after.sessions,
        poolAfterMB: (after.endpoint.windowPoolInUse ?? 0) / MB,
      };
      if (values.json) console.log(JSON.stringify({ bench: 'attacks', ...f }));
      else
        console.log(
          `${name.padEnd(20)} 2 x ${n} attackers: server RSS ${f.baselineRssMB.toFixed(0)} -> ` +
            `${f.rssMB.toFixed(0)} MB, per attacker of the second wave ` +
            `${f.perConnectionMB.toFixed(2)} MB RSS, ${f.buffersPerConnectionMB.toFixed(2)} MB ` +
            `Buffers (${f.perConnectionAllMB.toFixed(2)} MB RSS from the baseline over all) ` +
            `(library bound ${f.boundPerConnectionMB.toFixed(2)} MB: ` +
            `${(GUARANTEED / MB).toFixed(0)} guaranteed + pool share, lent ` +
            `${f.poolLentMB.toFixed(1)} MB in all, ${f.poolRefused} refusals, + per stream); ` +
            `after: RSS ${f.afterRssMB.toFixed(0)} MB, ${f.afterGcRssMB.toFixed(0)} after GC ` +
            `(heap ${f.heapMB.toFixed(0)} -> ${f.afterHeapMB.toFixed(0)} MB of ` +
            `${f.heapTotalMB.toFixed(0)} -> ${f.afterHeapTotalMB.toFixed(0)}, Buffers ` +
            `${f.buffersMB.toFixed(0)} -> ${f.afterBuffersMB.toFixed(0)} MB, ` +
            `${f.sessionsAfter} sessions, pool lends ${f.poolAfterMB.toFixed(1)} MB); legit echo ` +
            `${legit.toFixed(0)} Mbit/s (${(f.legitRatio * 100).toFixed(0)}% of ` +
            `${base.toFixed(0)} before); internal errors ${f.internalErrors}`,
        );
    } finally {
      await srv.stop();
    }
    if (srv.exit && srv.exit.code !== 0)
      throw new Error(`server exited: ${JSON.stringify(srv.exit)}`);
  }
}

await main();
