// The server process of bench/workers.ts: `listen()` with the handler module in N worker
// threads (the compiled package in dist/). Over IPC: sends { port } once serving; answers
// 'start' / 'stop' with its CPU time (all threads), each worker's busy time and the pool's
// summed stats.
import { listen } from '../dist/lib/index.js';

const [workers, cert, key] = process.argv.slice(2);
const pool = await listen(new URL('./workers-handler.mjs', import.meta.url), {
  certs: cert,
  keys: key,
  alpn: 'bench',
  host: '127.0.0.1',
  workers: Number(workers),
  maxHandshakesPerAddress: 100_000,
  maxHandshakesPerPrefix: 100_000,
  retryThreshold: 1_000_000,
});
// Workers publish their stats (busyMs: their event loop's busy time) every 100 ms.
const published = () => new Promise((r) => setTimeout(r, 250));
const busy = () => Array.from({ length: pool.size }, (_, i) => pool.workerStats(i).busyMs);
let cpu = process.cpuUsage();
let busyAtStart = [];
process.on('message', async (m) => {
  if (m === 'start') {
    cpu = process.cpuUsage();
    busyAtStart = busy();
  }
  if (m === 'stop') {
    const used = process.cpuUsage(cpu);
    await published();
    const busyMs = busy().map((b, i) => b - busyAtStart[i]);
    process.send({ cpuMs: (used.user + used.system) / 1000, busyMs, stats: pool.stats });
  }
  if (m === 'exit') {
    await pool.close({ timeout: 1000 });
    process.exit(0);
  }
});
await published();
process.send({ port: pool.address.port });
