// `zquic client HOST:PORT`: connects, optionally echoes --bytes over --streams streams, and
// prints one summary line (or --json): group, cipher, handshake ms, bytes, goodput, RTT, loss.
// `zquic client https://HOST:PORT/PATH... --out DIR` downloads files over HTTP/3 or hq-interop.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import {
  connect,
  connectHttp3,
  QuicSessionError,
  type ConnectOptions,
  type IoMode,
  type QuicSession,
  type QuicStream,
  type SessionTicket,
} from '../index.js';
import { HQ_ALPN } from '../h3/hq.js';
import { decodeSessionTicket, encodeSessionTicket } from '../tls/session-ticket.js';
import { argsError, parseIo, reporter, type Reporter } from './args.js';
import { Progress } from './progress.js';
import { parseGroups, startServer } from './server.js';
import { downloadH3, downloadHq, type Download } from './www.js';

export const CLIENT_USAGE = `usage: zquic client HOST:PORT [options]
       zquic client --local [options]
       zquic client https://HOST:PORT/PATH... --out DIR [options]

Connects to a QUIC server. With ALPN 'echo' (default) it sends --bytes over --streams streams,
checks the echo (SHA-256) and prints one summary line. Given URLs (all on one server) it
downloads them into --out over one connection, one stream each, concurrently, with HTTP/3
(--alpn h3, the default for URLs) or hq-interop (--alpn hq-interop).

options:
  --bytes N        bytes to echo in total, with k/M/G suffixes (default 1M; 0: handshake only)
  --streams K      concurrent bidirectional streams (default 1)
  --alpn NAME      ALPN protocol (default echo)
  --groups LIST    key exchange groups to offer, preferred first (default X25519MLKEM768,...)
  --ca FILE        trust this CA / self-signed certificate (PEM)
  --insecure       do not verify the server's certificate
  --servername N   server name for SNI and verification (default: HOST)
  --quic-version V 1 or 2 (default 1); also --version v1|v2. Starting with v1, the
                   client offers v2 too (compatible version negotiation, RFC 9368)
  --ciphers LIST   TLS 1.3 cipher suites to offer (e.g. TLS_CHACHA20_POLY1305_SHA256)
  --out DIR        with URLs: where the files go (default .)
  --connections N  with URLs: download them over N connections at once, into
                   DIR/1 ... DIR/N (default 1: into DIR)
  --session-file F with URLs: resume with the ticket in F if it exists; save the newest
                   ticket the server sends to F (waits up to 1 s for one)
  --early-data     with --session-file: send the requests as 0-RTT data (h3 and
                   hq-interop)
  --key-update     start a key update as soon as the handshake is confirmed
  --cc NAME        cubic (default) or newreno
  --io MODE        UDP I/O: auto (default: native where available), native (batched
                   system calls; Linux) or dgram (node:dgram)
  --qlog DIR       write a qlog file into DIR
  --keylog FILE    append TLS secrets for Wireshark (NSS key log format)
  --local          start a server on loopback in this process and connect to it
  --json           print the summary as one JSON line
  -h, --help       this help`;

const MB = 1e6;

/** '10M' -> 10000000 (k/M/G are powers of 1000; Ki/Mi/Gi powers of 1024). */
export function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]i?)?[bB]?$/.exec(v.trim());
  if (!m) throw new Error(`--bytes must be a size like 1000, 64k, 10M or 1G, got '${v}'`);
  const unit = m[2] ?? '';
  const base = unit.endsWith('i') ? 1024 : 1000;
  const exp = { '': 0, k: 1, m: 2, g: 3 }[unit[0]?.toLowerCase() ?? ''] ?? 0;
  const n = Math.floor(Number(m[1]) * base ** exp);
  if (!Number.isSafeInteger(n)) throw new Error(`--bytes too large: '${v}'`);
  return n;
}

export interface Summary {
  group: string;
  cipher: string;
  alpn: string | undefined;
  postQuantum: boolean;
  handshakeMs: number;
  bytes: number;
  seconds: number;
  goodputMbps: number;
  srttMs: number;
  lostPackets: number;
  streams: number;
  verified: boolean;
}

/** Sends `bytes` on a new stream and checks the echo; resolves with whether it matched. */
async function echoStream(
  session: QuicSession,
  bytes: number,
  block: Buffer,
  onBytes: (n: number) => void,
): Promise<boolean> {
  const s: QuicStream = await session.createBidirectionalStream();
  const sent = createHash('sha256');
  const got = createHash('sha256');
  let received = 0;
  const done = new Promise<void>((resolve, reject) => {
    s.on('data', (c: Buffer) => {
      got.update(c);
      received += c.length;
      onBytes(c.length);
    });
    s.on('end', resolve);
    // The session's end mid-transfer (the server gone, a protocol error) arrives here: without
    // it the loop would wait for 'end' or 'drain' forever and the process exit 0 in silence.
    s.on('error', reject);
  });
  for (let off = 0; off < bytes; off += block.length) {
    const chunk = off + block.length <= bytes ? block : block.subarray(0, bytes - off);
    sent.update(chunk);
    if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), done]);
  }
  s.end();
  await done;
  return received === bytes && sent.digest('hex') === got.digest('hex');
}

export function formatSummary(r: Summary): string {
  const hs = `${r.group} ${r.cipher} handshake ${r.handshakeMs.toFixed(2)} ms`;
  if (r.bytes === 0) return `${hs}, srtt ${r.srttMs.toFixed(2)} ms`;
  return (
    `${hs}, ${(r.bytes / MB).toFixed(1)} MB echoed on ${r.streams} stream${r.streams > 1 ? 's' : ''} ` +
    `in ${r.seconds.toFixed(2)} s (${r.goodputMbps.toFixed(1)} Mbit/s), srtt ${r.srttMs.toFixed(2)} ms, ` +
    `lost ${r.lostPackets} packets${r.verified ? '' : ', ECHO MISMATCH'}`
  );
}

export async function run(argv: string[]): Promise<number> {
  const report = reporter('client', argv);
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        bytes: { type: 'string' },
        streams: { type: 'string' },
        alpn: { type: 'string' },
        groups: { type: 'string' },
        ca: { type: 'string' },
        insecure: { type: 'boolean' },
        servername: { type: 'string' },
        'quic-version': { type: 'string' },
        version: { type: 'string' },
        ciphers: { type: 'string' },
        out: { type: 'string' },
        connections: { type: 'string' },
        'session-file': { type: 'string' },
        'early-data': { type: 'boolean' },
        'key-update': { type: 'boolean' },
        cc: { type: 'string' },
        io: { type: 'string' },
        qlog: { type: 'string' },
        keylog: { type: 'string' },
        local: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    return report.usage(argsError(err));
  }
  if (values.help) {
    console.log(CLIENT_USAGE);
    return 0;
  }
  const fail = (msg: string) => report.usage(msg);
  let bytes: number, streams: number, groups, version: number | undefined, ca: string | undefined;
  let io: IoMode | undefined;
  try {
    bytes = parseSize(values.bytes ?? '1M');
    streams = values.streams === undefined ? 1 : Number(values.streams);
    if (
      !Number.isInteger(streams) ||
      streams < 1 ||
      streams > 10_000 ||
      !/^\d+$/.test(values.streams ?? '1')
    )
      throw new Error(`--streams must be an integer 1..10000, got '${values.streams}'`);
    groups = parseGroups(values.groups);
    io = parseIo(values.io);
    if (values['quic-version'] !== undefined && values.version !== undefined)
      throw new Error('--quic-version and --version are the same option');
    const v = (values['quic-version'] ?? values.version)?.replace(/^v/, '');
    if (v !== undefined && v !== '1' && v !== '2')
      throw new Error(
        `--version must be v1 or v2, got '${values.version ?? values['quic-version']}'`,
      );
    version = v === '2' ? 0x6b3343cf : v === '1' ? 1 : undefined;
    if (values.cc !== undefined && values.cc !== 'cubic' && values.cc !== 'newreno')
      throw new Error(`--cc must be cubic or newreno, got '${values.cc}'`);
    if (values.ca !== undefined && values.insecure)
      throw new Error('--ca and --insecure exclude each other');
    if (values.ca !== undefined) {
      try {
        ca = readFileSync(values.ca, 'utf8');
      } catch (err) {
        throw new Error(`cannot read --ca '${values.ca}': ${(err as NodeJS.ErrnoException).code}`);
      }
    }
  } catch (err) {
    return fail((err as Error).message);
  }
  // Read when called: --local replaces `ca` with its own server's certificate.
  const connectOptions = () => ({
    groups,
    ca,
    rejectUnauthorized: values.insecure ? false : undefined,
    servername: values.servername,
    version,
    ciphers: values.ciphers,
    cc: values.cc as 'cubic' | 'newreno' | undefined,
    qlog: values.qlog ?? false,
    keylog: values.keylog ?? false,
    io,
  });
  const urls = positionals.filter((p) => /^[a-z][a-z0-9+.-]*:\/\//i.test(p));
  if (urls.length > 0) {
    if (values.local) return fail('--local takes no URL');
    if (urls.length !== positionals.length) return fail('give either HOST:PORT or URLs, not both');
    let plan: DownloadPlan;
    let connections: number;
    try {
      plan = downloadPlan(urls, values.alpn);
      if (values['early-data'] && values['session-file'] === undefined)
        throw new Error('--early-data needs --session-file');
      connections = values.connections === undefined ? 1 : Number(values.connections);
      if (!/^\d+$/.test(values.connections ?? '1') || connections < 1 || connections > 1000)
        throw new Error(`--connections must be an integer 1..1000, got '${values.connections}'`);
      if (connections > 1 && values['session-file'] !== undefined)
        throw new Error('--session-file resumes one connection: not with --connections');
    } catch (err) {
      return fail((err as Error).message);
    }
    return download(plan, report, {
      out: values.out ?? '.',
      connections,
      sessionFile: values['session-file'],
      earlyData: values['early-data'] === true,
      keyUpdate: values['key-update'] === true,
      json: values.json === true,
      connect: connectOptions(),
    });
  }
  for (const o of ['out', 'connections', 'session-file', 'early-data'] as const)
    if (values[o] !== undefined) return fail(`--${o} needs URLs`);
  if (values.local ? positionals.length > 0 : positionals.length !== 1)
    return fail(values.local ? '--local takes no HOST:PORT' : 'expected one HOST:PORT argument');

  let target = positionals[0]!;
  let stopLocal: (() => void) | undefined;
  if (values.local) {
    const { endpoint, selfSigned } = await startServer({
      host: '127.0.0.1',
      port: 0,
      alpn: [values.alpn ?? 'echo'],
      io,
    });
    target = `127.0.0.1:${endpoint.address.port}`;
    ca = selfSigned;
    stopLocal = () => endpoint.destroy();
  }
  const block = randomBytes(64 * 1024);
  let session: QuicSession | undefined;
  let progress: Progress | undefined;
  try {
    session = await connect(target, {
      alpn: values.alpn ?? 'echo',
      ...connectOptions(),
    });
    if (values['key-update']) void keyUpdateWhenConfirmed(session);
    const info = await session.opened;
    const handshakeMs = session.stats.handshakeDurationMs;
    let verified = true;
    let seconds = 0;
    if (bytes > 0) {
      if (info.alpn !== 'echo') throw new Error(`server chose ALPN '${info.alpn}', not echo`);
      const bar = (progress = new Progress(bytes, MB));
      let done = 0;
      const t0 = performance.now();
      const per = Math.floor(bytes / streams);
      const results = await Promise.all(
        Array.from({ length: streams }, (_, i) =>
          echoStream(session!, i === streams - 1 ? bytes - per * (streams - 1) : per, block, (n) =>
            bar.update((done += n)),
          ),
        ),
      );
      seconds = (performance.now() - t0) / 1000;
      progress.clear();
      verified = results.every(Boolean);
    }
    const st = session.stats;
    await session.close();
    const summary: Summary = {
      group: info.group,
      cipher: info.cipher,
      alpn: info.alpn,
      postQuantum: info.postQuantum,
      handshakeMs: Math.round(handshakeMs * 1000) / 1000,
      bytes,
      seconds: Math.round(seconds * 1e4) / 1e4,
      goodputMbps: seconds > 0 ? Math.round(((bytes * 8) / seconds / 1e6) * 10) / 10 : 0,
      srttMs: Math.round(st.smoothedRtt * 1000) / 1000,
      lostPackets: st.packetsLost,
      streams: bytes > 0 ? streams : 0,
      verified,
    };
    console.log(values.json ? JSON.stringify(summary) : formatSummary(summary));
    return verified ? 0 : 1;
  } catch (err) {
    progress?.clear();
    session?.destroy();
    return report.fail(failureMessage(err));
  } finally {
    stopLocal?.();
  }
}

interface DownloadPlan {
  /** 'host:port' or '[v6]:port' for connect(). */
  authority: string;
  host: string;
  paths: string[];
  alpn: 'h3' | typeof HQ_ALPN;
}

/** Checks the URLs (https, one server) and the ALPN. */
export function downloadPlan(urls: string[], alpn: string | undefined): DownloadPlan {
  let authority: string | undefined;
  let host = '';
  const paths: string[] = [];
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new Error(`not a URL: '${u}'`);
    }
    if (url.protocol !== 'https:') throw new Error(`URLs must be https://, got '${u}'`);
    if (url.port === '') throw new Error(`URL needs a port: '${u}'`);
    const a = `${url.hostname}:${url.port}`;
    if (authority !== undefined && a !== authority)
      throw new Error(`all URLs must name one server (${authority}), got '${u}'`);
    authority = a;
    host = url.hostname.replace(/^\[|\]$/g, '');
    paths.push(url.pathname + url.search);
  }
  const proto = alpn ?? 'h3';
  if (proto !== 'h3' && proto !== HQ_ALPN)
    throw new Error(`with URLs --alpn must be h3 or ${HQ_ALPN}, got '${proto}'`);
  return { authority: authority!, host, paths, alpn: proto };
}

/** RFC 9001 §6: a key update needs a confirmed handshake (HANDSHAKE_DONE for a client) and
 * may not start before a packet of the current phase was acknowledged: retry until then. */
async function keyUpdateWhenConfirmed(session: QuicSession): Promise<void> {
  await session.opened.catch(() => {});
  for (let i = 0; i < 500 && !session.destroyed; i++) {
    try {
      session.updateKey();
      return;
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

/** TLS alerts for a certificate refused (RFC 8446 §6.2). */
const CERTIFICATE_ALERTS = [
  'BAD_CERTIFICATE',
  'UNSUPPORTED_CERTIFICATE',
  'CERTIFICATE_REVOKED',
  'CERTIFICATE_EXPIRED',
  'CERTIFICATE_UNKNOWN',
  'UNKNOWN_CA',
].map((a) => `ERR_QUIC_TLS_${a}`);

/** A failure's message; when we refused the server's certificate, also what to do about it. */
export function failureMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof QuicSessionError && !err.remote && CERTIFICATE_ALERTS.includes(err.code))
    return `${message}; trust the server with --ca FILE (its CA or its self-signed certificate) or skip the check with --insecure`;
  return message;
}

interface DownloadOptions {
  out: string;
  connections: number;
  sessionFile: string | undefined;
  earlyData: boolean;
  keyUpdate: boolean;
  json: boolean;
  connect: Omit<ConnectOptions, 'alpn'>;
}

async function download(plan: DownloadPlan, report: Reporter, o: DownloadOptions): Promise<number> {
  let ticket: SessionTicket | undefined;
  if (o.sessionFile !== undefined && existsSync(o.sessionFile)) {
    try {
      ticket = decodeSessionTicket(readFileSync(o.sessionFile));
    } catch (err) {
      report.warn(`ignoring --session-file: ${(err as Error).message}`);
    }
  }
  const options: ConnectOptions = {
    ...o.connect,
    servername: o.connect.servername ?? plan.host,
    alpn: plan.alpn,
    session: ticket,
    earlyData: ticket !== undefined && o.earlyData,
  };
  const sessions: QuicSession[] = [];
  let failed = false;
  let gotTicket: (() => void) | undefined;
  const ticketSaved = new Promise<void>((r) => (gotTicket = r));
  const watch = (s: QuicSession) => {
    // (A connection that opens after another one failed is not needed any more.)
    if (failed) s.destroy();
    sessions.push(s);
    if (o.sessionFile !== undefined)
      s.on('ticket', (t: SessionTicket) => {
        writeFileSync(o.sessionFile!, encodeSessionTicket(t));
        gotTicket!();
      });
    if (o.keyUpdate) void keyUpdateWhenConfirmed(s);
  };
  const t0 = performance.now();
  const progress = new Progress(undefined);
  let received = 0;
  const onBytes = (n: number) => progress.update((received += n));
  /** One connection's downloads into `out`, and how to close it. */
  const fetchInto = async (out: string) => {
    if (plan.alpn === 'h3') {
      const client = await connectHttp3(plan.authority, options);
      watch(client.session);
      const downloads = await downloadH3(client, plan.paths, out, onBytes);
      return { downloads, finish: () => client.close() };
    }
    const s = await connect(plan.authority, options);
    watch(s);
    const downloads = await downloadHq(s, plan.paths, out, onBytes);
    await s.opened;
    return { downloads, finish: () => s.close() };
  };
  const outs =
    o.connections === 1
      ? [o.out]
      : Array.from({ length: o.connections }, (_, i) => join(o.out, String(i + 1)));
  let downloads: Download[];
  let closeError: Error | null = null;
  try {
    const fetched = await Promise.all(outs.map(fetchInto));
    downloads = fetched.flatMap((f) => f.downloads);
    if (o.sessionFile !== undefined)
      await Promise.race([ticketSaved, new Promise((r) => setTimeout(r, 1000).unref())]);
    await Promise.all(fetched.map((f) => f.finish().catch((e: Error) => (closeError ??= e))));
  } catch (err) {
    progress.clear();
    failed = true;
    for (const s of sessions) s.destroy();
    return report.fail(failureMessage(err));
  }
  progress.clear();
  const seconds = (performance.now() - t0) / 1000;
  const h = sessions[0]!.handshake!;
  const st = {
    keyUpdates: sessions.reduce((n, s) => n + s.stats.keyUpdates, 0),
    packetsLost: sessions.reduce((n, s) => n + s.stats.packetsLost, 0),
  };
  const bytes = downloads.reduce((n, d) => n + d.bytes, 0);
  const summary = {
    group: h.group,
    cipher: h.cipher,
    alpn: h.alpn,
    version: `0x${h.version.toString(16)}`,
    resumed: h.resumed,
    earlyDataAccepted: h.earlyDataAccepted,
    ...(o.connections > 1 ? { connections: o.connections } : {}),
    keyUpdates: st.keyUpdates,
    files: downloads.length,
    bytes,
    seconds: Math.round(seconds * 1e4) / 1e4,
    goodputMbps: Math.round(((bytes * 8) / seconds / 1e6) * 10) / 10,
    lostPackets: st.packetsLost,
    closeError: closeError === null ? null : (closeError as Error).message,
  };
  if (o.json) console.log(JSON.stringify(summary));
  else
    console.log(
      `${h.group} ${h.cipher} alpn=${h.alpn} version=${summary.version}` +
        `${h.resumed ? ' resumed' : ''}${h.earlyDataAccepted ? ' early-data' : ''}: ` +
        `${downloads.length} file${downloads.length === 1 ? '' : 's'}` +
        `${o.connections > 1 ? ` over ${o.connections} connections` : ''}, ${bytes} bytes in ` +
        `${summary.seconds} s (${summary.goodputMbps} Mbit/s), ${st.keyUpdates} key updates, ` +
        `lost ${st.packetsLost} packets, ${closeError ? `closed with error: ${summary.closeError}` : 'closed cleanly'}`,
    );
  return closeError ? report.fail(`connection closed with error: ${summary.closeError}`) : 0;
}
