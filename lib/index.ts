// zquic: post-quantum QUIC for Node.js. The public API, shaped like node:quic:
//   const endpoint = await listen((session) => { session.onstream = (s) => s.pipe(s); }, opts);
//   const session = await connect('localhost:4433', { alpn: 'echo', ca });
//   await session.opened; const stream = await session.createBidirectionalStream();
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import type { GroupName } from './crypto/groups.js';
import type { Address, ConnectionConfig } from './quic/connection.js';
import type { TransportParameters } from './quic/transport-params.js';
import type { PemInput } from './tls/certificates.js';
import type { SessionTicket } from './tls/session-ticket.js';
import { TicketKeys } from './tls/session-ticket.js';
import { AntiReplay } from './tls/anti-replay.js';
import { TlsServer, type TlsServerOptions } from './tls/server.js';
import { keylogWriter } from './net/diagnostics.js';
import { QuicEndpoint } from './net/endpoint.js';
import { QuicSession } from './net/session.js';

export { QuicEndpoint } from './net/endpoint.js';
export { QuicSession, QuicSessionError, type HandshakeSummary } from './net/session.js';
export { QuicStream, QuicStreamError } from './net/stream.js';
export { selfSignedCertificate } from './net/self-signed.js';
export {
  serveHttp3,
  connectHttp3,
  fetchHttp3,
  H3,
  H3Error,
  type Http3Request,
  type Http3Response,
  type Http3Client,
  type Http3ClientResponse,
  type Http3RequestInit,
} from './net/http3.js';
export { HQ_ALPN, HqError, formatHqRequest, parseHqRequest } from './h3/hq.js';
export type { Address, ConnectionStats } from './quic/connection.js';
export type { GroupName } from './crypto/groups.js';
export type { SessionTicket } from './tls/session-ticket.js';
export { TicketKeys } from './tls/session-ticket.js';
export { encodeSessionTicket, decodeSessionTicket } from './tls/session-ticket.js';

/** Options shared by listen() and connect() (node:quic / node:tls names). */
export interface CommonOptions {
  /** ALPN protocol(s): the client's offer, the server's preference order. */
  alpn?: string | readonly string[];
  /** Key exchange groups in preference order (default X25519MLKEM768 first). */
  groups?: readonly GroupName[];
  /** TLS 1.3 cipher suites (names or an OpenSSL-style colon list). */
  ciphers?: string | readonly string[];
  /** Refuse classical (non post-quantum) key exchange. */
  requirePostQuantum?: boolean;
  /** Congestion control (default 'cubic'). */
  cc?: 'newreno' | 'cubic';
  /** Our transport parameters (max_idle_timeout, initial_max_data, ...). */
  transportParams?: Partial<TransportParameters>;
  /** Directory for per-connection qlog files (JSON-SEQ); true: $QLOGDIR or '.'. Default:
   * $QLOGDIR when set. */
  qlog?: string | boolean;
  /** NSS key log file for Wireshark; true: $SSLKEYLOGFILE. Default: $SSLKEYLOGFILE when set. */
  keylog?: string | boolean;
  /** Milliseconds a handshake may take (default 10000). */
  handshakeTimeout?: number;
  /** Aborting closes the endpoint (listen) or destroys the session (connect). */
  signal?: AbortSignal;
}

export interface ListenOptions extends CommonOptions {
  /** Local port (default 0) and address (default '::', falling back to '0.0.0.0'). */
  port?: number;
  host?: string;
  /** Certificate chain (PEM, leaf first) and private key. */
  certs: PemInput;
  keys: string | Buffer;
  /** Ask for client certificates, trusting `ca`. */
  requestCert?: boolean;
  ca?: PemInput;
  /** Always validate client addresses with Retry (RFC 9000 §8.1.2); without it, Retry is used
   * automatically when many handshakes are in progress. */
  retry?: boolean;
  /** Most connections at once (default 10000). */
  maxConnections?: number;
  /** Session ticket keys for resumption (default: new keys per endpoint; false: no tickets). */
  ticketKeys?: TicketKeys | false;
  /** Accept 0-RTT data from resuming clients (single-use tickets, RFC 8446 §8). */
  earlyData?: boolean;
  /** Static key (>= 16 bytes) for stateless reset tokens; keep it across restarts so clients
   * of a restarted server learn at once that their connection is gone (RFC 9000 §10.3). */
  statelessResetKey?: Uint8Array;
}

export interface ConnectOptions extends CommonOptions {
  /** Server name for SNI and certificate checks (default: the host). */
  servername?: string;
  /** Trust anchors (PEM); default Node's root store. */
  ca?: PemInput;
  /** Verify the server's certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Client certificate and key (mutual TLS). */
  certs?: PemInput;
  keys?: string | Buffer;
  /** A ticket from an earlier session ('ticket' event) to resume with. */
  session?: SessionTicket;
  /** With `session`: send 0-RTT data (streams can be created before `opened`). */
  earlyData?: boolean;
  /** A token from an earlier session ('token' event, NEW_TOKEN) to skip address validation. */
  token?: Uint8Array;
  /** QUIC version to start with (0x00000001 v1, 0x6b3343cf v2). */
  version?: number;
  /** Use this endpoint instead of a new one (several sessions on one socket). */
  endpoint?: QuicEndpoint;
}

function envOr(
  v: string | boolean | undefined,
  env: string | undefined,
  dflt: string,
): string | undefined {
  if (v === false) return undefined;
  if (typeof v === 'string') return v;
  if (v === true) return env || dflt;
  if (v !== undefined) throw new TypeError('must be a string or a boolean');
  return env || undefined;
}

function common(o: CommonOptions) {
  let qlogDir: string | undefined;
  let keylogPath: string | undefined;
  try {
    qlogDir = envOr(o.qlog, process.env.QLOGDIR, '.');
  } catch {
    throw new TypeError('qlog must be a directory name or a boolean');
  }
  try {
    keylogPath = envOr(o.keylog, process.env.SSLKEYLOGFILE, 'keylog.txt');
  } catch {
    throw new TypeError('keylog must be a file name or a boolean');
  }
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new TypeError('signal must be an AbortSignal');
  const tls = {
    alpn: o.alpn,
    groups: o.groups,
    ciphers: o.ciphers,
    requirePostQuantum: o.requirePostQuantum,
    keylog: keylogPath ? keylogWriter(keylogPath) : undefined,
  };
  return { qlogDir, tls };
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
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
  const { qlogDir, tls } = common(options);
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
  });
  // Option errors (bad PEM, unknown group, ...) surface here, not as silently failing handshakes.
  new TlsServer({
    ...(config().tls as TlsServerOptions),
    transportParameters: new Uint8Array(0),
  }).destroy();
  const endpoint = await QuicEndpoint.create({
    host: options.host,
    port: options.port,
    server: { config, onsession },
    maxConnections: options.maxConnections,
    handshakeTimeout: options.handshakeTimeout,
    retry: options.retry,
    qlogDir,
    stateless:
      options.statelessResetKey === undefined ? undefined : { resetKey: options.statelessResetKey },
  });
  options.signal?.addEventListener('abort', () => void endpoint.close(), { once: true });
  return endpoint;
}

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
  options: ConnectOptions = {},
): Promise<QuicSession> {
  if (options === null || typeof options !== 'object')
    throw new TypeError('options must be an object');
  const { host, port } = parseAddress(address);
  const { qlogDir, tls } = common(options);
  if (options.signal?.aborted) throw abortError(options.signal);
  const ip = isIP(host) ? host : (await lookup(host)).address;
  const family = isIP(ip) === 6 ? 'IPv6' : 'IPv4';
  const own = options.endpoint === undefined;
  const endpoint =
    options.endpoint ??
    (await QuicEndpoint.create({
      host: family === 'IPv6' ? '::' : '0.0.0.0',
      handshakeTimeout: options.handshakeTimeout,
      qlogDir,
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
        transport: options.transportParams,
        cc: options.cc,
        token: options.token,
        version: options.version,
      },
      own ? () => void endpoint.close() : undefined,
    );
  } catch (err) {
    if (own) endpoint.destroy();
    throw err;
  }
  const signal = options.signal;
  if (signal) {
    const onAbort = () => session.destroy(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    session.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return session;
}
