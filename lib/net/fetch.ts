// fetchHttp3(): WHATWG fetch over HTTP/3. The request is normalized by the platform's own
// `Request` (Headers, URLSearchParams, Blob, FormData, streams, AbortSignal); it goes out on an
// Http3Agent's pooled connection; the answer is a platform `Response` whose body streams.
import { STATUS_CODES } from 'node:http';

import type { Http3ClientResponse } from './http3-client.js';
import { Http3Agent, httpsUrl } from './pool.js';
import { toWebStream } from './web-stream.js';

export interface Http3FetchInit extends RequestInit {
  /** The pool to use (default: `globalHttp3Agent`). */
  agent?: Http3Agent;
  /** Most redirects followed with `redirect: 'follow'` (default 20, as fetch's limit). */
  maxRedirects?: number;
}

/** The agent fetchHttp3 uses when none is given (system trust anchors). */
export const globalHttp3Agent = new Http3Agent();

/** Fetch §4.4 HTTP-redirect fetch: the redirect statuses. */
const REDIRECT = new Set([301, 302, 303, 307, 308]);
/** Fetch §4.4 step 12: the request-body-header names dropped when a redirect turns into GET. */
const BODY_HEADERS = [
  'content-encoding',
  'content-language',
  'content-location',
  'content-type',
  'content-length',
];
/** Fetch §2.2.6: responses that have no body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** The request body as it goes out: bytes (sent again on a redirect) or a stream (sent once). */
type Body = Uint8Array | AsyncIterable<Uint8Array> | undefined;

/** fetch() over HTTP/3: resolves with a `Response` once the response head arrived. Network
 * failures reject with TypeError('fetch failed') and the failure as its `cause`; an aborted
 * signal rejects with its reason. */
export async function fetchHttp3(
  input: string | URL | Request,
  init: Http3FetchInit = {},
): Promise<Response> {
  if (init === null || typeof init !== 'object') throw new TypeError('init must be an object');
  const { agent = globalHttp3Agent, maxRedirects = 20, ...rest } = init;
  if (!(agent instanceof Http3Agent)) throw new TypeError('init.agent must be an Http3Agent');
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0)
    throw new RangeError('init.maxRedirects must be an integer >= 0');
  const streamed = isStream(rest.body) || (input instanceof Request && input.body !== null);
  const request = new Request(input, streamed ? { ...rest, duplex: 'half' } : rest);
  let url = httpsUrl(request.url);
  let method = request.method;
  const headers = new Headers(request.headers);
  const signal = request.signal;
  let body: Body;
  if (request.body === null) body = undefined;
  else if (streamed) body = request.body as unknown as AsyncIterable<Uint8Array>;
  else body = new Uint8Array(await request.arrayBuffer());
  try {
    for (let redirects = 0; ; redirects++) {
      const res = await agent.request(url, { method, headers, body, signal });
      const location = res.headers.location;
      if (!REDIRECT.has(res.status) || location === undefined || request.redirect === 'manual')
        return toResponse(res, method, url, redirects > 0);
      res.body.destroy(); // the redirect's own body is not wanted
      if (request.redirect === 'error') throw new TypeError(`redirect to ${location} refused`);
      if (redirects >= maxRedirects) throw new TypeError(`more than ${maxRedirects} redirects`);
      const next = new URL(location, url);
      if (next.protocol !== 'https:') throw new TypeError(`redirect to non-https ${next.href}`);
      // Fetch §4.4 step 12: 303 (except to GET/HEAD), and 301/302 after POST, become a GET
      // without a body.
      if (
        (res.status === 303 && method !== 'GET' && method !== 'HEAD') ||
        ((res.status === 301 || res.status === 302) && method === 'POST')
      ) {
        method = 'GET';
        body = undefined;
        for (const n of BODY_HEADERS) headers.delete(n);
      } else if (body !== undefined && !(body instanceof Uint8Array))
        // Step 11: a streamed body was sent and cannot be sent again.
        throw new TypeError('a redirect would send a streamed body again');
      // Step 13: credentials stay with their origin.
      if (next.origin !== url.origin) headers.delete('authorization');
      url = next;
    }
  } catch (e) {
    if (signal.aborted) throw signal.reason;
    throw new TypeError('fetch failed', { cause: e });
  }
}

function isStream(body: unknown): boolean {
  return (
    body instanceof ReadableStream ||
    (body !== null &&
      typeof body === 'object' &&
      typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

function toResponse(res: Http3ClientResponse, method: string, url: URL, redirected: boolean) {
  const headers = new Headers();
  for (const [n, v] of res.fields) headers.append(n, v);
  const status = res.status;
  if (status > 599) {
    res.body.destroy();
    throw new RangeError(`status ${status} cannot be a fetch Response`);
  }
  let body: ReadableStream<Uint8Array> | null = null;
  if (method === 'HEAD' || NULL_BODY.has(status))
    res.body.resume(); // (empty) read to its end
  else body = toWebStream(res.body);
  // HTTP/3 has no reason phrase (RFC 9114 §4.3.2): statusText is the standard one.
  const response = new Response(body, { status, statusText: STATUS_CODES[status] ?? '', headers });
  Object.defineProperty(response, 'url', { value: url.href });
  Object.defineProperty(response, 'redirected', { value: redirected });
  return response;
}
