// The server process of bench/workers.ts: `listen()` with the handler module in N worker
// threads (the compiled package in dist/). Over IPC: sends { port } once serving; answers
// 'start' / 'stop' with its CPU time (all threads) and the pool's summed stats.
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
let cpu = process.cpuUsage();
process.on('message', async (m) => {
  if (m === 'start') cpu = process.cpuUsage();
  if (m === 'stop') {
    const used = process.cpuUsage(cpu);
    // Workers publish stats every 100 ms.
    await new Promise((r) => setTimeout(r, 250));
    process.send({ cpuMs: (used.user + used.system) / 1000, stats: pool.stats });
  }
  if (m === 'exit') {
    await pool.close({ timeout: 1000 });
    process.exit(0);
  }
});
process.send({ port: pool.address.port });
