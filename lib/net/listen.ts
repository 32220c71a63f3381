// listen(): a QUIC server endpoint from the public options.
import { kemReady } from '../crypto/mlkem.js';
import type { ConnectionConfig } from '../quic/connection.js';
import { AntiReplay } from '../tls/anti-replay.js';
import { TlsServer, type TlsServerOptions } from '../tls/server.js';
import { TicketKeys } from '../tls/session-ticket.js';
import { QuicEndpoint } from './endpoint.js';
import { abortError, commonOptions, type ListenOptions } from './options.js';
import type { QuicSession } from './session.js';

/** Starts a QUIC server; `onsession` gets each new session (before its handshake completes:
 * await `session.opened`). */
export async function listen(
  onsession: (session: QuicSession) => void,
  options: ListenOptions,
): Promise<QuicEndpoint> {
  if (typeof onsession !== 'function') throw new TypeError('onsession must be a function');
  if (options === null || typeof options !== 'object')
    throw new TypeError('options must be an object');
  if (options.certs === undefined || options.keys === undefined)
    throw new TypeError('options.certs and options.keys are required');
  const { qlogDir, tls, handshakeTimeout } = commonOptions(options);
  if (options.signal?.aborted) throw abortError(options.signal);
  if (options.earlyData !== undefined && typeof options.earlyData !== 'boolean')
    throw new TypeError('earlyData must be a boolean');
  const ticketKeys =
    options.ticketKeys === false ? undefined : (options.ticketKeys ?? new TicketKeys());
  const antiReplay = options.earlyData ? new AntiReplay() : undefined;
  const config = (): Omit<ConnectionConfig, 'role'> => ({
    tls: {
      ...tls,
      certs: options.certs,
      keys: options.keys,
      requestCert: options.requestCert,
      ca: options.ca,
      ticketKeys,
      earlyData: options.earlyData === true && ticketKeys !== undefined,
      antiReplay,
    },
    transport: options.transportParams,
    cc: options.cc,
    maxStreamWindow: options.maxStreamWindow,
    maxConnectionWindow: options.maxConnectionWindow,
  });
  // Option errors (bad PEM, unknown group, ...) surface here, not as silently failing handshakes.
  new TlsServer({
    ...(config().tls as TlsServerOptions),
    transportParameters: new Uint8Array(0),
  }).destroy();
  await kemReady(); // handshakes then run ML-KEM without a detour
  const endpoint = await QuicEndpoint.create({
    host: options.host,
    port: options.port,
    server: { config, onsession },
    maxConnections: options.maxConnections,
    handshakeTimeout,
    retry: options.retry,
    retryThreshold: options.retryThreshold,
    maxHandshakesPerAddress: options.maxHandshakesPerAddress,
    maxHandshakesPerPrefix: options.maxHandshakesPerPrefix,
    halfOpenTimeout: options.halfOpenTimeout,
    qlogDir,
    io: options.io,
    stateless:
      options.statelessResetKey === undefined ? undefined : { resetKey: options.statelessResetKey },
  });
  options.signal?.addEventListener('abort', () => void endpoint.close(), { once: true });
  return endpoint;
}
