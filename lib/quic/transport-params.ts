// QUIC transport parameters (RFC 9000 §18, §7.4), version_information (RFC 9368 §3),
// max_datagram_frame_size (RFC 9221 §3) and grease_quic_bit (RFC 9287 §3). Decoding is
// role-aware and throws only QuicError(TRANSPORT_PARAMETER_ERROR).
import { randomBytes } from 'node:crypto';

import { equalBytes } from './bytes.js';
import { PROTOCOL_VIOLATION, QuicError, TRANSPORT_PARAMETER_ERROR } from './errors.js';
import { MAX_STREAMS_LIMIT } from './frames.js';
import { Reader, VARINT_LIMIT, varintLength, writeVarint } from './varint.js';

export type Role = 'client' | 'server';

/** RFC 9000 §18.2 preferred_address. */
export interface PreferredAddress {
  ipv4Address: Uint8Array; // 4 bytes (all zero: none)
  ipv4Port: number;
  ipv6Address: Uint8Array; // 16 bytes (all zero: none)
  ipv6Port: number;
  connectionId: Uint8Array; // 1..20 bytes
  statelessResetToken: Uint8Array; // 16 bytes
}

/** RFC 9368 §3 version_information. */
export interface VersionInformation {
  chosenVersion: number;
  availableVersions: number[];
}

/** Decoded parameters: a field is present only when the peer sent it (defaults: see
 * TRANSPORT_PARAMETER_DEFAULTS / withDefaults). Durations are milliseconds. */
export interface TransportParameters {
  originalDestinationConnectionId?: Uint8Array;
  maxIdleTimeout?: number;
  statelessResetToken?: Uint8Array;
  maxUdpPayloadSize?: number;
  initialMaxData?: number;
  initialMaxStreamDataBidiLocal?: number;
  initialMaxStreamDataBidiRemote?: number;
  initialMaxStreamDataUni?: number;
  initialMaxStreamsBidi?: number;
  initialMaxStreamsUni?: number;
  ackDelayExponent?: number;
  maxAckDelay?: number;
  disableActiveMigration?: boolean;
  preferredAddress?: PreferredAddress;
  activeConnectionIdLimit?: number;
  initialSourceConnectionId?: Uint8Array;
  retrySourceConnectionId?: Uint8Array;
  versionInformation?: VersionInformation;
  maxDatagramFrameSize?: number;
  greaseQuicBit?: boolean;
}

/** Parameter ids (§18.2 table; RFC 9368, RFC 9221, RFC 9287). */
export const TransportParameterId = {
  original_destination_connection_id: 0x00,
  max_idle_timeout: 0x01,
  stateless_reset_token: 0x02,
  max_udp_payload_size: 0x03,
  initial_max_data: 0x04,
  initial_max_stream_data_bidi_local: 0x05,
  initial_max_stream_data_bidi_remote: 0x06,
  initial_max_stream_data_uni: 0x07,
  initial_max_streams_bidi: 0x08,
  initial_max_streams_uni: 0x09,
  ack_delay_exponent: 0x0a,
  max_ack_delay: 0x0b,
  disable_active_migration: 0x0c,
  preferred_address: 0x0d,
  active_connection_id_limit: 0x0e,
  initial_source_connection_id: 0x0f,
  retry_source_connection_id: 0x10,
  version_information: 0x11,
  max_datagram_frame_size: 0x20,
  grease_quic_bit: 0x2ab2,
} as const;

export interface ParameterDefaults {
  maxIdleTimeout: number;
  maxUdpPayloadSize: number;
  initialMaxData: number;
  initialMaxStreamDataBidiLocal: number;
  initialMaxStreamDataBidiRemote: number;
  initialMaxStreamDataUni: number;
  initialMaxStreamsBidi: number;
  initialMaxStreamsUni: number;
  ackDelayExponent: number;
  maxAckDelay: number;
  disableActiveMigration: boolean;
  activeConnectionIdLimit: number;
  maxDatagramFrameSize: number;
  greaseQuicBit: boolean;
}

/** §18.2 defaults for absent parameters (maxDatagramFrameSize 0: DATAGRAM not supported). */
export const TRANSPORT_PARAMETER_DEFAULTS: Readonly<ParameterDefaults> = Object.freeze({
  maxIdleTimeout: 0,
  maxUdpPayloadSize: 65527,
  initialMaxData: 0,
  initialMaxStreamDataBidiLocal: 0,
  initialMaxStreamDataBidiRemote: 0,
  initialMaxStreamDataUni: 0,
  initialMaxStreamsBidi: 0,
  initialMaxStreamsUni: 0,
  ackDelayExponent: 3,
  maxAckDelay: 25,
  disableActiveMigration: false,
  activeConnectionIdLimit: 2,
  maxDatagramFrameSize: 0,
  greaseQuicBit: false,
});

export type ResolvedTransportParameters = TransportParameters & ParameterDefaults;

/** The parameters with §18.2 defaults filled in for absent ones. */
export function withDefaults(tp: TransportParameters): ResolvedTransportParameters {
  const out: Record<string, unknown> = { ...TRANSPORT_PARAMETER_DEFAULTS };
  for (const [k, v] of Object.entries(tp)) if (v !== undefined) out[k] = v;
  return out as unknown as ResolvedTransportParameters;
}

type Kind = 'varint' | 'cid' | 'token' | 'flag' | 'preferred' | 'version';
interface Spec {
  id: number;
  key: keyof TransportParameters;
  kind: Kind;
  serverOnly?: boolean;
  /** Returns an error message for a value §18.2 forbids. */
  check?: (v: number) => string | undefined;
}

const ID = TransportParameterId;
const SPECS: Spec[] = [
  {
    id: ID.original_destination_connection_id,
    key: 'originalDestinationConnectionId',
    kind: 'cid',
    serverOnly: true,
  },
  { id: ID.max_idle_timeout, key: 'maxIdleTimeout', kind: 'varint' },
  { id: ID.stateless_reset_token, key: 'statelessResetToken', kind: 'token', serverOnly: true },
  {
    id: ID.max_udp_payload_size,
    key: 'maxUdpPayloadSize',
    kind: 'varint',
    check: (v) => (v < 1200 ? 'max_udp_payload_size below 1200' : undefined),
  },
  { id: ID.initial_max_data, key: 'initialMaxData', kind: 'varint' },
  {
    id: ID.initial_max_stream_data_bidi_local,
    key: 'initialMaxStreamDataBidiLocal',
    kind: 'varint',
  },
  {
    id: ID.initial_max_stream_data_bidi_remote,
    key: 'initialMaxStreamDataBidiRemote',
    kind: 'varint',
  },
  { id: ID.initial_max_stream_data_uni, key: 'initialMaxStreamDataUni', kind: 'varint' },
  {
    id: ID.initial_max_streams_bidi,
    key: 'initialMaxStreamsBidi',
    kind: 'varint',
    // §4.6: more than 2^60 streams in a transport parameter is TRANSPORT_PARAMETER_ERROR.
    check: (v) => (v > MAX_STREAMS_LIMIT ? 'initial_max_streams_bidi above 2^60' : undefined),
  },
  {
    id: ID.initial_max_streams_uni,
    key: 'initialMaxStreamsUni',
    kind: 'varint',
    check: (v) => (v > MAX_STREAMS_LIMIT ? 'initial_max_streams_uni above 2^60' : undefined),
  },
  {
    id: ID.ack_delay_exponent,
    key: 'ackDelayExponent',
    kind: 'varint',
    check: (v) => (v > 20 ? 'ack_delay_exponent above 20' : undefined),
  },
  {
    id: ID.max_ack_delay,
    key: 'maxAckDelay',
    kind: 'varint',
    check: (v) => (v >= 2 ** 14 ? 'max_ack_delay of 2^14 or more' : undefined),
  },
  { id: ID.disable_active_migration, key: 'disableActiveMigration', kind: 'flag' },
  { id: ID.preferred_address, key: 'preferredAddress', kind: 'preferred', serverOnly: true },
  {
    id: ID.active_connection_id_limit,
    key: 'activeConnectionIdLimit',
    kind: 'varint',
    check: (v) => (v < 2 ? 'active_connection_id_limit below 2' : undefined),
  },
  { id: ID.initial_source_connection_id, key: 'initialSourceConnectionId', kind: 'cid' },
  {
    id: ID.retry_source_connection_id,
    key: 'retrySourceConnectionId',
    kind: 'cid',
    serverOnly: true,
  },
  { id: ID.version_information, key: 'versionInformation', kind: 'version' },
  { id: ID.max_datagram_frame_size, key: 'maxDatagramFrameSize', kind: 'varint' },
  { id: ID.grease_quic_bit, key: 'greaseQuicBit', kind: 'flag' },
];
const BY_ID = new Map(SPECS.map((s) => [s.id, s]));

/** Name of a parameter id ('initial_max_data', 'grease(0x...)', 'unknown(0x...)'). */
export function transportParameterName(id: number): string {
  for (const [k, v] of Object.entries(ID)) if (v === id) return k;
  return (id - 27) % 31 === 0 ? `grease(0x${id.toString(16)})` : `unknown(0x${id.toString(16)})`;
}

function tpError(message: string): never {
  throw new QuicError(TRANSPORT_PARAMETER_ERROR, message);
}

function decodePreferred(r: Reader): PreferredAddress {
  const ipv4Address = r.bytes(4, 'preferred_address IPv4 address');
  const ipv4Port = r.u16('preferred_address IPv4 port');
  const ipv6Address = r.bytes(16, 'preferred_address IPv6 address');
  const ipv6Port = r.u16('preferred_address IPv6 port');
  const len = r.u8('preferred_address connection id length');
  // §18.2: a server MUST NOT include a zero-length connection ID here; §17.2: at most 20.
  if (len < 1 || len > 20) tpError(`preferred_address connection id length ${len} outside 1..20`);
  const connectionId = r.bytes(len, 'preferred_address connection id');
  const statelessResetToken = r.bytes(16, 'preferred_address stateless reset token');
  return { ipv4Address, ipv4Port, ipv6Address, ipv6Port, connectionId, statelessResetToken };
}

function decodeVersionInfo(r: Reader): VersionInformation {
  // RFC 9368 §3: a length that is not a non-zero multiple of 4, or a zero version, is a
  // parsing failure (TRANSPORT_PARAMETER_ERROR).
  if (r.remaining < 4 || r.remaining % 4 !== 0)
    tpError('version_information length not a multiple of 4');
  const chosenVersion = r.u32('chosen version');
  if (chosenVersion === 0) tpError('version_information chosen version is 0');
  const availableVersions: number[] = [];
  while (r.remaining > 0) {
    const v = r.u32('available version');
    if (v === 0) tpError('version_information available version is 0');
    availableVersions.push(v);
  }
  return { chosenVersion, availableVersions };
}

/**
 * Decodes the quic_transport_parameters extension body sent by `sender` (RFC 9000 §18).
 * Enforces every §7.3/§7.4/§18.2 rule that needs no connection state: value ranges, exact
 * lengths, duplicates, server-only parameters from a client, and the required connection IDs
 * (initial_source_connection_id from both; original_destination_connection_id from a server).
 * Unknown and GREASE parameters are skipped (§7.4.2).
 */
export function decodeTransportParameters(buf: Uint8Array, sender: Role): TransportParameters {
  const r = new Reader(buf, 0, buf.length, TRANSPORT_PARAMETER_ERROR);
  const v = new Reader(buf, 0, 0, TRANSPORT_PARAMETER_ERROR);
  const tp: TransportParameters = {};
  const seen = new Set<number>();
  while (r.remaining > 0) {
    const id = r.varint('transport parameter id');
    const len = r.varint('transport parameter length');
    const start = r.pos;
    r.skip(len, `transport parameter 0x${id.toString(16)} value`);
    // §7.4: a parameter sent more than once MAY be treated as TRANSPORT_PARAMETER_ERROR.
    if (seen.has(id)) tpError(`duplicate transport parameter ${transportParameterName(id)}`);
    seen.add(id);
    const spec = BY_ID.get(id);
    if (!spec) continue; // §7.4.2: unknown (incl. GREASE 31*N+27) parameters are ignored.
    const name = transportParameterName(id);
    // §18.2: a client sending a server-only parameter is TRANSPORT_PARAMETER_ERROR.
    if (spec.serverOnly && sender === 'client') tpError(`${name} sent by a client`);
    v.reset(buf, start, start + len);
    const out = tp as Record<string, unknown>;
    switch (spec.kind) {
      case 'varint': {
        const value = v.varint(name);
        const bad = spec.check?.(value);
        if (bad) tpError(bad);
        out[spec.key] = value;
        break;
      }
      case 'cid':
        if (len > 20) tpError(`${name} longer than 20 bytes`);
        out[spec.key] = v.bytes(len, name);
        break;
      case 'token':
        if (len !== 16) tpError(`${name} must be 16 bytes`);
        out[spec.key] = v.bytes(16, name);
        break;
      case 'flag':
        if (len !== 0) tpError(`${name} must be empty`);
        out[spec.key] = true;
        break;
      case 'preferred':
        out[spec.key] = decodePreferred(v);
        break;
      case 'version':
        out[spec.key] = decodeVersionInfo(v);
        break;
    }
    // A value must fill its parameter exactly.
    if (v.pos !== v.end) tpError(`${name} has ${v.end - v.pos} trailing bytes`);
  }
  // §7.3: initial_source_connection_id is required of both, original_destination_connection_id
  // of the server.
  if (!tp.initialSourceConnectionId) tpError('initial_source_connection_id missing');
  if (sender === 'server' && !tp.originalDestinationConnectionId)
    tpError('original_destination_connection_id missing');
  return tp;
}

function checkBytes(value: unknown, name: string, min: number, max: number): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length < min || value.length > max)
    throw new RangeError(`${name} must be ${min === max ? min : `${min}..${max}`} bytes`);
  return value;
}

function checkVarint(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= VARINT_LIMIT)
    throw new RangeError(`${name} must be an integer in [0, 2^62)`);
  return value;
}

export interface EncodeTransportParametersOptions {
  /** Add one reserved parameter (31*N+27, §18.1) with a random value, exercising the peer. */
  grease?: boolean;
}

/** Encodes the parameters `sender` sends; RangeError/TypeError for values §18.2 forbids. */
export function encodeTransportParameters(
  tp: TransportParameters,
  sender: Role,
  options: EncodeTransportParametersOptions = {},
): Buffer {
  const parts: Array<[number, Uint8Array]> = [];
  for (const spec of SPECS) {
    const value = tp[spec.key];
    if (value === undefined || value === false) continue;
    const name = transportParameterName(spec.id);
    if (spec.serverOnly && sender === 'client')
      throw new RangeError(`a client must not send ${name}`);
    let body: Uint8Array;
    switch (spec.kind) {
      case 'varint': {
        const n = checkVarint(value, name);
        const bad = spec.check?.(n);
        if (bad) throw new RangeError(bad);
        body = new Uint8Array(varintLength(n));
        writeVarint(body, 0, n);
        break;
      }
      case 'cid':
        body = checkBytes(value, name, 0, 20);
        break;
      case 'token':
        body = checkBytes(value, name, 16, 16);
        break;
      case 'flag':
        if (value !== true) throw new TypeError(`${name} must be a boolean`);
        body = new Uint8Array(0);
        break;
      case 'preferred': {
        const p = value as PreferredAddress;
        const cid = checkBytes(p.connectionId, 'preferredAddress.connectionId', 1, 20);
        body = new Uint8Array(4 + 2 + 16 + 2 + 1 + cid.length + 16);
        const dv = Buffer.from(body.buffer);
        body.set(checkBytes(p.ipv4Address, 'preferredAddress.ipv4Address', 4, 4), 0);
        dv.writeUInt16BE(p.ipv4Port, 4);
        body.set(checkBytes(p.ipv6Address, 'preferredAddress.ipv6Address', 16, 16), 6);
        dv.writeUInt16BE(p.ipv6Port, 22);
        body[24] = cid.length;
        body.set(cid, 25);
        body.set(
          checkBytes(p.statelessResetToken, 'preferredAddress.statelessResetToken', 16, 16),
          25 + cid.length,
        );
        break;
      }
      case 'version': {
        const vi = value as VersionInformation;
        const all = [vi.chosenVersion, ...vi.availableVersions];
        const b = Buffer.alloc(4 * all.length);
        all.forEach((ver, i) => {
          if (!Number.isInteger(ver) || ver <= 0 || ver > 0xffffffff)
            throw new RangeError('version_information versions must be non-zero 32-bit integers');
          b.writeUInt32BE(ver, 4 * i);
        });
        body = b;
        break;
      }
    }
    parts.push([spec.id, body]);
  }
  if (options.grease) {
    const n = randomBytes(4).readUInt32BE(0) % 1000;
    parts.push([31 * n + 27, randomBytes(n % 8)]);
  }
  let size = 0;
  for (const [id, body] of parts)
    size += varintLength(id) + varintLength(body.length) + body.length;
  const out = Buffer.allocUnsafe(size);
  let p = 0;
  for (const [id, body] of parts) {
    p = writeVarint(out, p, id);
    p = writeVarint(out, p, body.length);
    out.set(body, p);
    p += body.length;
  }
  return out;
}

/**
 * RFC 9000 §7.3: the connection IDs of the handshake, authenticated by the peer's transport
 * parameters: its initial_source_connection_id is the SCID of its first Initial; a server's
 * original_destination_connection_id is the DCID of the client's first Initial, and its
 * retry_source_connection_id the SCID of its Retry (present exactly when there was one).
 */
export function authenticateConnectionIds(
  tp: TransportParameters,
  sender: Role,
  seen: { peerInitialScid?: Uint8Array; originalDcid: Uint8Array; retrySourceCid?: Uint8Array },
): void {
  const mismatch = (name: string): never => {
    throw new QuicError(PROTOCOL_VIOLATION, `${name} mismatch`);
  };
  if (!equalBytes(tp.initialSourceConnectionId, seen.peerInitialScid))
    mismatch('initial_source_connection_id');
  if (sender !== 'server') return;
  if (!equalBytes(tp.originalDestinationConnectionId, seen.originalDcid))
    mismatch('original_destination_connection_id');
  if (seen.retrySourceCid) {
    if (!tp.retrySourceConnectionId)
      throw new QuicError(
        TRANSPORT_PARAMETER_ERROR,
        'retry_source_connection_id missing after Retry',
      );
    if (!equalBytes(tp.retrySourceConnectionId, seen.retrySourceCid))
      mismatch('retry_source_connection_id');
  } else if (tp.retrySourceConnectionId)
    throw new QuicError(TRANSPORT_PARAMETER_ERROR, 'retry_source_connection_id without Retry');
}
