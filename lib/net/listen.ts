// listen(): a QUIC server endpoint from the public options.
import { randomBytes } from 'node:crypto';

import { kemReady } from '../crypto/mlkem.js';
import type { CidGenerator } from '../quic/cid.js';
import { LOCAL_CID_LENGTH, type ConnectionConfig } from '../quic/connection.js';
import { quicLbGenerator } from '../quic/quic-lb.js';
import { AntiReplay } from '../tls/anti-replay.js';
import { TlsServer, type TlsServerOptions } from '../tls/server.js';
import { TicketKeys } from '../tls/session-ticket.js';
import { QuicEndpoint } from './endpoint.js';
import { abortError, commonOptions, type ListenOptions } from './options.js';
import type { QuicSession } from './session.js';

/** The CID generator for the serverId option (checked), or undefined without one. */
function quicLb(options: ListenOptions): CidGenerator | undefined {
  const { serverId, configRotation } = options;
  if (serverId === undefined) {
    if (configRotation !== undefined) throw new TypeError('configRotation needs serverId');
    return undefined;
  }
  if (!(serverId instanceof Uint8Array)) throw new TypeError('serverId must be a Uint8Array');
  // The first octet and a nonce of at least 4 bytes (draft-ietf-quic-load-balancers-21 §5.3)
  // leave 3 of our LOCAL_CID_LENGTH bytes to the server ID.
  const max = LOCAL_CID_LENGTH - 1 - 4;
  if (serverId.length < 1 || serverId.length > max)
    throw new RangeError(`serverId must be 1..${max} bytes (connection IDs are 8 bytes)`);
  const nonceLength = LOCAL_CID_LENGTH - 1 - serverId.length;
  return quicLbGenerator({ serverId, configRotation, nonceLength }, randomBytes);
}

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
  const { qlogDir, tls, handshakeTimeout, connection, socket } = commonOptions(options);
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
    ...connection,
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
    windowPool: options.windowPool,
    qlogDir,
    ...socket,
    stateless: {
      resetKey: options.statelessResetKey,
      tokenKeys: options.tokenKeys,
      cidGenerator: quicLb(options),
      // Token times on the wall clock: another server of the fleet checks them.
      wallClockOffset: performance.timeOrigin,
    },
  });
  options.signal?.addEventListener('abort', () => void endpoint.close(), { once: true });
  return endpoint;
}
