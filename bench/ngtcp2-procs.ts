// The processes of bench/ngtcp2.ts: zquic's CLI and ngtcp2's example programs (gtlsserver,
// gtlsclient: ngtcp2 + nghttp3 over GnuTLS) as servers and clients, each pinned to one CPU with
// taskset when asked, with their CPU time (clients: /usr/bin/time; servers: /proc/PID/stat, read
// around each measurement) and, for zquic, their garbage collection (ZQUIC_BENCH_GC=1 makes the
// CLI print its GC total on exit, lib/cli/gc-report.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/free-port.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const GTLSSERVER = ['/usr/sbin/gtlsserver', '/usr/bin/gtlsserver'].find((p) =>
  existsSync(p),
);
export const GTLSCLIENT = ['/usr/bin/gtlsclient', '/usr/sbin/gtlsclient'].find((p) =>
  existsSync(p),
);
export const TIME = '/usr/bin/time';
export const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
const CLK_TCK = 100;

/** Whether `--pin` can work: taskset exists and there are two CPUs to give out. */
export const canPin = () => TASKSET !== undefined && availableParallelism() >= 2;
/** Where pinned processes run: the server on one CPU, its clients on another. */
export const SERVER_CPU = 0;
export const CLIENT_CPU = 1;

export type Impl = 'zquic' | 'ngtcp2';
export type Io = 'auto' | 'native' | 'dgram';
/** One end of a pair; `io` is the zquic CLI's --io (undefined for ngtcp2). */
export interface Side {
  impl: Impl;
  io?: Io;
}

/** What every process of a run shares: `dir` holds www/, cert.pem and key.pem. */
export interface Setup {
  dir: string;
  pin: boolean;
}

/** The small file every server serves: the baseline download and the handshakes' request. */
export const SMALL = { path: '/small.txt', body: 'hello, ngtcp2\n' };

/** The zquic CLI from the sources (node + tsx), as a command line. */
export const zquicCommand = (args: string[]) => [
  process.execPath,
  '--import',
  'tsx',
  join(ROOT, 'lib/cli/main.ts'),
  ...args,
];

export const pinned = (setup: Setup, cpu: number, cmd: string[]) =>
  setup.pin ? [TASKSET!, '-c', String(cpu), ...cmd] : cmd;

const GC_ENV = { ...process.env, ZQUIC_BENCH_GC: '1' };

/** The user+sys CPU seconds of a running process (all its threads). */
function procCpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime); `rest` starts at field 3.
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** The GC total a zquic process printed on exit (zero when there is none: ngtcp2). */
function gcTotal(stderr: string): { ms: number; count: number } {
  let ms = 0;
  let count = 0;
  for (const line of stderr.split('\n')) {
    if (!line.startsWith('{"event":"gc"')) continue;
    const gc = JSON.parse(line) as { ms: number; count: number };
    ms += gc.ms;
    count += gc.count;
  }
  return { ms, count };
}

export interface Server {
  readonly port: number;
  /** Its user+sys CPU seconds so far. */
  cpu(): number;
  /** Stops it (SIGTERM; zquic closes gracefully) and returns its GC total (zero for ngtcp2). */
  stop(): Promise<{ ms: number; count: number }>;
}

/** Starts an HTTP/3 file server for `dir`/www on 127.0.0.1 (pinned to SERVER_CPU). */
export async function startServer(side: Side, setup: Setup): Promise<Server> {
  const www = join(setup.dir, 'www');
  const cert = join(setup.dir, 'cert.pem');
  const key = join(setup.dir, 'key.pem');
  let p: ChildProcess;
  let port: number;
  let stderr = '';
  const exited = (what: string) =>
    new Promise<never>((_, rej) =>
      p.once('exit', (c) => rej(new Error(`${what} exited with ${c}: ${stderr.slice(-300)}`))),
    );
  if (side.impl === 'zquic') {
    const [cmd, ...args] = pinned(
      setup,
      SERVER_CPU,
      zquicCommand([
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
        ...(side.io ? ['--io', side.io] : []),
      ]),
    );
    p = spawn(cmd!, args, { cwd: ROOT, env: GC_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => (stderr += d));
    port = await Promise.race([
      new Promise<number>((res) => {
        let out = '';
        p.stdout!.on('data', (d: Buffer) => {
          const m = /"port":(\d+)/.exec((out += d));
          if (m) res(Number(m[1]));
        });
      }),
      exited('zquic server'),
    ]);
  } else {
    port = await freePort();
    const [cmd, ...args] = pinned(setup, SERVER_CPU, [
      GTLSSERVER!,
      '-q',
      '-d',
      www,
      '127.0.0.1',
      String(port),
      key,
      cert,
    ]);
    p = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => (stderr += d));
    p.stdout!.resume();
    // gtlsserver -q says nothing once it listens: give it a moment.
    await Promise.race([new Promise((r) => setTimeout(r, 500)), exited('gtlsserver')]);
  }
  const pid = p.pid!;
  return {
    port,
    cpu: () => procCpu(pid),
    async stop() {
      if (p.exitCode === null) {
        p.kill('SIGTERM');
        await new Promise((r) => p.once('exit', r));
      }
      return gcTotal(stderr);
    },
  };
}

/** The result of a download: its wall seconds (see download()); CPU seconds and GC summed over
 * the client processes. */
export interface ClientRun {
  wall: number;
  cpu: number;
  gcMs: number;
}

interface Timed {
  cpu: number;
  stdout: string;
  stderr: string;
}

/** Runs one command under /usr/bin/time; resolves with its CPU seconds and output. */
async function timed(cmd: string[], setup: Setup): Promise<Timed> {
  const [c, ...args] = pinned(setup, CLIENT_CPU, [TIME, '-f', 'ZQUIC_TIME %U %S', ...cmd]);
  const p = spawn(c!, args, { cwd: ROOT, env: GC_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout!.on('data', (d: Buffer) => (stdout += d));
  p.stderr!.on('data', (d: Buffer) => (stderr += d));
  const code = await new Promise<number | null>((r) => p.once('close', r));
  const m = /ZQUIC_TIME ([\d.]+) ([\d.]+)/.exec(stderr);
  if (code !== 0 || !m) throw new Error(`${cmd[0]} failed (${code}): ${stderr.trim().slice(-300)}`);
  return { cpu: Number(m[1]) + Number(m[2]), stdout, stderr };
}

/** `n` connections at once, each downloading https://127.0.0.1:port`path` (pinned to
 * CLIENT_CPU): zquic's CLI makes them in one process (--connections), ngtcp2's client is one
 * process per connection. Checks every file's size against the served one. The wall time of
 * zquic's client is its own (from its first connect to its last close, in its --json summary):
 * the start-up of node is about a second of CPU, and on a loaded machine its variation would
 * drown the difference of two downloads; ngtcp2's client starts in milliseconds. */
export async function download(
  side: Side,
  port: number,
  path: string,
  n: number,
  setup: Setup,
): Promise<ClientRun> {
  const url = `https://127.0.0.1:${port}${path}`;
  const name = path.slice(path.lastIndexOf('/') + 1);
  const expected = statSync(join(setup.dir, 'www', name)).size;
  const out = mkdtempSync(join(setup.dir, 'dl-'));
  const outs = n === 1 ? [out] : Array.from({ length: n }, (_, i) => join(out, String(i + 1)));
  try {
    let runs: Timed[];
    let wall: number;
    if (side.impl === 'zquic') {
      const cmd = zquicCommand([
        'client',
        url,
        '--out',
        out,
        '--connections',
        String(n),
        '--ca',
        join(setup.dir, 'cert.pem'),
        '--servername',
        'localhost',
        '--json',
        ...(side.io ? ['--io', side.io] : []),
      ]);
      runs = [await timed(cmd, setup)];
      wall = (JSON.parse(runs[0]!.stdout) as { seconds: number }).seconds;
    } else {
      for (const d of outs) mkdirSync(d, { recursive: true });
      const t0 = performance.now();
      runs = await Promise.all(
        outs.map((d) =>
          timed(
            [
              GTLSCLIENT!,
              '-q',
              '--exit-on-all-streams-close',
              '--download',
              d,
              '127.0.0.1',
              String(port),
              url,
            ],
            setup,
          ),
        ),
      );
      wall = (performance.now() - t0) / 1000;
    }
    for (const d of outs) {
      const size = statSync(join(d, name)).size;
      if (size !== expected) throw new Error(`${side.impl} client: ${name} has ${size} bytes`);
    }
    return {
      wall,
      cpu: runs.reduce((s, r) => s + r.cpu, 0),
      gcMs: runs.reduce((s, r) => s + gcTotal(r.stderr).ms, 0),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** `count` gtlsclient connections, `concurrency` at a time: each a full handshake, one GET of
 * `path` and a close. Resolves with the wall seconds. */
export async function gtlsHandshakes(
  port: number,
  path: string,
  count: number,
  concurrency: number,
  setup: Setup,
): Promise<number> {
  const url = `https://127.0.0.1:${port}${path}`;
  const [cmd, ...args] = pinned(setup, CLIENT_CPU, [
    GTLSCLIENT!,
    '-q',
    '--exit-on-all-streams-close',
    '127.0.0.1',
    String(port),
    url,
  ]);
  let started = 0;
  const worker = async () => {
    while (started < count) {
      started++;
      const p = spawn(cmd!, args, { stdio: 'ignore' });
      const code = await new Promise<number | null>((r) => p.once('close', r));
      if (code !== 0) throw new Error(`gtlsclient exited with ${code}`);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return (performance.now() - t0) / 1000;
}
