// Handshakes per second for bench/ngtcp2.ts: many concurrent clients against one server (pinned
// to its own CPU when --pin), each connection a full handshake (no resumption), one GET of a
// 14-byte file and a close. The server's CPU is read from /proc around the measured batch (after
// a warm-up batch), so CPU per handshake is the server's alone, in seconds of one core.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import {
  CLIENT_CPU,
  gtlsHandshakes,
  pinned,
  ROOT,
  SMALL,
  startServer,
  type Impl,
  type Io,
  type Setup,
  type Side,
} from './ngtcp2-procs.js';
import { round } from './ngtcp2-table.js';

/** Clients in flight at once: below the zquic server's 32 handshakes in progress per address
 * (every client is on 127.0.0.1), so its per-address limit does not refuse any. */
export const HANDSHAKE_CONCURRENCY = 16;

export type Group = 'X25519' | 'X25519MLKEM768';
export interface HandshakeCase {
  server: Side;
  client: Side;
  group: Group;
}

export interface HandshakeFigure {
  server: Impl;
  client: Impl;
  serverIo?: Io;
  clientIo?: Io;
  group: Group;
  handshakes: number;
  seconds: number;
  handshakesPerSecond: number;
  /** Server CPU per handshake (ms of one core) and what one server core could do at that cost. */
  serverCpuMsPerHandshake: number;
  handshakesPerServerCoreSecond: number;
  /** The share of its core the server used during the batch (on an idle machine, below 1
   * means the clients set the rate; on a loaded one, other processes on that core do too). */
  serverCoreUse: number;
  handshakesPerSecondRatio?: number;
  serverCpuRatio?: number;
}

/** The zquic load: bench/ngtcp2-handshake-client.ts, started after `warmup` connections. */
async function zquicHandshakes(
  c: HandshakeCase,
  port: number,
  count: number,
  setup: Setup,
  serverCpu: () => number,
): Promise<{ seconds: number; cpu: number }> {
  const [cmd, ...args] = pinned(setup, CLIENT_CPU, [
    process.execPath,
    '--import',
    'tsx',
    join(ROOT, 'bench/ngtcp2-handshake-client.ts'),
    '--port',
    String(port),
    '--path',
    SMALL.path,
    '--ca',
    join(setup.dir, 'cert.pem'),
    '--groups',
    c.group,
    '--count',
    String(count),
    '--warmup',
    String(Math.min(50, count)),
    '--concurrency',
    String(HANDSHAKE_CONCURRENCY),
    ...(c.client.io ? ['--io', c.client.io] : []),
  ]);
  const p = spawn(cmd!, args, { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr += d));
  const exit = new Promise<number | null>((r) => p.once('close', r));
  let s0 = 0;
  let done: { seconds: number; group: string; cpu: number } | undefined;
  for await (const line of createInterface({ input: p.stdout! })) {
    const m = JSON.parse(line) as { event: string; seconds: number; group: string };
    if (m.event === 'warm') {
      s0 = serverCpu();
      p.stdin!.end('go\n');
    } else if (m.event === 'done') done = { ...m, cpu: serverCpu() - s0 };
  }
  const code = await exit;
  if (code !== 0 || !done)
    throw new Error(`zquic handshake client failed (${code}): ${stderr.trim().slice(-300)}`);
  if (done.group !== c.group) throw new Error(`negotiated ${done.group}, not ${c.group}`);
  return done;
}

/** One case: the best of `runs` batches of `count` connections (one server for all). */
export async function measureHandshakes(
  c: HandshakeCase,
  count: number,
  runs: number,
  setup: Setup,
): Promise<HandshakeFigure> {
  const server = await startServer(c.server, setup);
  try {
    let best: HandshakeFigure | undefined;
    for (let i = 0; i < runs; i++) {
      let seconds: number;
      let cpu: number;
      if (c.client.impl === 'zquic') {
        ({ seconds, cpu } = await zquicHandshakes(c, server.port, count, setup, server.cpu));
      } else {
        // ngtcp2's GnuTLS client offers classical groups only: X25519 here.
        await gtlsHandshakes(
          server.port,
          SMALL.path,
          Math.min(50, count),
          HANDSHAKE_CONCURRENCY,
          setup,
        );
        const s0 = server.cpu();
        seconds = await gtlsHandshakes(
          server.port,
          SMALL.path,
          count,
          HANDSHAKE_CONCURRENCY,
          setup,
        );
        cpu = server.cpu() - s0;
      }
      const f: HandshakeFigure = {
        server: c.server.impl,
        client: c.client.impl,
        ...(c.server.io ? { serverIo: c.server.io } : {}),
        ...(c.client.io ? { clientIo: c.client.io } : {}),
        group: c.group,
        handshakes: count,
        seconds: round(seconds, 3),
        handshakesPerSecond: round(count / seconds, 1),
        serverCpuMsPerHandshake: round((cpu * 1000) / count, 3),
        handshakesPerServerCoreSecond: cpu > 0 ? round(count / cpu, 1) : Infinity,
        serverCoreUse: round(cpu / seconds, 2),
      };
      if (!best || f.handshakesPerSecond > best.handshakesPerSecond) best = f;
    }
    return best!;
  } finally {
    await server.stop();
  }
}
