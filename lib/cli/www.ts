// File serving and downloading for `zquic server --www DIR` and `zquic client URL... --out DIR`:
// HTTP/3 (serveHttp3 / connectHttp3) and hq-interop (HTTP/0.9 over QUIC, lib/h3/hq.ts).
import { realpathSync, statSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';

import { formatHqRequest, HqError, HQ_MAX_REQUEST, parseHqRequest } from '../h3/hq.js';
import { saveBody } from './file-sink.js';
import type {
  Http3Client,
  Http3Request,
  Http3Response,
  QuicSession,
  QuicStream,
} from '../index.js';

/** Application error code for a refused hq-interop request (RFC 9000 §20.2 leaves it to us). */
const HQ_REQUEST_REFUSED = 0x2;

/** The regular file under `root` that the decoded request `path` names, or undefined (no such
 * file, a directory, or a path or symbolic link leaving `root`). '/' and '/dir/' serve
 * index.html. */
export function wwwFile(root: string, path: string): { file: string; size: number } | undefined {
  if (!path.startsWith('/') || path.includes('\0')) return undefined;
  const base = resolve(root);
  let file = resolve(base, '.' + (path.endsWith('/') ? path + 'index.html' : path));
  if (file !== base && !file.startsWith(base + sep)) return undefined;
  try {
    let st = statSync(file);
    if (st.isDirectory()) st = statSync((file = join(file, 'index.html')));
    // A symbolic link may not lead out of the root either.
    const real = realpathSync(file);
    const realBase = realpathSync(base);
    if (!real.startsWith(realBase + sep)) return undefined;
    return st.isFile() ? { file, size: st.size } : undefined;
  } catch {
    return undefined;
  }
}

/** Where a download of URL path `path` is saved in `out`: its last segment ('index.html' when
 * it has none), like the interop runner's clients. */
export function downloadName(out: string, path: string): string {
  const clean = decodeURIComponent(path.split(/[?#]/, 1)[0]!);
  const name = basename(clean);
  return join(out, name === '' || name === '.' || name === '..' ? 'index.html' : name);
}

/** An HTTP/3 request handler serving the files under `root` (GET and HEAD). */
export function http3FileHandler(root: string) {
  return (req: Http3Request, res: Http3Response): void => {
    let path: string;
    try {
      path = decodeURIComponent(req.path.split(/[?#]/, 1)[0]!);
    } catch {
      path = '';
    }
    const found = req.method === 'GET' || req.method === 'HEAD' ? wwwFile(root, path) : undefined;
    if (!found) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405);
      res.end();
      return;
    }
    res.setHeader('content-length', found.size);
    if (req.method === 'HEAD') return void res.end();
    sendFile(req.session, found.file, res);
  };
}

/** Files a session is sent at once. Each holds at most PIECES_PER_READ pieces read from its
 * file besides what the connection buffers (capped by connectionSendBuffer): a peer that
 * requests many files and reads none holds FILES_AT_ONCE of them; the rest wait their turn. */
const FILES_AT_ONCE = 8;
/** Bytes per piece written to a stream. Each piece has its own memory, which the stream's
 * send buffer keeps whole while any byte of it is unacknowledged: larger pieces would pin
 * more of an unread download. */
const PIECE = 64 * 1024;
/** Pieces filled by one read (readv): each read is a round trip through libuv's threadpool. */
const PIECES_PER_READ = 2;
const sending = new WeakMap<QuicSession, { active: number; waiting: (() => void)[] }>();

/** Sends `file` on `out` once one of the session's FILES_AT_ONCE places is free. */
function sendFile(session: QuicSession, file: string, out: Writable): void {
  let slots = sending.get(session);
  if (!slots) sending.set(session, (slots = { active: 0, waiting: [] }));
  const s = slots;
  const start = (): void => {
    s.active++;
    pipeline(filePieces(file), out)
      .catch(() => out.destroy())
      .finally(() => {
        s.active--;
        s.waiting.shift()?.();
      });
  };
  if (s.active < FILES_AT_ONCE) start();
  else s.waiting.push(start);
}

/** The pieces of `file`, PIECE bytes each (the last one shorter). pipeline() asks for the
 * next piece only once `out` took the last (drained), and the file is read again only when
 * the pieces of the last read are taken: no more than one read is held. */
async function* filePieces(file: string): AsyncGenerator<Buffer> {
  const fh = await open(file, 'r');
  try {
    for (;;) {
      // Fresh buffers each time: the stream keeps written data by reference until acknowledged.
      const pieces = Array.from({ length: PIECES_PER_READ }, () => Buffer.allocUnsafe(PIECE));
      let { bytesRead } = await fh.readv(pieces);
      if (bytesRead === 0) return;
      for (const piece of pieces) {
        if (bytesRead === 0) break;
        const n = Math.min(bytesRead, PIECE);
        bytesRead -= n;
        yield n < PIECE ? piece.subarray(0, n) : piece;
      }
    }
  } finally {
    await fh.close();
  }
}

/** Serves hq-interop requests of `session` from `root`: reads the request line up to FIN,
 * answers with the file and FIN; a bad request or missing file resets the stream. */
export function serveHq(session: QuicSession, root: string): void {
  session.on('stream', (s: QuicStream) => {
    const parts: Buffer[] = [];
    let size = 0;
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      size += c.length;
      if (size > HQ_MAX_REQUEST) {
        s.resetCode = HQ_REQUEST_REFUSED;
        s.destroy();
      } else parts.push(c);
    });
    s.on('end', () => {
      let found;
      try {
        found = wwwFile(root, parseHqRequest(Buffer.concat(parts)));
      } catch (e) {
        if (!(e instanceof HqError)) throw e;
      }
      if (!found) {
        s.resetCode = HQ_REQUEST_REFUSED;
        s.destroy();
        return;
      }
      sendFile(session, found.file, s);
    });
  });
}

export interface Download {
  url: string;
  file: string;
  bytes: number;
  status?: number;
}

/** Called with the size of each received chunk (the progress line). */
export type OnBytes = (n: number) => void;

/** Downloads `paths` over one HTTP/3 connection, concurrently (one request stream each). The
 * requests are made at once, before any I/O, so that with 0-RTT they leave with the first
 * flight. */
export async function downloadH3(
  client: Http3Client,
  paths: string[],
  out: string,
  onBytes?: OnBytes,
) {
  const responses = paths.map((path) => client.request(path));
  for (const p of responses) p.catch(() => {}); // awaited below; not unhandled if mkdir fails
  await mkdir(out, { recursive: true });
  return Promise.all(
    paths.map(async (path, i): Promise<Download> => {
      const res = await responses[i]!;
      const file = downloadName(out, path);
      if (res.status !== 200) {
        res.body.resume();
        throw new Error(`${path}: HTTP status ${res.status}`);
      }
      return {
        url: path,
        file,
        bytes: await saveBody(res.body, file, onBytes),
        status: res.status,
      };
    }),
  );
}

/** Opens one hq-interop request stream per path (before the handshake completes when 0-RTT is
 * possible: the requests are written at once, so they can leave with the first flight) and
 * saves each response. */
export async function downloadHq(
  session: QuicSession,
  paths: string[],
  out: string,
  onBytes?: OnBytes,
) {
  // A reset (a refused request) ends a stream early; so does the connection's end, with its
  // own error: `reset` tells them apart.
  const streams = paths.map(async (path) => {
    const s = await session.createBidirectionalStream();
    const r = { s, reset: undefined as number | undefined };
    s.once('reset', (code: number) => (r.reset = code));
    s.end(formatHqRequest(path));
    return r;
  });
  for (const p of streams) p.catch(() => {}); // awaited below; not unhandled if mkdir fails
  await mkdir(out, { recursive: true });
  return Promise.all(
    paths.map(async (path, i): Promise<Download> => {
      const r = await streams[i]!;
      const file = downloadName(out, path);
      try {
        return { url: path, file, bytes: await saveBody(r.s, file, onBytes) };
      } catch (err) {
        if (r.reset === undefined) throw err;
        throw new Error(`${path}: stream reset by the server (code 0x${r.reset.toString(16)})`);
      }
    }),
  );
}
