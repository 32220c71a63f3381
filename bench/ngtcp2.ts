// zquic against ngtcp2, same run: a 100 MB HTTP/3 download over loopback for zquic server ->
// ngtcp2 client, ngtcp2 server -> zquic client, zquic <-> zquic and ngtcp2 <-> ngtcp2 (the native
// ceiling: gtlsserver/gtlsclient, ngtcp2 + nghttp3 over GnuTLS). Each pair downloads a 14-byte
// file and then the big one with fresh client processes; the figures are the difference (the
// marginal cost of the bytes: process start-up, handshake and teardown cancel out):
//   goodput  = bytes * 8 / (wall(big) - wall(small))
//   CPU/GB   = (client + server user+sys CPU, big - small) / GB
// client CPU from /usr/bin/time, server CPU from /proc/PID/stat around each download. Ratios are
// to ngtcp2 <-> ngtcp2 measured in the same run.
// Run: `npm run bench:ngtcp2 [-- --mb 100] [-- --runs 3] [-- --json]` (needs ngtcp2-client/-server:
// scripts/interop/install-peers.sh).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { selfSignedCertificate } from '../lib/net/self-signed.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const GTLSSERVER = ['/usr/sbin/gtlsserver', '/usr/bin/gtlsserver'].find((p) => existsSync(p));
const GTLSCLIENT = ['/usr/bin/gtlsclient', '/usr/sbin/gtlsclient'].find((p) => existsSync(p));
const TIME = '/usr/bin/time';
const CLK_TCK = 100;
const zquic = (args: string[]) => [
  process.execPath,
  '--import',
  'tsx',
  join(ROOT, 'lib/cli/main.ts'),
  ...args,
];

type Impl = 'zquic' | 'ngtcp2';
interface Pair {
  server: Impl;
  client: Impl;
}
const PAIRS: Pair[] = [
  { server: 'ngtcp2', client: 'ngtcp2' },
  { server: 'zquic', client: 'ngtcp2' },
  { server: 'ngtcp2', client: 'zquic' },
  { server: 'zquic', client: 'zquic' },
];
const label = (p: Pair) => `${p.server} server -> ${p.client} client`;

export interface Ngtcp2Figure {
  server: Impl;
  client: Impl;
  bytes: number;
  seconds: number;
  goodputMbps: number;
  cpuSecondsPerGB: number;
  clientCpuSeconds: number;
  serverCpuSeconds: number;
  goodputRatio?: number;
  cpuRatio?: number;
}

function procCpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime); `rest` starts at field 3.
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function startServer(impl: Impl, dir: string): Promise<{ p: ChildProcess; port: number }> {
  const www = join(dir, 'www');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  if (impl === 'zquic') {
    const [cmd, ...args] = zquic([
      'server',
      '--json',
      '-q',
      '--www',
      www,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--cert',
      cert,
      '--key',
      key,
    ]);
    const p = spawn(cmd!, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<number>((res, rej) => {
      p.stdout!.on('data', (d: Buffer) => {
        const m = /"port":(\d+)/.exec(d.toString());
        if (m) res(Number(m[1]));
      });
      p.once('exit', (c) => rej(new Error(`zquic server exited with ${c}`)));
    });
    return { p, port };
  }
  const port = await freePort();
  const p = spawn(GTLSSERVER!, ['-q', '-d', www, '127.0.0.1', String(port), key, cert], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((res, rej) => {
    const on = (d: Buffer) => d.toString().includes('document root') && res();
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.once('exit', (c) => rej(new Error(`gtlsserver exited with ${c}`)));
    setTimeout(res, 1500);
  });
  return { p, port };
}

/** Runs one client download; returns its wall seconds and user+sys CPU seconds. */
async function download(
  impl: Impl,
  port: number,
  path: string,
  dir: string,
): Promise<{ wall: number; cpu: number }> {
  const out = mkdtempSync(join(dir, 'dl-'));
  const url = `https://127.0.0.1:${port}${path}`;
  const cmd =
    impl === 'zquic'
      ? zquic([
          'client',
          url,
          '--out',
          out,
          '--ca',
          join(dir, 'cert.pem'),
          '--servername',
          'localhost',
        ])
      : [
          GTLSCLIENT!,
          '-q',
          '--exit-on-all-streams-close',
          '--download',
          out,
          '127.0.0.1',
          String(port),
          url,
        ];
  const t0 = performance.now();
  const p = spawn(TIME, ['-f', 'ZQUIC_TIME %U %S', ...cmd], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((r) => p.once('close', r));
  const wall = (performance.now() - t0) / 1000;
  const m = /ZQUIC_TIME ([\d.]+) ([\d.]+)/.exec(err);
  if (code !== 0 || !m)
    throw new Error(`${impl} client failed (${code}): ${err.trim().slice(-300)}`);
  const name = path.slice(path.lastIndexOf('/') + 1);
  const size = readFileSync(join(out, name)).length;
  rmSync(out, { recursive: true, force: true });
  if (size !== statSize(dir, name)) throw new Error(`${impl} client: ${name} has ${size} bytes`);
  return { wall, cpu: Number(m[1]) + Number(m[2]) };
}

const statSize = (dir: string, name: string) => readFileSync(join(dir, 'www', name)).length;

async function measure(
  pair: Pair,
  dir: string,
  bytes: number,
  runs: number,
): Promise<Ngtcp2Figure> {
  const { p, port } = await startServer(pair.server, dir);
  try {
    let best: Ngtcp2Figure | undefined;
    for (let i = 0; i < runs; i++) {
      const s0 = procCpu(p.pid!);
      const small = await download(pair.client, port, '/small.txt', dir);
      const s1 = procCpu(p.pid!);
      const big = await download(pair.client, port, '/big.bin', dir);
      const s2 = procCpu(p.pid!);
      const seconds = big.wall - small.wall;
      const clientCpu = big.cpu - small.cpu;
      const serverCpu = s2 - s1 - (s1 - s0);
      const f: Ngtcp2Figure = {
        ...pair,
        bytes,
        seconds: round(seconds, 3),
        goodputMbps: round((bytes * 8) / seconds / 1e6, 1),
        cpuSecondsPerGB: round((clientCpu + serverCpu) / (bytes / 1e9), 2),
        clientCpuSeconds: round(clientCpu, 2),
        serverCpuSeconds: round(serverCpu, 2),
      };
      if (!best || f.goodputMbps > best.goodputMbps) best = f;
    }
    return best!;
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)));
  }
}

const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
  });
  const mb = Number(values.mb ?? '100');
  const runs = Number(values.runs ?? '1');
  if (!(mb > 0) || !Number.isInteger(runs) || runs < 1) {
    console.error('bench:ngtcp2: --mb must be > 0 and --runs a positive integer');
    return 2;
  }
  if (!GTLSSERVER || !GTLSCLIENT || !existsSync(TIME)) {
    console.error(
      'bench:ngtcp2: needs gtlsserver, gtlsclient (scripts/interop/install-peers.sh) and /usr/bin/time',
    );
    return 1;
  }
  const dir = mkdtempSync(join(tmpdir(), 'zquic-bench-ngtcp2-'));
  try {
    mkdirSync(join(dir, 'www'));
    const bytes = Math.round(mb * 1e6);
    writeFileSync(join(dir, 'www', 'big.bin'), randomBytes(bytes));
    writeFileSync(join(dir, 'www', 'small.txt'), 'hello, ngtcp2\n');
    const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'key.pem'), key);
    const figures: Ngtcp2Figure[] = [];
    for (const pair of PAIRS) figures.push(await measure(pair, dir, bytes, runs));
    const ref = figures[0]!;
    for (const f of figures) {
      f.goodputRatio = round(f.goodputMbps / ref.goodputMbps, 3);
      f.cpuRatio = round(f.cpuSecondsPerGB / ref.cpuSecondsPerGB, 2);
      console.log(JSON.stringify({ bench: 'ngtcp2', ...f }));
    }
    if (!values.json) {
      console.log('');
      console.log(
        `${mb} MB HTTP/3 download over loopback (best of ${runs}), ratios to ngtcp2 <-> ngtcp2`,
      );
      console.log(
        `  ${'pair'.padEnd(30)} ${'Mbit/s'.padStart(8)} ${'ratio'.padStart(6)} ${'CPU s/GB'.padStart(9)} ${'ratio'.padStart(6)}`,
      );
      for (const f of figures)
        console.log(
          `  ${label(f).padEnd(30)} ${f.goodputMbps.toFixed(1).padStart(8)} ${f.goodputRatio!.toFixed(2).padStart(6)} ${f.cpuSecondsPerGB.toFixed(1).padStart(9)} ${f.cpuRatio!.toFixed(1).padStart(6)}`,
        );
    }
    return 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then((c) => (process.exitCode = c));
