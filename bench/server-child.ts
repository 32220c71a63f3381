// The server under test of `npm run fuzz:server` and `npm run soak`, run as a child process so
// that a crash is seen as an exit and its memory is its own. Started with an IPC channel by
// bench/server-process.ts; `--serve echo,h3,www` picks the servers (one endpoint each, on
// loopback): echo is the CLI's echo server (streams and datagrams echoed), h3 answers every
// request with its own body (HTTP/3), www is the CLI's HTTP/3 file server over a directory of a
// few files. Sends { ports } once listening; answers { cmd: 'stats', gc } with the process's
// memory, its peak RSS, the open sessions and the internal errors seen (the connection logs
// the stack of an error that is not a protocol error when ZQUIC_DEBUG_INTERNAL is set; each
// such report is counted and its first lines kept).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { startServer } from '../lib/cli/server.js';
import { serveHttp3, type QuicEndpoint, type QuicSession } from '../lib/index.js';
import { selfSignedCertificate } from '../lib/net/self-signed.js';

export type ServeMode = 'echo' | 'h3' | 'www';
export const SERVE_MODES: readonly ServeMode[] = ['echo', 'h3', 'www'];

/** What the child sends back to a 'stats' request. */
export interface ServerStats {
  rss: number;
  peakRss: number;
  heapUsed: number;
  sessions: number;
  internalErrors: number;
  /** The first internal error stacks (at most 5). */
  internalStacks: string[];
  /** Sessions of the echo and www servers still open: state and peer (at most 10). */
  open: string[];
}

/** The files the www server holds: name -> size. */
export const WWW_FILES: Readonly<Record<string, number>> = {
  'small.bin': 1000,
  'medium.bin': 100_000,
  'large.bin': 1_000_000,
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { serve: { type: 'string', default: 'echo' } },
  });
  const modes = values.serve.split(',') as ServeMode[];
  for (const m of modes) if (!SERVE_MODES.includes(m)) throw new Error(`unknown server '${m}'`);
  const send = (msg: unknown) => process.send!(msg);

  // The connection reports an internal error with console.error(error) (and nothing else in
  // the library logs an Error object that way): count those, pass everything else on.
  process.env.ZQUIC_DEBUG_INTERNAL = '1';
  let internalErrors = 0;
  const internalStacks: string[] = [];
  const consoleError = console.error.bind(console);
  console.error = (...args: unknown[]) => {
    if (args.length === 1 && args[0] instanceof Error) {
      internalErrors++;
      if (internalStacks.length < 5) internalStacks.push(args[0].stack ?? String(args[0]));
    }
    consoleError(...args);
  };

  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 50);

  const { cert, key } = selfSignedCertificate();
  const dir = mkdtempSync(join(tmpdir(), 'zquic-server-'));
  const www = join(dir, 'www');
  mkdirSync(www);
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  writeFileSync(certFile, cert);
  writeFileSync(keyFile, key);
  const seen = new Set<QuicSession>();
  const onsession = (session: QuicSession) => {
    seen.add(session);
    session.once('close', () => seen.delete(session));
  };
  const files = {
    host: '127.0.0.1',
    port: 0,
    cert: certFile,
    key: keyFile,
    earlyData: true,
    onsession,
  };
  for (const [name, size] of Object.entries(WWW_FILES))
    writeFileSync(join(www, name), Buffer.alloc(size, name.length));
  const endpoints: QuicEndpoint[] = [];
  const ports: Partial<Record<ServeMode, number>> = {};
  for (const mode of modes) {
    let endpoint: QuicEndpoint;
    if (mode === 'echo') {
      endpoint = (await startServer(files)).endpoint;
    } else if (mode === 'h3') {
      endpoint = await serveHttp3(
        (req, res) => {
          req.on('error', () => {});
          res.on('error', () => {});
          req.pipe(res);
        },
        {
          host: '127.0.0.1',
          port: 0,
          certs: cert,
          keys: key,
          earlyData: true,
          qlog: false,
          keylog: false,
        },
      );
    } else {
      endpoint = (await startServer({ ...files, www, alpn: ['h3'] })).endpoint;
    }
    endpoints.push(endpoint);
    ports[mode] = endpoint.address.port;
  }

  process.on('message', (msg: { cmd: string; gc?: boolean }) => {
    if (msg.cmd === 'stats') {
      if (msg.gc) globalThis.gc?.();
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      const stats: ServerStats = {
        rss: m.rss,
        peakRss,
        heapUsed: m.heapUsed,
        sessions: endpoints.reduce((n, e) => n + e.sessionCount, 0),
        internalErrors,
        internalStacks,
        open: [...seen].slice(0, 10).map((x) => {
          const a = x.remoteAddress;
          return `${x.conn.state} ${a.address}:${a.port} handshake ${x.handshake ? 'done' : 'not done'}`;
        }),
      };
      send({ stats });
    } else if (msg.cmd === 'exit') {
      clearInterval(sampler);
      void Promise.all(endpoints.map((e) => e.close())).finally(() => {
        rmSync(dir, { recursive: true, force: true });
        process.exit(0);
      });
    }
  });
  send({ ports, cert });
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) await main();
