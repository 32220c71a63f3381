// zquic against ngtcp2, same run, over loopback between separate processes. ngtcp2 <-> ngtcp2
// (gtlsserver/gtlsclient: ngtcp2 + nghttp3 over GnuTLS, native C with UDP GSO) is the reference
// every ratio divides by. Three measurements, each for the pairs ngtcp2 <-> ngtcp2, zquic server
// -> ngtcp2 client, ngtcp2 server -> zquic client and zquic <-> zquic:
//   1. one connection downloading --mb MB over HTTP/3 (bench/ngtcp2-transfers.ts);
//   2. --conns connections at once, --mb/--conns MB each: aggregate goodput (zquic's client
//      makes them in one process, ngtcp2's is one process per connection);
//   3. handshakes per second against each server from 16 concurrent clients, and the server's
//      CPU per handshake (bench/ngtcp2-handshakes.ts).
// Server and client CPU are reported apart (per GB; per handshake), and zquic's garbage
// collection per GB. With --pin (the default where taskset exists and there are >= 2 CPUs) the
// server runs on CPU 0 and its clients on CPU 1, so that they do not compete for one core.
// `--io auto|native|dgram` is passed to the zquic CLI (its UDP I/O); `--io both` runs every
// zquic row with native and with dgram. `--server-only` keeps the rows of zquic's server against
// ngtcp2's client (and the reference), `--handshakes 0` leaves out the handshakes: a narrow run
// for a before/after comparison of the server.
// Run: `npm run bench:ngtcp2 [-- --runs 3 --mb 100 --conns 10 --handshakes 300 --io both
// --server-only --no-pin --json]` (needs ngtcp2-client/-server: scripts/interop/install-peers.sh).
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { selfSignedCertificate } from '../lib/net/self-signed.js';
import {
  HANDSHAKE_CONCURRENCY,
  measureHandshakes,
  type HandshakeCase,
  type HandshakeFigure,
} from './ngtcp2-handshakes.js';
import {
  canPin,
  CLIENT_CPU,
  GTLSCLIENT,
  GTLSSERVER,
  SERVER_CPU,
  SMALL,
  TIME,
  type Io,
  type Setup,
  type Side,
} from './ngtcp2-procs.js';
import { markdownTable, num, round } from './ngtcp2-table.js';
import { measureTransfer, type TransferFigure } from './ngtcp2-transfers.js';

const IO_CHOICES = ['auto', 'native', 'dgram', 'both'] as const;
const NGTCP2: Side = { impl: 'ngtcp2' };

interface Options {
  mb: number;
  conns: number;
  handshakes: number;
  runs: number;
  io: Io[];
  serverOnly: boolean;
  pin: boolean;
  json: boolean;
}

function options(): Options | string {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '100' },
      conns: { type: 'string', default: '10' },
      handshakes: { type: 'string', default: '300' },
      runs: { type: 'string', default: '1' },
      io: { type: 'string', default: 'auto' },
      'server-only': { type: 'boolean' },
      pin: { type: 'boolean' },
      'no-pin': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const int = (name: 'conns' | 'handshakes' | 'runs', min: number) => {
    const v = values[name];
    return /^\d+$/.test(v) && Number(v) >= min ? Number(v) : undefined;
  };
  const mb = Number(values.mb);
  const [conns, handshakes, runs] = [int('conns', 1), int('handshakes', 0), int('runs', 1)];
  if (!(mb > 0)) return `--mb must be a number > 0, got '${values.mb}'`;
  if (conns === undefined) return `--conns must be an integer >= 1, got '${values.conns}'`;
  if (handshakes === undefined)
    return `--handshakes must be an integer >= 0, got '${values.handshakes}'`;
  if (runs === undefined) return `--runs must be an integer >= 1, got '${values.runs}'`;
  const io = IO_CHOICES.find((c) => c === values.io);
  if (!io) return `--io must be ${IO_CHOICES.join(', ')}, got '${values.io}'`;
  if (values.pin && values['no-pin']) return '--pin and --no-pin exclude each other';
  if (values.pin && !canPin()) return '--pin needs taskset and at least 2 CPUs';
  return {
    mb,
    conns,
    handshakes,
    runs,
    io: io === 'both' ? ['native', 'dgram'] : [io],
    serverOnly: values['server-only'] === true,
    pin: values['no-pin'] ? false : (values.pin ?? canPin()),
    json: values.json === true,
  };
}

/** The pairs in table order: the reference first, then the zquic ones per I/O mode (only
 * zquic server -> ngtcp2 client with `serverOnly`). */
function pairs(io: readonly Io[], serverOnly: boolean): Array<{ server: Side; client: Side }> {
  const out = [{ server: NGTCP2, client: NGTCP2 }];
  for (const mode of io) {
    const zquic: Side = { impl: 'zquic', io: mode };
    out.push({ server: zquic, client: NGTCP2 });
    if (!serverOnly) out.push({ server: NGTCP2, client: zquic }, { server: zquic, client: zquic });
  }
  return out;
}

/** Ratios to the first figure (ngtcp2 <-> ngtcp2). */
function transferRatios(figures: TransferFigure[]): void {
  const ref = figures[0]!;
  for (const f of figures) {
    f.goodputRatio = round(f.goodputMbps / ref.goodputMbps, 3);
    f.serverCpuRatio = round(f.serverCpuSecondsPerGB / ref.serverCpuSecondsPerGB, 2);
    f.clientCpuRatio = round(f.clientCpuSecondsPerGB / ref.clientCpuSecondsPerGB, 2);
    f.cpuRatio = round(f.cpuSecondsPerGB / ref.cpuSecondsPerGB, 2);
  }
}

/** The handshake cases: ngtcp2's client against both servers at X25519 (its GnuTLS build has
 * no ML-KEM), zquic's client against both at X25519 and zquic's server at X25519MLKEM768 too
 * (not with `serverOnly`). */
function handshakeCases(io: readonly Io[], serverOnly: boolean): HandshakeCase[] {
  const cases: HandshakeCase[] = [{ server: NGTCP2, client: NGTCP2, group: 'X25519' }];
  for (const mode of io)
    cases.push({ server: { impl: 'zquic', io: mode }, client: NGTCP2, group: 'X25519' });
  if (serverOnly) return cases;
  for (const mode of io) {
    const zquic: Side = { impl: 'zquic', io: mode };
    cases.push(
      { server: NGTCP2, client: zquic, group: 'X25519' },
      { server: zquic, client: zquic, group: 'X25519' },
      { server: zquic, client: zquic, group: 'X25519MLKEM768' },
    );
  }
  return cases;
}

/** Ratios to the ngtcp2 server's row with the same client (the servers compared alike). */
function handshakeRatios(figures: HandshakeFigure[]): void {
  for (const f of figures) {
    const ref = figures.find(
      (r) => r.server === 'ngtcp2' && r.client === f.client && r.clientIo === f.clientIo,
    )!;
    f.handshakesPerSecondRatio = round(f.handshakesPerSecond / ref.handshakesPerSecond, 2);
    f.serverCpuRatio = round(f.serverCpuMsPerHandshake / ref.serverCpuMsPerHandshake, 2);
  }
}

const ioLabel = (f: { serverIo?: Io; clientIo?: Io }) => f.serverIo ?? f.clientIo ?? '-';

function transferTable(figures: TransferFigure[]): string {
  return markdownTable(
    [
      'server → client',
      'io',
      'Mbit/s',
      'ratio',
      'server CPU s/GB',
      'ratio',
      'client CPU s/GB',
      'ratio',
      'CPU s/GB',
      'ratio',
      'server GC ms/GB',
      'client GC ms/GB',
    ],
    figures.map((f) => [
      `${f.server} → ${f.client}`,
      ioLabel(f),
      num(f.goodputMbps, 1),
      num(f.goodputRatio, 2),
      num(f.serverCpuSecondsPerGB, 2),
      num(f.serverCpuRatio, 1),
      num(f.clientCpuSecondsPerGB, 2),
      num(f.clientCpuRatio, 1),
      num(f.cpuSecondsPerGB, 2),
      num(f.cpuRatio, 1),
      num(f.serverGcMsPerGB, 0),
      num(f.clientGcMsPerGB, 0),
    ]),
  );
}

function handshakeTable(figures: HandshakeFigure[]): string {
  return markdownTable(
    [
      'server ← client',
      'group',
      'io',
      'handshakes/s',
      'ratio',
      'server CPU ms/handshake',
      'ratio',
      'handshakes/s per server core',
      'server core use',
    ],
    figures.map((f) => [
      `${f.server} ← ${f.client}`,
      f.group,
      ioLabel(f),
      num(f.handshakesPerSecond, 0),
      num(f.handshakesPerSecondRatio, 2),
      num(f.serverCpuMsPerHandshake, 3),
      num(f.serverCpuRatio, 2),
      num(f.handshakesPerServerCoreSecond, 0),
      num(f.serverCoreUse, 2),
    ]),
  );
}

async function main(): Promise<number> {
  let o: Options | string;
  try {
    o = options();
  } catch (err) {
    o = (err as Error).message.split('\n', 1)[0]!;
  }
  if (typeof o === 'string') {
    console.error(`bench:ngtcp2: ${o}`);
    return 2;
  }
  if (!GTLSSERVER || !GTLSCLIENT || !existsSync(TIME)) {
    console.error(
      'bench:ngtcp2: needs gtlsserver, gtlsclient (scripts/interop/install-peers.sh) and /usr/bin/time',
    );
    return 1;
  }
  const started = performance.now();
  const dir = mkdtempSync(join(tmpdir(), 'zquic-bench-ngtcp2-'));
  const setup: Setup = { dir, pin: o.pin };
  try {
    mkdirSync(join(dir, 'www'));
    const bytes = Math.round(o.mb * 1e6);
    const perConn = Math.round(bytes / o.conns);
    writeFileSync(join(dir, 'www', 'big.bin'), randomBytes(bytes));
    writeFileSync(join(dir, 'www', 'conn.bin'), randomBytes(perConn));
    writeFileSync(join(dir, 'www', SMALL.path.slice(1)), SMALL.body);
    const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'key.pem'), key);
    const pinning = o.pin
      ? `server on CPU ${SERVER_CPU}, clients on CPU ${CLIENT_CPU} (taskset -c)`
      : 'off (client and server share the CPUs)';
    const setupLine = {
      bench: 'ngtcp2',
      kind: 'setup',
      pin: o.pin,
      io: o.io,
      mb: o.mb,
      conns: o.conns,
      handshakes: o.handshakes,
      runs: o.runs,
      cpus: availableParallelism(),
      loadavg: loadavg().map((l) => round(l, 2)),
      node: process.version,
    };
    if (o.json) console.log(JSON.stringify(setupLine));
    else
      console.log(
        [
          `# zquic vs ngtcp2 over loopback (npm run bench:ngtcp2), ${new Date().toISOString()}`,
          '',
          `- pinning: ${pinning}`,
          `- zquic io: ${o.io.join(', ')}; ${setupLine.cpus} CPUs, load average ${setupLine.loadavg.join(' ')}, node ${process.version}`,
          `- best of ${o.runs} run${o.runs === 1 ? '' : 's'}; ratios to ngtcp2 ↔ ngtcp2 in this run`,
        ].join('\n'),
      );
    const emit = (kind: string, f: object) =>
      o.json && console.log(JSON.stringify({ bench: 'ngtcp2', kind, ...f }));

    const single: TransferFigure[] = [];
    for (const p of pairs(o.io, o.serverOnly))
      single.push(
        await measureTransfer({ ...p, connections: 1, path: '/big.bin', bytes }, o.runs, setup),
      );
    transferRatios(single);
    for (const f of single) emit('download', f);
    if (!o.json)
      console.log(`\n## One connection, ${o.mb} MB download\n\n${transferTable(single)}`);

    const concurrent: TransferFigure[] = [];
    for (const p of pairs(o.io, o.serverOnly))
      concurrent.push(
        await measureTransfer(
          { ...p, connections: o.conns, path: '/conn.bin', bytes: perConn * o.conns },
          o.runs,
          setup,
        ),
      );
    transferRatios(concurrent);
    for (const f of concurrent) emit('concurrent', f);
    if (!o.json)
      console.log(
        `\n## ${o.conns} connections at once, ${perConn / 1e6} MB each, aggregate (zquic: one client process; ngtcp2: one per connection)\n\n${transferTable(concurrent)}`,
      );

    if (o.handshakes === 0) return 0;
    const handshakes: HandshakeFigure[] = [];
    for (const c of handshakeCases(o.io, o.serverOnly))
      handshakes.push(await measureHandshakes(c, o.handshakes, o.runs, setup));
    handshakeRatios(handshakes);
    for (const f of handshakes) emit('handshakes', f);
    if (!o.json)
      console.log(
        `\n## Handshakes: ${o.handshakes} connections, ${HANDSHAKE_CONCURRENCY} at a time (full handshake, GET ${SMALL.path}, close)\n\n` +
          `${handshakeTable(handshakes)}\n\n` +
          'Ratios to the ngtcp2 server with the same client. ' +
          "ngtcp2's client is one process per connection: process start-up on the client CPU bounds its rows. " +
          "ngtcp2's GnuTLS examples have no ML-KEM (classical groups only): their rows are X25519; " +
          'zquic ↔ zquic is shown at X25519 and X25519MLKEM768.\n' +
          `\nTotal ${((performance.now() - started) / 1000).toFixed(0)} s.`,
      );
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then((c) => (process.exitCode = c));
