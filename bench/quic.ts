// QUIC over loopback UDP through the public API, client and server in one process:
//  - full handshake (connect() .. session.opened on the client) median ms, X25519 vs
//    X25519MLKEM768, measured alternately in the same run (ratio);
//  - single-connection bulk goodput (one stream, client -> server) in Mbit/s and CPU seconds per
//    GB (process CPU: both ends of the connection are in this process);
//  - memory per idle connection with N connections open (heapUsed + external after GC, divided
//    by N; external includes Buffers and ArrayBuffers): both sides in this process (one client
//    + server pair), then each side on its own (the server sides here, the client sides in a
//    child process, which makes one connection before it starts counting, so that code and
//    memory loaded once per process are not counted per connection).
// Run: `npm run bench:quic [-- --json] [-- --handshakes=60] [-- --mb=100] [-- --conns=10000]`
// (node --expose-gc makes the memory figure exact; without it the figure includes garbage).
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { QuicEndpoint } from '../lib/net/endpoint.js';
import { connect, listen, selfSignedCertificate, type QuicSession } from '../lib/index.js';

export interface QuicFigure {
  what: string;
  value: number;
  unit: string;
  detail?: Record<string, unknown>;
}

function arg(name: string, dflt: number): number {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : dflt;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function runQuicBench(
  opts: { handshakes?: number; mb?: number; conns?: number } = {},
  onFigure: (f: QuicFigure) => void = () => {},
): Promise<QuicFigure[]> {
  const figures: QuicFigure[] = [];
  const emit = (f: QuicFigure) => {
    figures.push(f);
    onFigure(f);
  };
  const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
  let received = 0;
  const server = await listen(
    (s) => {
      s.closed.catch(() => {});
      s.onstream = (st) => {
        st.on('data', (c: Buffer) => (received += c.length));
        st.on('error', () => {});
      };
    },
    {
      certs: cert,
      keys: key,
      alpn: 'bench',
      host: '127.0.0.1',
      maxConnections: 20_000,
      retry: false,
      // Idle connections must outlive section 3 however loaded the machine is.
      transportParams: { maxIdleTimeout: 600_000 },
    },
  );
  const target = `127.0.0.1:${server.address.port}`;
  const client = await QuicEndpoint.create({ host: '127.0.0.1' });
  const base = { alpn: 'bench', ca: cert, servername: 'localhost', endpoint: client } as const;

  // 1. Handshakes, alternating groups so both see the same machine load.
  const n = opts.handshakes ?? 60;
  const times: Record<string, number[]> = { X25519: [], X25519MLKEM768: [] };
  for (let i = 0; i < n + 4; i++) {
    for (const group of ['X25519', 'X25519MLKEM768'] as const) {
      const t0 = performance.now();
      const s = await connect(target, { ...base, groups: [group] });
      await s.opened;
      const ms = performance.now() - t0;
      if (i >= 4) times[group]!.push(ms); // 4 warm-up rounds
      await s.close();
    }
  }
  const x = median(times.X25519!);
  const pq = median(times.X25519MLKEM768!);
  emit({ what: 'handshake X25519', value: x, unit: 'ms (median)', detail: { runs: n } });
  emit({
    what: 'handshake X25519MLKEM768',
    value: pq,
    unit: 'ms (median)',
    detail: { runs: n, ratioToX25519: Math.round((pq / x) * 100) / 100 },
  });

  // 2. Bulk transfer on one connection.
  const bytes = (opts.mb ?? 100) * 1e6;
  {
    const s = await connect(target, base);
    await s.opened;
    const st = await s.createUnidirectionalStream();
    const block = Buffer.alloc(256 * 1024, 0x5a);
    received = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let sent = 0; sent < bytes; sent += block.length)
      if (!st.write(block)) await new Promise((r) => st.once('drain', r));
    st.end();
    while (received < bytes) await new Promise((r) => setTimeout(r, 1));
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const stats = s.stats;
    await s.close();
    emit({
      what: 'bulk goodput (1 connection, 1 stream)',
      value: (received * 8) / secs / 1e6,
      unit: 'Mbit/s',
      detail: {
        bytes: received,
        seconds: secs,
        lost: stats.packetsLost,
        srttMs: stats.smoothedRtt,
      },
    });
    emit({
      what: 'CPU per GB (both ends)',
      value: (cpu.user + cpu.system) / 1e6 / (received / 1e9),
      unit: 's/GB',
    });
  }

  // 3. Memory per idle connection. (a) Both sides in this process: the pair figure.
  const conns = opts.conns ?? 10_000;
  const gcExposed = gcFn() !== undefined;
  {
    await new Promise((r) => setTimeout(r, 200));
    const before = heapAndExternal();
    const sessions = await openIdle(client, target, cert, conns);
    checkServerSessions(server.sessionCount, conns);
    const after = heapAndExternal();
    emit({
      what: `memory per idle connection (${conns} open, client + server side)`,
      value: (after - before) / conns / 1024,
      unit: 'KiB',
      detail: { gcExposed, serverSessions: conns },
    });
    for (const s of sessions) s.destroy();
    // The server's sessions end after their closing period.
    for (let waited = 0; server.sessionCount > 0 && waited < 60_000; waited += 50)
      await new Promise((r) => setTimeout(r, 50));
  }
  // (b) Each side on its own: the server sides here, the client sides in a child process.
  {
    await new Promise((r) => setTimeout(r, 200));
    const before = heapAndExternal();
    const child = fork(fileURLToPath(import.meta.url), ['--idle-clients'], {
      execArgv: ['--expose-gc', '--import', 'tsx'],
    });
    const reply = new Promise<IdleClientsReply>((resolve, reject) => {
      child.once('message', (m) => resolve(m as IdleClientsReply));
      child.once('exit', (code) => reject(new Error(`idle clients exited with ${code}`)));
    });
    child.send({ target, ca: cert, conns } satisfies IdleClientsRequest);
    const clients = await reply;
    checkServerSessions(server.sessionCount, conns);
    const serverSide = (heapAndExternal() - before) / conns / 1024;
    child.send('done');
    await new Promise((r) => child.once('exit', r));
    emit({
      what: `memory per idle connection (${conns} open, server side)`,
      value: serverSide,
      unit: 'KiB',
      detail: { gcExposed },
    });
    emit({
      what: `memory per idle connection (${conns} open, client side, own process)`,
      value: clients.bytes / conns / 1024,
      unit: 'KiB',
      detail: { gcExposed: clients.gcExposed },
    });
  }
  client.destroy();
  server.destroy();
  return figures;
}

const gcFn = () => (globalThis as { gc?: () => void }).gc;

/** heapUsed + external after a full GC (external already includes arrayBuffers). */
function heapAndExternal(): number {
  gcFn()?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

interface IdleClientsRequest {
  target: string;
  ca: string;
  conns: number;
}
interface IdleClientsReply {
  bytes: number;
  gcExposed: boolean;
}

function checkServerSessions(open: number, expected: number): void {
  if (open !== expected) throw new Error(`${open} server sessions open, ${expected} expected`);
}

/** Opens `conns` idle client connections (32 handshakes at a time) and lets them settle. */
async function openIdle(
  endpoint: QuicEndpoint,
  target: string,
  ca: string,
  conns: number,
): Promise<QuicSession[]> {
  const sessions: QuicSession[] = [];
  const options = {
    alpn: 'bench',
    ca,
    servername: 'localhost',
    endpoint,
    transportParams: { maxIdleTimeout: 600_000 },
    handshakeTimeout: 60_000,
  };
  let next = 0;
  const worker = async () => {
    while (next < conns) {
      next++;
      const s = await connect(target, options);
      await s.opened;
      sessions.push(s);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await new Promise((r) => setTimeout(r, 500)); // let handshakes settle (acks, tickets)
  return sessions;
}

/** The child process of section 3 (b): opens `conns` idle client connections, reports what
 * they take, and waits for 'done'. */
async function idleClients(req: IdleClientsRequest): Promise<void> {
  const endpoint = await QuicEndpoint.create({ host: '127.0.0.1' });
  // One connection first, so that what every process loads once (the TLS and ML-KEM code, the
  // KEM backend's memory) is not counted per connection.
  for (const s of await openIdle(endpoint, req.target, req.ca, 1)) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
  const before = heapAndExternal();
  const sessions = await openIdle(endpoint, req.target, req.ca, req.conns);
  const bytes = heapAndExternal() - before;
  process.send!({ bytes, gcExposed: gcFn() !== undefined } satisfies IdleClientsReply);
  await new Promise((r) => process.once('message', r));
  for (const s of sessions) s.destroy();
  endpoint.destroy();
  process.disconnect();
}

export function table(figures: QuicFigure[]): string {
  const w = Math.max(...figures.map((f) => f.what.length));
  return figures
    .map((f) => {
      const extra =
        f.detail?.ratioToX25519 !== undefined ? `  (${f.detail.ratioToX25519}x X25519)` : '';
      return `${f.what.padEnd(w)}  ${f.value.toFixed(2).padStart(9)} ${f.unit}${extra}`;
    })
    .join('\n');
}

if (process.argv.includes('--idle-clients')) {
  process.once('message', (req) => void idleClients(req as IdleClientsRequest));
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const json = process.argv.includes('--json');
  runQuicBench(
    { handshakes: arg('handshakes', 60), mb: arg('mb', 100), conns: arg('conns', 10_000) },
    (f) => json && console.log(JSON.stringify({ bench: 'quic', ...f })),
  ).then(
    (figures) => {
      if (!json) console.log(table(figures));
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
