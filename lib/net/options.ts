// The options of listen() and connect() (node:quic / node:tls names), and what both share when
// reading them: qlog and keylog destinations from the environment, the TLS settings, the
// abort signal.
import type { GroupName } from '../crypto/groups.js';
import type { TransportParameters } from '../quic/transport-params.js';
import type { PemInput } from '../tls/certificates.js';
import type { WorkerSlot } from '../quic/worker-cid.js';
import type { AntiReplay } from '../tls/anti-replay.js';
import type { SessionTicket, TicketKeys } from '../tls/session-ticket.js';
import { keylogWriter } from './diagnostics.js';
import { checkHandshakeTimeout, type IoMode, type QuicEndpoint } from './endpoint.js';

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
  /** Path MTU discovery (default true): datagrams grow from 1200 bytes to what the path
   * carries, at most `maxDatagramSize` (RFC 9000 §14.3). */
  pmtud?: boolean;
  /** Largest UDP payload sent (1200..65527): the ceiling of path MTU discovery (default 1452),
   * or with `pmtud: false` the fixed size (default 1200). */
  maxDatagramSize?: number;
  /** Our transport parameters (max_idle_timeout, initial_max_data, ...). */
  transportParams?: Partial<TransportParameters>;
  /** Receive window auto-tuning: the most a stream's window grows to (default 16 MiB) and the
   * connection's (default 24 MiB). */
  maxStreamWindow?: number;
  maxConnectionWindow?: number;
  /** Directory for per-connection qlog files (JSON-SEQ); true: $QLOGDIR or '.'. Default:
   * $QLOGDIR when set. */
  qlog?: string | boolean;
  /** NSS key log file for Wireshark; true: $SSLKEYLOGFILE. Default: $SSLKEYLOGFILE when set. */
  keylog?: string | boolean;
  /** Milliseconds a handshake may take (default 10000). */
  handshakeTimeout?: number;
  /** Aborting closes the endpoint (listen) or destroys the session (connect). */
  signal?: AbortSignal;
  /** UDP I/O: 'native' (the addon's batched socket: recvmmsg/GRO, sendmmsg/GSO; Linux),
   * 'dgram' (node:dgram), 'auto' (default: native where available). */
  io?: IoMode;
  /** SO_RCVBUF / SO_SNDBUF asked of the kernel for the UDP socket, bytes (default 4 MiB each;
   * node:dgram names). */
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export interface ListenOptions extends CommonOptions {
  /** Required: QUIC has no default application protocol (RFC 9001 §8.1). */
  alpn: string | readonly string[];
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
  /** Load at which Retry switches on by itself (default 64): handshakes in progress plus
   * Initials that made no connection in about the last second. */
  retryThreshold?: number;
  /** Handshakes in progress from one IPv4 address or IPv6 /64 (default 32). */
  maxHandshakesPerAddress?: number;
  /** Handshakes in progress from one IPv4 /24 or IPv6 /48 (default 256). */
  maxHandshakesPerPrefix?: number;
  /** Milliseconds a handshake may go without the client's first Handshake packet (default
   * 8000: three PTO backoffs and a margin); then it is discarded. One whose client sends
   * nothing for 4 PTOs (about 4 s) is discarded sooner. */
  halfOpenTimeout?: number;
  /** Bytes the connections may borrow beyond their guaranteed share, over all connections
   * together: receive window that auto-tuning adds beyond their initial windows
   * (`transportParams.initialMaxData`), and send buffering beyond 1 MiB per connection for
   * data the peer has room for (default 256 MiB; 0: windows stay at their initial size and
   * send buffers at 1 MiB). What is lent comes back once no longer needed. */
  windowPool?: number;
  /** Session ticket keys for resumption (default: new keys per endpoint; false: no tickets;
   * `TicketKeys.fromSecrets(...)`: keys shared by the servers of a fleet). */
  ticketKeys?: TicketKeys | false;
  /** Accept 0-RTT data from resuming clients (single-use tickets, RFC 8446 §8). */
  earlyData?: boolean;
  /** Static key (>= 16 bytes) for stateless reset tokens; keep it across restarts so clients
   * of a restarted server learn at once that their connection is gone (RFC 9000 §10.3). */
  statelessResetKey?: Uint8Array;
  /** Keys (each >= 32 bytes) for Retry and NEW_TOKEN address-validation tokens, shared by the
   * servers of a fleet so that each accepts the tokens of the others (RFC 9000 §8.1.3): the
   * first seals, all open. Default: random keys per process. */
  tokenKeys?: readonly Uint8Array[];
  /** QUIC-LB server ID (draft-ietf-quic-load-balancers-21, plaintext algorithm), 1..3 bytes:
   * every connection ID this server issues carries it, for a CID-aware load balancer to route
   * by. Our CIDs are 8 bytes: the first octet, the server ID, a random nonce of >= 4 bytes. */
  serverId?: Uint8Array;
  /** QUIC-LB config rotation codepoint of serverId's configuration, 0..6 (default 0). */
  configRotation?: number;
  /** Worker threads serving this address, each with its own SO_REUSEPORT socket, packets
   * steered to the worker that owns their connection (default 1: no thread; 'auto': one per
   * CPU). Needs the native UDP socket (Linux) and a handler module: see listen(). */
  workers?: number | 'auto';
  /** With workers: a cloneable value each worker thread's handler module reads as
   * `workerData` from node:worker_threads (its configuration). */
  workerData?: unknown;
}

/** @internal What a worker thread of a QuicWorkerPool adds to its listen() options. */
export const WORKER = Symbol('zquic worker');

/** @internal */
export interface WorkerInternals {
  /** Its member of the pool's reuseport group. */
  fd: number;
  slot: WorkerSlot;
  /** The pool's shared 0-RTT replay memory. */
  antiReplay: AntiReplay | undefined;
}

export interface ConnectOptions extends CommonOptions {
  /** Required: QUIC has no default application protocol (RFC 9001 §8.1). */
  alpn: string | readonly string[];
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

/** Checks the options both sides share (all of them before any socket is bound or file
 * opened) and turns them into a qlog directory, TLS settings, the handshake timeout, the
 * connections' settings and the socket's. */
export function commonOptions(o: CommonOptions) {
  const handshakeTimeout = checkHandshakeTimeout(o.handshakeTimeout);
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
  const connection = {
    transport: o.transportParams,
    cc: o.cc,
    pmtud: o.pmtud,
    maxDatagramSize: o.maxDatagramSize,
    maxStreamWindow: o.maxStreamWindow,
    maxConnectionWindow: o.maxConnectionWindow,
  };
  const socket = { io: o.io, recvBufferSize: o.recvBufferSize, sendBufferSize: o.sendBufferSize };
  return { qlogDir, tls, handshakeTimeout, connection, socket };
}

/** The error an aborted signal stands for (its reason, or a DOM-style AbortError). */
export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error
    ? signal.reason
    : Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
}
