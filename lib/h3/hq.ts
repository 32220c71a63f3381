// hq-interop: HTTP/0.9 over QUIC as the QUIC interop runner uses it (ALPN 'hq-interop'). The
// client sends `GET /path\r\n` on a bidirectional stream and FIN; the server answers with the
// file's bytes and FIN. This codec parses and formats the request line.

export const HQ_ALPN = 'hq-interop';
/** Longest request line accepted (bytes, CRLF included). */
export const HQ_MAX_REQUEST = 4096;

/** A bad request line (the server resets the stream). */
export class HqError extends Error {
  override name = 'HqError';
}

/** Formats the request for `path` (must start with '/'; sent as given, already %-encoded). */
export function formatHqRequest(path: string): Uint8Array {
  if (typeof path !== 'string') throw new TypeError('path must be a string');
  if (!path.startsWith('/') || /[\0-\x20\x7f-\uffff]/.test(path))
    throw new TypeError("path must start with '/' and be printable ASCII without spaces");
  if (path.length + 6 > HQ_MAX_REQUEST) throw new RangeError('path is too long');
  return Buffer.from(`GET ${path}\r\n`, 'latin1');
}

/**
 * Parses a complete request (what arrived up to FIN). Returns the decoded path: it starts with
 * '/', has no NUL and no '.' or '..' segment. A missing CRLF is tolerated (some clients send
 * `GET /x` and FIN).
 */
export function parseHqRequest(data: Uint8Array): string {
  if (data.length > HQ_MAX_REQUEST) throw new HqError('request line too long');
  let line = Buffer.from(data.buffer, data.byteOffset, data.length).toString('latin1');
  if (line.endsWith('\r\n')) line = line.slice(0, -2);
  else if (line.endsWith('\n')) line = line.slice(0, -1);
  const m = /^GET (\/[\x21-\x7e]*)$/.exec(line);
  if (!m) throw new HqError('request must be "GET /path"');
  const raw = m[1]!.split(/[?#]/, 1)[0]!;
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new HqError('bad percent-encoding');
  }
  if (path.includes('\0')) throw new HqError('NUL in path');
  if (path.split(/[/\\]/).some((seg) => seg === '..' || seg === '.'))
    throw new HqError("'.' or '..' segment in path");
  return path;
}
