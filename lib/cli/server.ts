// `zquic server`: a QUIC server on UDP. The `echo` ALPN echoes every stream and datagram;
// with --www DIR it serves files over HTTP/3 (ALPN h3) and hq-interop, each session by its ALPN.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';

import { GROUPS, type GroupName } from '../crypto/groups.js';
import {
  listen,
  selfSignedCertificate,
  type IoMode,
  type ListenOptions,
  type QuicEndpoint,
  type QuicSession,
  type QuicWorkerPool,
} from '../index.js';
import { HQ_ALPN } from '../h3/hq.js';
import { argsError, parseIo, reporter } from './args.js';
import { parseServerId, readFleetKeys } from './fleet-keys.js';
import { workerCount } from '../net/workers.js';
import { sayer, serveSessions, type ServeConfig } from './serve.js';

export const SERVER_USAGE = `usage: zquic server [options]

Runs a QUIC server (post-quantum X25519MLKEM768 first). With ALPN 'echo' every stream and
datagram is echoed back; with --www DIR the files under DIR are served over HTTP/3 and
hq-interop, each client in the protocol it offers (--alpn h3 or --alpn hq-interop offers one).
Stops gracefully on Ctrl-C.

options:
  --port N            UDP port (default 4433; 0 = any)
  --host ADDR         local address (default :: with IPv4 fallback)
  --cert FILE         certificate chain (PEM); with --key. Default: a generated
                      self-signed certificate for localhost, 127.0.0.1 and ::1
  --key FILE          private key (PEM)
  --alpn LIST         comma-separated ALPN protocols (default echo; h3,hq-interop
                      with --www)
  --www DIR           serve the files under DIR (ALPN h3 and hq-interop)
  --early-data        accept 0-RTT data from resuming clients (echo, h3, hq-interop)
  --ciphers LIST      TLS 1.3 cipher suites (e.g. TLS_CHACHA20_POLY1305_SHA256)
  --groups LIST       key exchange groups in preference order
                      (${GROUPS.map((g) => g.name).join(', ')})
  --retry             always validate client addresses with Retry
  --server-id HEX     QUIC-LB server ID (1..3 bytes) in every connection ID issued
  --fleet-keys FILE   keys shared by the servers of a fleet (JSON: ticketKeys,
                      tokenKeys, resetKey as hex; see README "Running a fleet")
  --max-connections N most connections at once (default 10000)
  --workers N|auto    serve from N worker threads, one SO_REUSEPORT socket each
                      (auto: one per CPU; Linux; see README "Every core")
  --io MODE           UDP I/O: auto (default: native where available), native
                      (batched system calls; Linux) or dgram (node:dgram)
  --qlog DIR          write a qlog file per connection into DIR
  --keylog FILE       append TLS secrets for Wireshark (NSS key log format)
  --json              one JSON line per event
  -q, --quiet         print only the listening line
  -h, --help          this help`;

export function parseGroups(list: string | undefined): GroupName[] | undefined {
  if (list === undefined) return undefined;
  const names = list.split(',').map((s) => s.trim());
  for (const n of names)
    if (!GROUPS.some((g) => g.name === n))
      throw new Error(`unknown group '${n}' (known: ${GROUPS.map((g) => g.name).join(', ')})`);
  return names as GroupName[];
}

function parseWorkers(v: string | undefined): number | 'auto' | undefined {
  if (v === undefined || v === 'auto') return v;
  try {
    return workerCount(/^\d+$/.test(v) ? Number(v) : NaN);
  } catch (err) {
    throw new Error(`--${(err as Error).message}, got '${v}'`);
  }
}

export function parsePort(v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 65535) throw new Error(`--port must be 0..65535, got '${v}'`);
  return n;
}

function readFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${what} '${path}': ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
}

export interface ServerSetup<E = QuicEndpoint> {
  endpoint: E;
  /** The generated certificate when none was given. */
  selfSigned?: string;
}

/** What `zquic server` is told (also by `zquic client --local` and the tests). */
export interface ServerOptions {
  port?: number;
  host?: string;
  cert?: string;
  key?: string;
  alpn?: string[];
  groups?: GroupName[];
  retry?: boolean;
  maxConnections?: number;
  qlog?: string;
  keylog?: string;
  www?: string;
  earlyData?: boolean;
  ciphers?: string;
  serverId?: Uint8Array;
  fleetKeys?: string;
  io?: IoMode;
  /** Lines per session (default none). */
  log?: ServeConfig['log'];
  onsession?: (s: QuicSession) => void;
}

/** The listen() options and the sessions' service for `o`, every option checked. */
function prepare(o: ServerOptions): {
  options: ListenOptions;
  config: ServeConfig;
  selfSigned: string | undefined;
} {
  let certs: string;
  let keys: string;
  let selfSigned: string | undefined;
  if (o.cert !== undefined || o.key !== undefined) {
    if (o.cert === undefined || o.key === undefined)
      throw new Error('--cert and --key go together');
    certs = readFile(o.cert, 'certificate');
    keys = readFile(o.key, 'key');
  } else {
    const ss = selfSignedCertificate();
    certs = selfSigned = ss.cert;
    keys = ss.key;
  }
  // --www speaks both file protocols: each client gets the one it offers.
  const alpn = o.alpn ?? (o.www === undefined ? ['echo'] : ['h3', HQ_ALPN]);
  const options: ListenOptions = {
    certs,
    keys,
    alpn,
    groups: o.groups,
    ciphers: o.ciphers,
    host: o.host,
    port: o.port,
    retry: o.retry,
    earlyData: o.earlyData,
    maxConnections: o.maxConnections,
    qlog: o.qlog ?? false,
    keylog: o.keylog ?? false,
    serverId: o.serverId,
    ...(o.fleetKeys === undefined ? {} : readFleetKeys(o.fleetKeys)),
    io: o.io,
  };
  const www = o.www;
  if (www !== undefined) {
    const other = alpn.find((p) => p !== 'h3' && p !== HQ_ALPN);
    if (other !== undefined)
      throw new Error(`--www serves h3 and ${HQ_ALPN}, not '${other}' (--alpn h3,${HQ_ALPN})`);
    try {
      if (!statSync(www).isDirectory()) throw new Error();
    } catch {
      throw new Error(`--www '${www}' is not a directory`);
    }
  }
  return { options, config: { www, log: o.log ?? 'none' }, selfSigned };
}

/** Starts the server described by parsed options on this thread. */
export async function startServer(o: ServerOptions): Promise<ServerSetup> {
  const { options, config, selfSigned } = prepare(o);
  const service = serveSessions(config);
  const endpoint = await listen((session) => {
    service.onsession(session);
    o.onsession?.(session);
  }, options);
  service.closeWith(endpoint);
  return { endpoint, selfSigned };
}

/** Starts it in worker threads (listen() with a handler module: serve-worker.ts). */
export async function startWorkers(
  o: ServerOptions,
  workers: number | 'auto',
): Promise<ServerSetup<QuicWorkerPool>> {
  const { options, config, selfSigned } = prepare(o);
  // The handler module is this file's sibling (.js when built, .ts from the sources).
  const here = import.meta.url;
  const module = new URL(`./serve-worker${extname(new URL(here).pathname)}`, here);
  const endpoint = await listen(module, { ...options, workers, workerData: config });
  return { endpoint, selfSigned };
}

export async function run(argv: string[]): Promise<number> {
  const report = reporter('server', argv);
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        alpn: { type: 'string' },
        groups: { type: 'string' },
        retry: { type: 'boolean' },
        'max-connections': { type: 'string' },
        io: { type: 'string' },
        qlog: { type: 'string' },
        keylog: { type: 'string' },
        www: { type: 'string' },
        'early-data': { type: 'boolean' },
        ciphers: { type: 'string' },
        'server-id': { type: 'string' },
        'fleet-keys': { type: 'string' },
        workers: { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return report.usage(argsError(err));
  }
  if (values.help) {
    console.log(SERVER_USAGE);
    return 0;
  }
  let setup: ServerSetup<QuicEndpoint | QuicWorkerPool>;
  const json = values.json === true;
  const say = sayer(json ? 'json' : 'text');
  try {
    const max = values['max-connections'];
    if (max !== undefined && !/^\d+$/.test(max))
      throw new Error(`--max-connections must be a number, got '${max}'`);
    const workers = parseWorkers(values.workers);
    const o: ServerOptions = {
      port: parsePort(values.port, 4433),
      host: values.host,
      cert: values.cert,
      key: values.key,
      alpn: values.alpn?.split(',').map((s) => s.trim()),
      groups: parseGroups(values.groups),
      retry: values.retry,
      maxConnections: max === undefined ? undefined : Number(max),
      qlog: values.qlog,
      keylog: values.keylog,
      www: values.www,
      earlyData: values['early-data'],
      ciphers: values.ciphers,
      serverId: parseServerId(values['server-id']),
      fleetKeys: values['fleet-keys'],
      io: parseIo(values.io),
      log: values.quiet ? 'none' : json ? 'json' : 'text',
    };
    setup =
      workers === undefined || workers === 1
        ? await startServer(o)
        : await startWorkers(o, workers);
  } catch (err) {
    // The socket's failure (a port in use, an address not here) is a run-time failure; the
    // rest are mistakes in the options.
    const e = err as NodeJS.ErrnoException;
    return e.syscall === undefined ? report.usage(e.message) : report.fail(e.message);
  }
  const { endpoint, selfSigned } = setup;
  const a = endpoint.address;
  let certNote = '';
  if (selfSigned) {
    const file = join(tmpdir(), `zquic-self-signed-${a.port}.pem`);
    writeFileSync(file, selfSigned);
    certNote = ` (self-signed certificate in ${file}: client --ca ${file}, or --insecure)`;
  }
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  say(`zquic server listening on ${host}:${a.port}${certNote}`, {
    event: 'listening',
    ...a,
    selfSignedCertificate: selfSigned !== undefined,
  });
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await Promise.race([endpoint.close(), new Promise((r) => setTimeout(r, 3000).unref())]);
  endpoint.destroy();
  const es = endpoint.stats;
  say(`endpoint: ${es.accepted} accepted, ${es.retry} Retry, ${es.dropped} dropped`, {
    event: 'endpoint',
    ...es,
  });
  return 0;
}
