/**
 * What a Connection is configured with, our transport parameter defaults, and the checks of
 * the config's values (TypeError / RangeError naming the value).
 */
import type { TlsClientOptions } from '../tls/client.js';
import type { TlsServerOptions } from '../tls/server.js';
import type { CidGenerator } from './cid.js';
import { WindowPool } from './flow-control.js';
import type { ConnectionCounters } from './events.js';
import type { Address } from './path.js';
import { BASE_PLPMTU, DEFAULT_PMTU_CEILING } from './pmtud.js';
import type { QlogEvent } from './qlog.js';
import type { RandomSource } from './random.js';
import type { TransportParameters } from './transport-params.js';
import { versionInformation } from './version.js';

export interface ConnectionConfig {
  role: 'client' | 'server';
  /** Client: the version of its first Initial; server: the version it prefers (RFC 9368). */
  version?: number;
  tls: TlsClientOptions | TlsServerOptions;
  transport?: Partial<TransportParameters>;
  cc?: 'newreno' | 'cubic';
  qlog?: (event: QlogEvent) => void;
  /** Client: a token for its Initial packets (from NEW_TOKEN). */
  token?: Uint8Array;
  /** `now + wallClockOffset` is the wall-clock time (ms since the epoch) the TLS engine uses
   * for certificate validity and ticket ages (default 0: `now` is epoch ms). */
  wallClockOffset?: number;
  /** Path MTU discovery (RFC 9000 §14.3, pmtud.ts; default true): datagrams start at 1200
   * bytes and grow, once the handshake is confirmed, up to what the path carries, at most
   * `maxDatagramSize`. false: every datagram may be `maxDatagramSize` bytes. */
  pmtud?: boolean;
  /** Largest UDP payload we send, 1200..65527: with `pmtud`, the ceiling of the search
   * (default 1452: fits IPv6 over Ethernet, and IPv4); without, the fixed size (default 1200). */
  maxDatagramSize?: number;
  /** The socket marks our datagrams with the codepoint the connection asks for
   * (Connection.ecnCodepoint): mark ECT(0) and validate the peer's ECN counts (RFC 9000
   * §13.4.2). Default false: nothing is marked. */
  ecn?: boolean;
  /** Bytes write() buffers per stream, at most (default 1 MiB); less while the peer's
   * MAX_STREAM_DATA allows less (see StreamSet in stream-set.ts). */
  streamSendBuffer?: number;
  /** Bytes write() buffers over all streams of the connection (default 2 MiB). Beyond
   * `guaranteedSendBuffer` of them (default 1 MiB, at most connectionSendBuffer), only data
   * within the peer's credit, and only with what `windowPool` lends (SendBudget in
   * send-buffer.ts); without a pool, all of connectionSendBuffer. */
  connectionSendBuffer?: number;
  guaranteedSendBuffer?: number;
  /** Holes in the data received out of order, over all streams (default 4096); a STREAM
   * frame that would make more is dropped, and its packet left unacknowledged so that the
   * peer sends it again (RFC 9000 §13.3). */
  maxReassemblyRanges?: number;
  /** Bytes held beyond such holes as views of their datagrams, over all streams (default
   * 4 MiB); beyond it they are copied, never refused (ReassemblyBudget in recv-buffer.ts). */
  maxReassemblyBytes?: number;
  /** Receive window auto-tuning (see RecvWindow in flow-control.ts): the most a stream's
   * window grows to (default 16 MiB) and the connection's (default 24 MiB). Each is at least
   * the matching initial limit of `transport`. What the peer may make us buffer is bounded
   * by what we grant. */
  maxStreamWindow?: number;
  maxConnectionWindow?: number;
  /** Where the connection window's growth beyond its initial limit, and send buffering beyond
   * guaranteedSendBuffer, are borrowed from (an Endpoint gives its connections its own, see
   * WindowPool in flow-control.ts); default none: each connection grows up to
   * maxConnectionWindow and buffers up to connectionSendBuffer. */
  windowPool?: WindowPool;
  /** Server: makes NEW_TOKEN tokens. */
  newToken?: (remote: Address) => Uint8Array;
  /** The 16-byte stateless reset token for a CID of ours (default random). */
  statelessResetToken?: (cid: Uint8Array) => Uint8Array;
  /** Server: makes our CIDs (QUIC-LB, lib/quic/quic-lb.ts); default: random ones. */
  cidGenerator?: CidGenerator;
  /** Source of our CIDs, default reset tokens, PATH_CHALLENGE data and, unless tls.random is
   * set, of the TLS handshake's randomness (default node:crypto): a simulation replays from a
   * seed. */
  random?: RandomSource;
}

/** Our transport parameter defaults (RFC 9000 §18.2 names, camelCase). */
export const DEFAULT_TRANSPORT: Readonly<TransportParameters> = {
  maxIdleTimeout: 30_000,
  maxUdpPayloadSize: 65527,
  initialMaxData: 1 << 20,
  initialMaxStreamDataBidiLocal: 256 * 1024,
  initialMaxStreamDataBidiRemote: 256 * 1024,
  initialMaxStreamDataUni: 256 * 1024,
  initialMaxStreamsBidi: 100,
  initialMaxStreamsUni: 100,
  ackDelayExponent: 3,
  maxAckDelay: 25,
  activeConnectionIdLimit: 4,
  maxDatagramFrameSize: 65535,
};

/**
 * The memory bounds' defaults (ConnectionConfig). guaranteedSendBuffer equals
 * streamSendBuffer: one stream, the common fast transfer, fills its whole buffer without the
 * pool; with initialMaxData (1 MiB, DEFAULT_TRANSPORT) what a connection holds whatever the
 * pool is then about 2 MiB, and only several streams sending at once, within the credit the
 * peer granted, borrow the second MiB of connectionSendBuffer.
 */
export const DEFAULT_BOUNDS: Readonly<ResourceBounds> = {
  streamSendBuffer: 1 << 20,
  connectionSendBuffer: 2 << 20,
  guaranteedSendBuffer: 1 << 20,
  maxReassemblyRanges: 4096,
  maxReassemblyBytes: 4 << 20,
  maxStreamWindow: 16 << 20,
  maxConnectionWindow: 24 << 20,
};

/** What a connection's streams may hold (ConnectionConfig's options of these names). */
export interface ResourceBounds {
  streamSendBuffer: number;
  connectionSendBuffer: number;
  guaranteedSendBuffer: number;
  maxReassemblyRanges: number;
  maxReassemblyBytes: number;
  maxStreamWindow: number;
  maxConnectionWindow: number;
}

/** The config's scalar settings, checked, with their defaults. */
export function resolveConfig(config: ConnectionConfig): {
  pmtud: boolean;
  maxDatagramSize: number;
  ecn: boolean;
  bounds: ResourceBounds;
  wallClockOffset: number;
  token: Uint8Array;
} {
  if (config === null || typeof config !== 'object')
    throw new TypeError('config must be an object');
  if (config.role !== 'client' && config.role !== 'server')
    throw new TypeError("config.role must be 'client' or 'server'");
  const pmtud = config.pmtud ?? true;
  if (typeof pmtud !== 'boolean') throw new TypeError('config.pmtud must be a boolean');
  const maxDatagramSize = config.maxDatagramSize ?? (pmtud ? DEFAULT_PMTU_CEILING : BASE_PLPMTU);
  if (!Number.isInteger(maxDatagramSize) || maxDatagramSize < 1200 || maxDatagramSize > 65527)
    throw new RangeError('config.maxDatagramSize must be an integer in 1200..65527');
  if (config.ecn !== undefined && typeof config.ecn !== 'boolean')
    throw new TypeError('config.ecn must be a boolean');
  const bounds = { ...DEFAULT_BOUNDS };
  for (const k of Object.keys(bounds) as (keyof ResourceBounds)[]) {
    const v = config[k] ?? bounds[k];
    if (!Number.isSafeInteger(v) || v < 1)
      throw new RangeError(`config.${k} must be a positive integer`);
    bounds[k] = v;
  }
  const wallClockOffset = config.wallClockOffset ?? 0;
  if (typeof wallClockOffset !== 'number' || !Number.isFinite(wallClockOffset))
    throw new TypeError('config.wallClockOffset must be a finite number');
  if (config.qlog !== undefined && typeof config.qlog !== 'function')
    throw new TypeError('config.qlog must be a function');
  if (config.windowPool !== undefined && !(config.windowPool instanceof WindowPool))
    throw new TypeError('config.windowPool must be a WindowPool');
  if (config.token !== undefined && !(config.token instanceof Uint8Array))
    throw new TypeError('config.token must be a Uint8Array');
  return {
    pmtud,
    maxDatagramSize,
    ecn: config.ecn === true,
    bounds,
    wallClockOffset,
    token: config.token ?? NO_TOKEN,
  };
}

const NO_TOKEN = new Uint8Array(0);

/**
 * Our transport parameters (RFC 9000 §18.2) for a connection: the config's over our defaults,
 * with the handshake's connection IDs (§7.3), a server's stateless reset token, and
 * version_information (RFC 9368 §3; a server lists its preferred version first).
 */
export function ourTransportParameters(
  config: ConnectionConfig,
  version: number,
  cids: { scid: Uint8Array; originalDcid: Uint8Array; retrySourceCid?: Uint8Array },
  resetToken: () => Uint8Array,
): TransportParameters {
  const tp = { ...DEFAULT_TRANSPORT, ...(config.transport ?? {}) };
  tp.initialSourceConnectionId = cids.scid;
  if (config.role === 'server') {
    tp.originalDestinationConnectionId = cids.originalDcid;
    if (cids.retrySourceCid) tp.retrySourceConnectionId = cids.retrySourceCid;
    tp.statelessResetToken = resetToken();
  } else {
    // Parameters only a server sends (§18.2).
    delete tp.originalDestinationConnectionId;
    delete tp.retrySourceConnectionId;
    delete tp.statelessResetToken;
    delete tp.preferredAddress;
  }
  tp.versionInformation = versionInformation(
    version,
    config.role === 'server' ? config.version : version,
  );
  return tp;
}

/** A connection's counters before anything happened. */
export function newCounters(now: number): ConnectionCounters {
  return {
    handshakeStart: now,
    handshakeDurationMs: -1,
    bytesSent: 0,
    bytesReceived: 0,
    packetsSent: 0,
    packetsReceived: 0,
    packetsDropped: 0,
    packetsLost: 0,
    keyUpdates: 0,
  };
}
