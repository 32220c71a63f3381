// Live-server fuzzer: a real zquic server in a child process (bench/server-child.ts) gets N UDP
// datagrams that are mutations of real packets with valid protection, so they reach its frame,
// TLS and HTTP/3 parsers. Real client handshakes (key log on) give genuine datagrams and both
// sides' secrets (bench/fuzz-flow.ts); each datagram is then one of
//  - frames:   1-RTT packets of mutated real frames, real stream data replayed on fresh streams
//              with mutated bytes, random frames, sealed with the client's 1-RTT key;
//  - spaces:   Initial and Handshake packets with mutated frames on the live connection,
//              coalesced with 1-RTT packets;
//  - hello:    a new connection's Initials carrying the real ClientHello, mutated;
//  - bytes:    a real or freshly sealed datagram bit-flipped, truncated, spliced, given another
//              DCID, or coalesced with others.
// At the end a fresh legitimate client must complete a handshake and an exchange, the server
// must have logged no internal error (CONNECTION_CLOSE with INTERNAL_ERROR 0x01) and must
// still be running. Seeded: the same seed sends the same mutations (the server's answers, and
// so which connections are closed when, depend on timing).
//
//   npm run fuzz:server -- --datagrams 100000 [--seed 1] [--mode echo|h3|www] [--json]
//
// Prints a table and one JSON line, then "1 passed, 0 failed" (or "0 passed, 1 failed"); the
// exit status is non-zero on a crash, an internal error or a dead server.
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import type { Frame } from '../lib/quic/frames.js';
import { prng } from '../scripts/interop/relay.js';
import { frame } from '../test/support/wire-arbitraries.js';
import { Flow, type ForgedPacket } from './fuzz-flow.js';
import { Hellos } from './fuzz-hello.js';
import { Mutator } from './fuzz-mutate.js';
import { SERVE_MODES, type ServeMode, type ServerStats } from './server-child.js';
import { startServerProcess } from './server-process.js';

export interface FuzzServerOptions {
  datagrams: number;
  seed?: number;
  mode?: ServeMode;
  /** Connections fuzzed at once (default 4). */
  flows?: number;
  /** Datagrams per connection before it is replaced (default 1500). */
  perFlow?: number;
}

export interface FuzzServerResult {
  mode: ServeMode;
  seed: number;
  datagrams: number;
  byKind: Record<string, number>;
  /** Initials of new connections sent again with the token of the server's Retry. */
  helloRetries: number;
  /** Real connections fuzzed (handshakes run to capture keys). */
  connections: number;
  /** Closes the server sent on fuzzed connections, by code. */
  closes: Record<string, number>;
  crashed: boolean;
  crash?: string;
  internalErrors: number;
  internalStacks: string[];
  alive: boolean;
  aliveError?: string;
  rss: { start: number; peak: number; after: number };
  sessionsAfter: number;
  /** The server endpoint's counters at the end (accepted, dropped, refusals, ...). */
  endpoint: Record<string, number>;
  seconds: number;
  ok: boolean;
}

const NO_ERROR_CLOSE: Frame = {
  type: 'connection_close',
  application: false,
  errorCode: 0,
  frameType: 0,
  reason: new Uint8Array(0),
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function fuzzServer(o: FuzzServerOptions): Promise<FuzzServerResult> {
  const seed = o.seed ?? 1;
  const mode = o.mode ?? 'echo';
  const nFlows = o.flows ?? 4;
  const perFlow = o.perFlow ?? 1500;
  const m = new Mutator(prng(seed));
  const pool: Frame[] = fc.sample(frame(), { seed, numRuns: 2000 });
  const t0 = performance.now();
  const server = await startServerProcess([mode]);
  const port = server.ports[mode]!;
  const dir = mkdtempSync(join(tmpdir(), 'zquic-fuzz-'));
  const keylogFile = join(dir, 'keylog.txt');
  writeFileSync(keylogFile, '');
  let keylogOffset = 0;
  const closes: Record<string, number> = {};
  const byKind: Record<string, number> = { frames: 0, spaces: 0, hello: 0, bytes: 0 };
  let connections = 0;
  const start = await server.stats(true);
  let last: ServerStats = start;

  const openFlow = async (): Promise<Flow> => {
    let err: unknown;
    // A handshake may be refused while many mutated ClientHellos are half-open (per-address
    // admission limit): try again after they expire.
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        const r = await Flow.open(
          {
            mode,
            serverPort: port,
            ca: server.cert,
            keylogFile,
            mutator: m,
            onClose: (c) => (closes[c] = (closes[c] ?? 0) + 1),
          },
          keylogOffset,
        );
        keylogOffset = r.offset;
        connections++;
        return r.flow;
      } catch (e) {
        err = e;
        if (server.exit) break;
        await sleep(500);
      }
    }
    throw err;
  };
  /** Ends a flow: a forged CONNECTION_CLOSE (NO_ERROR) lets the server free it at once. */
  const retire = (f: Flow) => {
    if (!f.closed)
      for (const dcid of f.serverCids)
        f.send(f.forge([{ type: '1rtt', dcid, frames: [NO_ERROR_CLOSE] }]));
    f.destroy();
  };

  /** 1-3 frames: mutated real ones, real stream data on a fresh stream, random ones. */
  const frames = (f: Flow): Frame[] => {
    const out: Frame[] = [];
    for (let i = 1 + m.int(3); i > 0; i--) {
      const r = m.random();
      const real = f.realFrames.length ? m.pick(f.realFrames) : m.pick(pool);
      if (r < 0.35) out.push(m.mutateFrame(real));
      else if (r < 0.6 && real.type === 'stream') {
        // The real request or data again on a new stream of the same kind, bytes mutated:
        // reaches the HTTP/3 frame and QPACK decoders (or the echo), not just the stream layer.
        const uni = (real.streamId & 2) !== 0;
        const streamId = uni ? (f.nextUni += 4) : (f.nextBidi += 4);
        const data = m.chance(0.7) ? m.mutateBuffer(real.data) : real.data;
        out.push({ ...real, streamId, offset: 0, data, fin: m.chance(0.7) });
      } else if (r < 0.9) out.push(m.pick(pool));
      else out.push(m.mutateFrame(m.pick(pool)));
    }
    return out;
  };

  const hellos = await Hellos.open(port, m, (c) => (closes[c] = (closes[c] ?? 0) + 1));

  /** Sends one datagram, or a new connection's Initials, on `f`: returns the kind and count. */
  const next = (f: Flow, room: number): [kind: string, count: number] => {
    const r = m.random();
    let d: Buffer;
    let kind: string;
    if (r < 0.05 && f.helloFrames.length && f.helloFrames.length <= room)
      return ['hello', hellos.send(f.helloFrames, f.version)];
    if (r < 0.45) {
      kind = 'frames';
      d = f.forge([{ type: '1rtt', frames: frames(f) }]);
    } else if (r < 0.53) {
      // Initial or Handshake packets on the live connection (whose keys for them the server
      // has discarded: RFC 9001 §4.9), alone or coalesced with a 1-RTT packet.
      kind = 'spaces';
      const space = m.chance(0.5) ? 'initial' : 'handshake';
      const fr = m.mutateFrame(m.pick(f.helloFrames.length ? f.helloFrames : pool));
      const packets: ForgedPacket[] = [{ type: space, frames: [fr] }];
      if (m.chance(0.5)) packets.push({ type: '1rtt', frames: frames(f) });
      d = f.forge(packets);
    } else {
      kind = 'bytes';
      const base = m.chance(0.5)
        ? m.pick(f.real)
        : f.forge([{ type: '1rtt', frames: m.chance(0.5) ? frames(f) : [m.pick(f.realFrames)] }]);
      const others = [...f.real, f.forge([{ type: '1rtt', frames: frames(f) }])];
      d = m.mutateDatagram(base, others, f.serverCid.length);
    }
    f.send(d);
    return [kind, 1];
  };

  let sent = 0;
  let crash: string | undefined;
  const flows: Flow[] = [];
  try {
    for (let step = 1; sent < o.datagrams && !server.exit; step++) {
      while (flows.length < nFlows) flows.push(await openFlow());
      const i = m.int(flows.length);
      const f = flows[i]!;
      const [kind, count] = next(f, o.datagrams - sent);
      sent += count;
      byKind[kind]! += count;
      if (f.sent >= perFlow || (f.closed && f.sent % 64 === 0)) {
        retire(f);
        flows.splice(i, 1);
      }
      // Let the server keep up (its answer comes after the datagrams queued before it).
      if (step % 256 === 0) last = await server.stats();
      else if (step % 32 === 0) await new Promise((r) => setImmediate(r));
    }
  } catch (e) {
    if (!server.exit) crash = `fuzzer: ${(e as Error).stack ?? e}`;
  }
  for (const f of flows.splice(0)) retire(f);
  hellos.close();

  // A fresh legitimate client (after the half-open mutated handshakes expired).
  let alive = false;
  let aliveError: string | undefined;
  if (!server.exit) {
    await sleep(3500);
    try {
      retire(await openFlow());
      alive = true;
    } catch (e) {
      aliveError = (e as Error).message;
    }
  }
  let sessionsAfter = -1;
  let after = last;
  if (!server.exit) {
    // The server's connections drain (closing, draining, idle half-open): wait for them.
    // (35 s: a connection the fuzzer left open ends at the 30 s idle timeout.)
    for (let i = 0; i < 70; i++) {
      after = await server.stats(true);
      if (after.sessions === 0) break;
      await sleep(500);
    }
    sessionsAfter = after.sessions;
  }
  if (server.exit) {
    const x = server.exit;
    crash ??= `server exited (code ${x.code}, signal ${x.signal}):\n${server.stderr().slice(-4000)}`;
  }
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
  const result: FuzzServerResult = {
    mode,
    seed,
    datagrams: sent,
    byKind,
    helloRetries: hellos.retried,
    connections,
    closes,
    crashed: crash !== undefined,
    crash,
    internalErrors: after.internalErrors,
    internalStacks: after.internalStacks,
    alive,
    aliveError,
    rss: { start: start.rss, peak: after.peakRss, after: after.rss },
    sessionsAfter,
    endpoint: after.endpoint,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    ok: false,
  };
  result.ok = !result.crashed && result.internalErrors === 0 && alive;
  return result;
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

function printTable(r: FuzzServerResult): void {
  const rows: Array<[string, string]> = [
    ['mode / seed', `${r.mode} / ${r.seed}`],
    ['datagrams sent', `${r.datagrams} in ${r.seconds} s`],
    [
      '  by kind',
      Object.entries(r.byKind)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ],
    ['hello Initials resent after Retry', String(r.helloRetries)],
    ['connections fuzzed', String(r.connections)],
    [
      'server closes seen',
      Object.entries(r.closes)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ') || '-',
    ],
    ['crashes', r.crashed ? '1' : '0'],
    ['internal errors', String(r.internalErrors)],
    ['alive at the end', r.alive ? 'yes (handshake + exchange)' : `NO: ${r.aliveError ?? ''}`],
    [
      'server RSS start / peak / after',
      `${mb(r.rss.start)} / ${mb(r.rss.peak)} / ${mb(r.rss.after)}`,
    ],
    ['server sessions after', String(r.sessionsAfter)],
    [
      'server endpoint counters',
      Object.entries(r.endpoint)
        .filter(([, v]) => v > 0)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(32)} ${v}`);
  if (r.crash) console.log(`\ncrash:\n${r.crash}`);
  for (const s of r.internalStacks) console.log(`\ninternal error:\n${s}`);
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const { values } = parseArgs({
    options: {
      datagrams: { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      mode: { type: 'string', default: 'echo' },
      json: { type: 'boolean', default: false },
    },
  });
  const datagrams = Number(values.datagrams);
  const seed = Number(values.seed);
  if (!Number.isInteger(datagrams) || datagrams < 1)
    throw new RangeError('--datagrams must be >= 1');
  if (!Number.isInteger(seed)) throw new RangeError('--seed must be an integer');
  if (!SERVE_MODES.includes(values.mode as ServeMode))
    throw new RangeError(`--mode must be one of ${SERVE_MODES.join('|')}`);
  const r = await fuzzServer({ datagrams, seed, mode: values.mode as ServeMode });
  if (!values.json) printTable(r);
  console.log(JSON.stringify(r));
  console.log(r.ok ? '1 passed, 0 failed' : '0 passed, 1 failed');
  process.exitCode = r.ok ? 0 : 1;
}
