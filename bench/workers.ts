// One server on every core: listen() with N worker threads (lib/net/workers.ts) against zquic
// load processes, for each worker count in the same run. Figures per count:
//   - handshakes per second (X25519MLKEM768; each connection one handshake and nothing else),
//     the server's CPU per handshake (all its threads), the load's CPU;
//   - aggregate goodput of concurrent downloads, the server's CPU per GB;
//   - with --rebind N: N connections behind a NAT that rebinds each one mid-transfer
//     (test/support/rebinding-relay.ts), over the largest worker count: the pool's
//     stats.misrouted (packets that reached a worker not owning their connection) must be 0.
// The servers run the compiled package (dist/, built first): worker threads load JavaScript.
// On a machine with few cores the load processes compete with the workers: the table gives the
// CPU each side used. Pinning: --server-cpus / --client-cpus (taskset lists, e.g. 0-1 and 2-3).
// Run: `npm run bench:workers [-- --workers 1,2 --clients 2 --seconds 5 --rebind 1000 --json]`.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { RebindingRelay } from '../test/support/rebinding-relay.js';
import { ROOT, TASKSET } from './ngtcp2-procs.js';
import type * as Zquic from '../lib/index.js';

const { values: args } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2' },
    clients: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '5' },
    mb: { type: 'string', default: '10' },
    rebind: { type: 'string', default: '1000' },
    'server-cpus': { type: 'string' },
    'client-cpus': { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const workerCounts = args.workers.split(',').map(Number);
const clients = Number(args.clients);
const concurrency = Number(args.concurrency);
const seconds = Number(args.seconds);
const downloadBytes = Number(args.mb) * 1e6;
const rebindConnections = Number(args.rebind);

function pinned(cpus: string | undefined, cmd: string[]): string[] {
  if (!cpus) return cmd;
  if (!TASKSET) throw new Error('--server-cpus / --client-cpus need taskset');
  return [TASKSET, '-c', cpus, ...cmd];
}

/** A child with IPC; resolves with its first message of the given shape. */
function child(cmd: string[]): { proc: ChildProcess; next: <T>() => Promise<T> } {
  const proc = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const queue: unknown[] = [];
  const waiting: ((m: unknown) => void)[] = [];
  proc.on('message', (m) => (waiting.length ? waiting.shift()!(m) : queue.push(m)));
  const next = <T>() =>
    new Promise<T>((res, rej) => {
      if (queue.length) return res(queue.shift() as T);
      waiting.push(res as (m: unknown) => void);
      proc.once('exit', (code) => rej(new Error(`${cmd.join(' ')} exited with ${code}`)));
    });
  return { proc, next };
}

interface Load {
  handshakes: number;
  bytes: number;
  failed: number;
  cpuMs: number;
}
interface ServerReport {
  cpuMs: number;
  busyMs: number[];
  stats: Record<string, number>;
}

async function measure(
  workers: number,
  creds: { cert: string; key: string },
  bytes: number,
): Promise<{ load: Load; server: ServerReport; wall: number }> {
  const server = child(
    pinned(args['server-cpus'], [
      process.execPath,
      join(ROOT, 'bench', 'workers-server.mjs'),
      String(workers),
      creds.cert,
      creds.key,
    ]),
  );
  const { port } = await server.next<{ port: number }>();
  server.proc.send('start');
  const t0 = performance.now();
  const loads = Array.from({ length: clients }, () =>
    child(
      pinned(args['client-cpus'], [
        process.execPath,
        join(ROOT, 'bench', 'workers-load.mjs'),
        String(port),
        String(seconds),
        String(concurrency),
        String(bytes),
        creds.cert,
      ]),
    ),
  );
  const results = await Promise.all(loads.map((l) => l.next<Load>()));
  const wall = (performance.now() - t0) / 1000;
  server.proc.send('stop');
  const report = await server.next<ServerReport>();
  server.proc.send('exit');
  await new Promise((r) => server.proc.once('exit', r));
  const load = results.reduce((a, b) => ({
    handshakes: a.handshakes + b.handshakes,
    bytes: a.bytes + b.bytes,
    failed: a.failed + b.failed,
    cpuMs: a.cpuMs + b.cpuMs,
  }));
  return { load, server: report, wall };
}

/** N connections through a rebinding NAT, each uploading and reading back 100 KB, half
 * before and half after its rebinding; returns the pool's stats. */
async function rebindRun(
  zq: typeof Zquic,
  workers: number,
  creds: { cert: string; key: string },
  n: number,
): Promise<{ misrouted: number; accepted: number; ok: number; rebinds: number }> {
  const pool = await zq.listen(pathToFileURL(join(ROOT, 'bench', 'workers-handler.mjs')), {
    certs: creds.cert,
    keys: creds.key,
    alpn: 'bench',
    host: '127.0.0.1',
    workers,
    maxHandshakesPerAddress: 100_000,
    maxHandshakesPerPrefix: 100_000,
  });
  const relay = await RebindingRelay.start({ address: '127.0.0.1', port: pool.address.port });
  const tls = { alpn: 'bench', ca: creds.cert, servername: 'localhost' };
  let ok = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      // A transfer that fails counts as not intact, like one whose echo differs.
      while (next++ < n)
        if (await relay.echoAcrossRebind(zq, tls, 100_000).catch(() => false)) ok++;
    }),
  );
  await pool.close({ timeout: 2000 });
  relay.close();
  return {
    misrouted: pool.stats['misrouted']!,
    accepted: pool.stats['accepted']!,
    ok,
    rebinds: relay.rebinds,
  };
}

async function main(): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT });
  const zq = (await import(
    pathToFileURL(join(ROOT, 'dist', 'lib', 'index.js')).href
  )) as typeof Zquic;
  const { cert, key } = zq.selfSignedCertificate(['localhost']);
  const creds = { cert, key };
  const rows = [];
  for (const workers of workerCounts) {
    const hs = await measure(workers, creds, 0);
    const dl = await measure(workers, creds, downloadBytes);
    rows.push({
      workers,
      handshakesPerSecond: hs.load.handshakes / hs.wall,
      serverCpuMsPerHandshake: hs.server.cpuMs / hs.load.handshakes,
      workerBusyMsPerHandshake: hs.server.busyMs.reduce((a, b) => a + b) / hs.load.handshakes,
      workerBusyShares: hs.server.busyMs.map((b) => b / 1000 / hs.wall),
      serverCpuCores: hs.server.cpuMs / 1000 / hs.wall,
      loadCpuCores: hs.load.cpuMs / 1000 / hs.wall,
      handshakeFailures: hs.load.failed,
      goodputMbps: (dl.load.bytes * 8) / 1e6 / dl.wall,
      serverCpuSecondsPerGB: dl.server.cpuMs / 1000 / (dl.load.bytes / 1e9),
      downloadServerCpuCores: dl.server.cpuMs / 1000 / dl.wall,
      downloadLoadCpuCores: dl.load.cpuMs / 1000 / dl.wall,
      misrouted: hs.server.stats['misrouted']! + dl.server.stats['misrouted']!,
    });
  }
  const rebind =
    rebindConnections > 0
      ? await rebindRun(zq, Math.max(...workerCounts), creds, rebindConnections)
      : undefined;
  if (args.json) {
    console.log(JSON.stringify({ rows, rebind }, null, 2));
    return;
  }
  const base = rows[0]!;
  console.log(
    `load: ${clients} processes x ${concurrency} connections at a time, ${seconds} s per figure` +
      (args['server-cpus'] ? `; server on CPUs ${args['server-cpus']}` : '') +
      (args['client-cpus'] ? `, load on CPUs ${args['client-cpus']}` : ''),
  );
  console.log(
    '| workers | handshakes/s | ratio | server ms CPU/handshake | workers busy ms/handshake | each worker busy | server cores | load cores | Mbit/s | ratio | server CPU s/GB | misrouted |',
  );
  console.log('|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const r of rows)
    console.log(
      `| ${r.workers} | ${r.handshakesPerSecond.toFixed(0)} | ${(r.handshakesPerSecond / base.handshakesPerSecond).toFixed(2)} | ` +
        `${r.serverCpuMsPerHandshake.toFixed(2)} | ${r.workerBusyMsPerHandshake.toFixed(2)} | ` +
        `${r.workerBusyShares.map((b) => b.toFixed(2)).join(' / ')} | ${r.serverCpuCores.toFixed(2)} | ${r.loadCpuCores.toFixed(2)} | ` +
        `${r.goodputMbps.toFixed(0)} | ${(r.goodputMbps / base.goodputMbps).toFixed(2)} | ${r.serverCpuSecondsPerGB.toFixed(2)} | ${r.misrouted} |`,
    );
  if (rebind)
    console.log(
      `rebinding: ${rebind.accepted} connections, ${rebind.rebinds} rebound mid-transfer, ` +
        `${rebind.ok} transfers intact, misrouted ${rebind.misrouted}`,
    );
}

await main();
