// The zquic handshake load of bench/ngtcp2.ts, a child process: connections to one HTTP/3
// server, --concurrency at a time, each a full handshake (no resumption), one GET of --path and
// a graceful close. First --warmup connections (JIT, both ends), then the line
// {"event":"warm"} on stdout; it waits for a line on stdin (the parent reads the server's CPU
// then) and makes --count connections, and prints
// {"event":"done","handshakes":N,"seconds":S,"group":G}. Any failed connection fails the run.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { parseIo } from '../lib/cli/args.js';
import { parseGroups } from '../lib/cli/server.js';
import { connectHttp3, type Http3ConnectOptions } from '../lib/index.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    path: { type: 'string' },
    ca: { type: 'string' },
    groups: { type: 'string' },
    io: { type: 'string' },
    count: { type: 'string' },
    warmup: { type: 'string' },
    concurrency: { type: 'string' },
  },
  strict: true,
});
const count = Number(values.count);
const warmup = Number(values.warmup ?? '0');
const concurrency = Number(values.concurrency);
const options: Http3ConnectOptions = {
  ca: readFileSync(values.ca!, 'utf8'),
  servername: 'localhost',
  groups: parseGroups(values.groups),
  io: parseIo(values.io),
};
const authority = `127.0.0.1:${values.port}`;
let group = '';

async function connections(n: number): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < n) {
      started++;
      const client = await connectHttp3(authority, options);
      const res = await client.request(values.path!);
      await res.bytes();
      if (res.status !== 200) throw new Error(`${values.path}: HTTP status ${res.status}`);
      group = client.session.handshake!.group;
      await client.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

await connections(warmup);
console.log(JSON.stringify({ event: 'warm' }));
process.stdin.setEncoding('utf8');
await once(process.stdin, 'data');
const t0 = performance.now();
await connections(count);
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ event: 'done', handshakes: count, seconds, group }));
process.stdin.destroy();
