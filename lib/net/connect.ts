// connect(): a QUIC client session from an address and the public options.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import { kemReady } from '../crypto/mlkem.js';
import type { Address } from '../quic/connection.js';
import { QuicEndpoint } from './endpoint.js';
import { abortError, commonOptions, type ConnectOptions } from './options.js';
import type { QuicSession } from './session.js';

/** Parses 'host:port', '[v6]:port', or { address, port }. */
function parseAddress(address: unknown): { host: string; port: number } {
  let host: string;
  let port: number;
  if (typeof address === 'string') {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
    if (!m) throw new TypeError(`address must be 'host:port' or '[ipv6]:port', got '${address}'`);
    host = m[1]!;
    port = Number(m[2]);
  } else if (address !== null && typeof address === 'object') {
    const a = address as { address?: unknown; port?: unknown };
    if (typeof a.address !== 'string') throw new TypeError('address.address must be a string');
    host = a.address;
    port = a.port as number;
  } else throw new TypeError('address must be a string or an { address, port } object');
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RangeError('address port must be an integer in 1..65535');
  return { host, port };
}

/** Connects to a QUIC server. Resolves once the first flight is on its way: await
 * `session.opened` for the handshake. */
export async function connect(
  address: string | Address,
  options: ConnectOptions,
): Promise<QuicSession> {
  if (options === null || typeof options !== 'object')
    throw new TypeError('options must be an object');
  const { host, port } = parseAddress(address);
  const { qlogDir, tls, handshakeTimeout, connection, socket } = commonOptions(options);
  if (options.signal?.aborted) throw abortError(options.signal);
  await kemReady(); // handshakes then run ML-KEM without a detour
  const ip = isIP(host) ? host : (await lookup(host)).address;
  const family = isIP(ip) === 6 ? 'IPv6' : 'IPv4';
  const own = options.endpoint === undefined;
  const endpoint =
    options.endpoint ??
    (await QuicEndpoint.create({
      host: family === 'IPv6' ? '::' : '0.0.0.0',
      handshakeTimeout,
      qlogDir,
      ...socket,
    }));
  let session: QuicSession;
  try {
    session = endpoint.connect(
      { address: ip, port, family },
      {
        tls: {
          ...tls,
          servername: options.servername ?? host,
          ca: options.ca,
          rejectUnauthorized: options.rejectUnauthorized,
          certs: options.certs,
          keys: options.keys,
          session: options.session,
          earlyData: options.earlyData,
        },
        ...connection,
        token: options.token,
        version: options.version,
      },
    );
  } catch (err) {
    if (own) endpoint.destroy();
    throw err;
  }
  // The session's own endpoint closes with it, without waiting for its closing period (the
  // endpoint's close ends that: see QuicEndpoint.close()).
  if (own) {
    const close = (): void => void endpoint.close();
    session.closed.then(close, close);
  }
  const signal = options.signal;
  if (signal) {
    const onAbort = () => session.destroy(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    session.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return session;
}
