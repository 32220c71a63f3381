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
import {
  abortError,
  commonOptions,
  WORKER,
  type ListenOptions,
  type WorkerInternals,
} from './options.js';
import type { QuicSession } from './session.js';
import { QuicWorkerPool, workerCount, type WorkerKind } from './workers.js';

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

/**
 * Starts a QUIC server; `onsession` gets each new session (before its handshake completes:
 * await `session.opened`).
 *
 * With a handler module instead of a function, the server runs in worker threads
 * (`options.workers`, default 1): each thread imports the module (a URL, or a file path) and
 * serves with its default export (or its `onsession` export) as the handler; an optional
 * `setup(endpoint)` export is called with the worker's endpoint once it serves. Options must
 * then be cloneable (ticketKeys from TicketKeys.fromSecrets()). Resolves with a QuicWorkerPool.
 */
export function listen(
  onsession: (session: QuicSession) => void,
  options: ListenOptions,
): Promise<QuicEndpoint>;
export function listen(
  handlerModule: string | URL,
  options: ListenOptions,
): Promise<QuicWorkerPool>;
export async function listen(
  onsession: ((session: QuicSession) => void) | string | URL,
  options: ListenOptions,
): Promise<QuicEndpoint | QuicWorkerPool> {
  if (typeof onsession === 'string' || onsession instanceof URL)
    return listenWorkers('quic', onsession, options);
  if (typeof onsession !== 'function')
    throw new TypeError('onsession must be a function or a handler module URL');
  const { qlogDir, handshakeTimeout, connection, socket, config: tlsConfig } = prepare(options);
  if (options.workers !== undefined && options.workers !== 1)
    throw new TypeError('workers run the handler from a module: pass its URL, not a function');
  const internals = (options as { [WORKER]?: WorkerInternals })[WORKER];
  const ticketKeys =
    options.ticketKeys === false ? undefined : (options.ticketKeys ?? new TicketKeys());
  const antiReplay = internals?.antiReplay ?? (options.earlyData ? new AntiReplay() : undefined);
  const config = (): Omit<ConnectionConfig, 'role'> => ({
    tls: {
      ...tlsConfig,
      ticketKeys,
      earlyData: options.earlyData === true && ticketKeys !== undefined,
      antiReplay,
    },
    ...connection,
  });
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
    fd: internals?.fd,
    worker: internals?.slot,
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

/** The checks listen() makes before anything is bound (every option, the TLS settings by
 * building a TLS server once: a bad PEM or group fails here, not in each handshake). */
function prepare(options: ListenOptions) {
  if (options === null || typeof options !== 'object')
    throw new TypeError('options must be an object');
  if (options.certs === undefined || options.keys === undefined)
    throw new TypeError('options.certs and options.keys are required');
  const common = commonOptions(options);
  if (options.signal?.aborted) throw abortError(options.signal);
  if (options.earlyData !== undefined && typeof options.earlyData !== 'boolean')
    throw new TypeError('earlyData must be a boolean');
  quicLb(options);
  const config = {
    ...common.tls,
    certs: options.certs,
    keys: options.keys,
    requestCert: options.requestCert,
    ca: options.ca,
  };
  new TlsServer({
    ...config,
    transportParameters: new Uint8Array(0),
  } as TlsServerOptions).destroy();
  return { ...common, config };
}

/** listen() or serveHttp3() (`kind`) with a handler module: the options checked here, the
 * servers run in worker threads (workers.ts). */
export async function listenWorkers(
  kind: WorkerKind,
  handler: string | URL,
  options: ListenOptions,
): Promise<QuicWorkerPool> {
  prepare(options);
  return QuicWorkerPool.start(kind, handler, options, workerCount(options.workers ?? 1));
}
