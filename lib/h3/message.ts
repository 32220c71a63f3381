// HTTP message rules for HTTP/3 field sections (RFC 9114 §4.2, §4.3): pseudo-header fields,
// lower-case names, connection-specific fields. A peer's malformed message is an H3_MESSAGE_ERROR
// stream error (§4.1.2); our own bad input is a TypeError.
import { H3, H3Error } from './errors.js';
import type { Field } from './qpack.js';

export interface RequestHead {
  method: string;
  scheme: string;
  authority: string;
  path: string;
  /** Regular fields (no pseudo-headers), in order. */
  fields: Field[];
}

export interface ResponseHead {
  status: number;
  fields: Field[];
}

/** RFC 9110 §5.1 token characters; upper case is excluded (§4.2: names are lower case). */
const NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** RFC 9110 §5.5: no NUL, CR or LF in values; no leading/trailing whitespace. */
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;
/** §4.2: connection-specific fields (`te` only with "trailers"). */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':protocol']);

/** Checks one field line; returns an error message or undefined. */
function fieldProblem(name: string, value: string): string | undefined {
  if (!NAME.test(name)) return `invalid field name '${name}'`;
  if (BAD_VALUE.test(value)) return `invalid value for '${name}'`;
  if (CONNECTION_SPECIFIC.has(name)) return `connection-specific field '${name}'`;
  if (name === 'te' && value !== 'trailers') return "'te' other than 'trailers'";
  return undefined;
}

function malformed(msg: string): never {
  throw new H3Error(H3.MESSAGE_ERROR, msg, true);
}

/** Splits pseudo-headers from regular fields (§4.3: pseudo-headers first, no duplicates). */
function split(fields: readonly Field[], fail: (m: string) => never) {
  const pseudo = new Map<string, string>();
  const regular: Field[] = [];
  for (const [name, value] of fields) {
    if (name.startsWith(':')) {
      if (regular.length) fail(`pseudo-header ${name} after a regular field`);
      if (pseudo.has(name)) fail(`duplicate ${name}`);
      pseudo.set(name, value);
    } else {
      const p = fieldProblem(name, value);
      if (p) fail(p);
      regular.push([name, value]);
    }
  }
  return { pseudo, regular };
}

/** §4.3.1: a request's header section. */
export function parseRequest(fields: readonly Field[]): RequestHead {
  const { pseudo, regular } = split(fields, malformed);
  for (const k of pseudo.keys()) if (!REQUEST_PSEUDO.has(k)) malformed(`${k} in a request`);
  const method = pseudo.get(':method');
  if (!method || !NAME.test(method.toLowerCase())) malformed('missing or invalid :method');
  const authority = pseudo.get(':authority') ?? '';
  if (method === 'CONNECT' && !pseudo.has(':protocol')) {
    // §4.4: CONNECT has :authority only.
    if (pseudo.has(':scheme') || pseudo.has(':path') || !authority)
      malformed('CONNECT needs :authority and no :scheme or :path');
    return { method, scheme: '', authority, path: '', fields: regular };
  }
  const scheme = pseudo.get(':scheme');
  const path = pseudo.get(':path');
  if (!scheme) malformed('missing :scheme');
  if (!path) malformed('missing or empty :path');
  // §4.3.1: a URI scheme with a mandatory authority (http, https) needs :authority or host.
  if (
    (scheme === 'http' || scheme === 'https') &&
    !authority &&
    !regular.some(([n]) => n === 'host')
  )
    malformed('missing :authority');
  if (/[\0-\x20\x7f]/.test(path)) malformed('invalid :path');
  return { method, scheme, authority, path, fields: regular };
}

/** §4.3.2: a response's header section. */
export function parseResponse(fields: readonly Field[]): ResponseHead {
  const { pseudo, regular } = split(fields, malformed);
  for (const k of pseudo.keys()) if (k !== ':status') malformed(`${k} in a response`);
  const s = pseudo.get(':status');
  if (!s || !/^[1-9][0-9]{2}$/.test(s)) malformed('missing or invalid :status');
  return { status: Number(s), fields: regular };
}

/** §4.1: trailers carry no pseudo-headers. */
export function parseTrailers(fields: readonly Field[]): Field[] {
  const { pseudo, regular } = split(fields, malformed);
  if (pseudo.size) malformed('pseudo-header in trailers');
  return regular;
}

function apiError(msg: string): never {
  throw new TypeError(msg);
}

/** Our own fields: lower-case token names, clean values, no connection-specific fields. */
export function checkOutgoing(fields: readonly Field[]): void {
  split(fields, apiError);
}

/** content-length as a number (-1 when absent); several equal values are allowed (RFC 9110
 * §8.6); anything else is malformed. */
export function contentLength(fields: readonly Field[]): number {
  let len = -1;
  for (const [n, v] of fields) {
    if (n !== 'content-length') continue;
    for (const part of v.split(',')) {
      const t = part.trim();
      if (!/^[0-9]{1,15}$/.test(t)) malformed('invalid content-length');
      const x = Number(t);
      if (len >= 0 && x !== len) malformed('conflicting content-length');
      len = x;
    }
  }
  return len;
}
