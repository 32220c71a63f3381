// A load process of bench/workers.ts (the compiled package in dist/): `concurrency` loops, each
// making connections one after the other for `seconds`: a handshake (X25519MLKEM768) and, with
// `bytes` > 0, a download of that many bytes on it. Sends { handshakes, bytes, cpuMs } over IPC.
import { connect, QuicEndpoint } from '../dist/lib/index.js';

const [port, seconds, concurrency, bytes, ca] = process.argv.slice(2).map((v, i) => (i < 4 ? Number(v) : v));
const options = { alpn: 'bench', ca, servername: 'localhost', handshakeTimeout: 10_000 };
const endpoint = await QuicEndpoint.create({ host: '127.0.0.1' });
const until = performance.now() + seconds * 1000;
const cpu = process.cpuUsage();
let handshakes = 0;
let received = 0;
let failed = 0;

async function once() {
  const session = await connect(`127.0.0.1:${port}`, { ...options, endpoint });
  try {
    await session.opened;
    handshakes++;
    if (bytes > 0) {
      const s = await session.createBidirectionalStream();
      s.end(`get ${bytes}\n`);
      for await (const chunk of s) received += chunk.length;
    }
  } finally {
    await session.close().catch(() => {}); // the work above succeeded or threw (counted by the caller); a failing close is not its failure
  }
}

await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) await once().catch(() => failed++);
  }),
);
const used = process.cpuUsage(cpu);
process.send({ handshakes, bytes: received, failed, cpuMs: (used.user + used.system) / 1000 });
endpoint.destroy();
process.exit(0);
