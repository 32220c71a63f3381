/**
 * The state of a connection as the files that hold its parts see it (ack-dispatch.ts,
 * timers.ts, receive.ts, version-change.ts): plain functions that take the connection, so
 * that no part is an object of its own (memory per connection) and no call goes through a
 * closure. `Connection` (connection.ts) is the one implementation; these members are
 * internal to lib/quic.
 */
import type { PacketKey } from '../crypto/packet.js';
import type { HandshakeInfo } from '../tls/engine.js';
import type { Ecn, PacketSpace } from './ack-tracker.js';
import type { ConnectionIds } from './cid.js';
import type { CloseInfo, ClosePeriod, ConnectionCloseFrame } from './close.js';
import type { ConnectionConfig } from './config.js';
import type { ControlFrames } from './control-frames.js';
import type { EcnValidator } from './ecn.js';
import type { ConnectionCounters, ConnectionEvent, ConnectionState } from './events.js';
import type { Frame } from './frames.js';
import type { TlsHandshake } from './handshake.js';
import type { PacketHeader } from './header.js';
import type { AppKeys } from './key-phases.js';
import type { Packetizer } from './packetizer.js';
import type { Address, Path } from './path.js';
import type { Pmtud } from './pmtud.js';
import type { QlogEvent } from './qlog.js';
import type { RandomSource } from './random.js';
import type { LossDetection } from './recovery/index.js';
import type { PacketMeta, Space } from './spaces.js';
import type { StreamSet } from './stream-set.js';
import type { ResolvedTransportParameters } from './transport-params.js';

/** HandshakeInfo as a connection keeps it: the peer's encoded transport parameters as a latin1
 * string (memory per connection: no Buffer and ArrayBuffer of their own). */
export type StoredHandshakeInfo = Omit<HandshakeInfo, 'peerTransportParameters'> & {
  peerParameters: string | undefined;
};

/** What of a parameter set the connection reads once the handshake is confirmed (the rest was
 * applied, checked or taken over during the handshake). */
export type Limits = Pick<
  ResolvedTransportParameters,
  'activeConnectionIdLimit' | 'maxDatagramFrameSize' | 'ackDelayExponent' | 'maxUdpPayloadSize'
>;

/** Length of the connection IDs we issue (short headers are parsed with it). */
export const LOCAL_CID_LENGTH = 8;

export interface ConnectionCore {
  readonly role: 'client' | 'server';
  version: number;
  config: ConnectionConfig;
  readonly random: RandomSource;
  readonly tls: TlsHandshake;

  // Version negotiation (RFC 9368) and Retry (RFC 9000 §17.2.5).
  firstVersion: number;
  vnOriginalVersion: number;
  oldInitialRead: PacketKey | undefined;
  oldVersion: number;
  initialKeysDcid: Uint8Array;
  originalDcid: Uint8Array;
  retrySourceCid: Uint8Array | undefined;
  peerInitialScid: Uint8Array | undefined;
  token: Uint8Array;
  receivedFromPeer: boolean;

  // Connection IDs and the packet being processed.
  readonly cids: ConnectionIds;
  dcid: Uint8Array;
  packetDcid: Uint8Array;
  datagramEcn: Ecn;

  // Packet spaces, keys, recovery, path.
  peer: Limits | undefined;
  readonly spaces: [Space, Space, Space];
  readonly keys: AppKeys;
  readonly ld: LossDetection<PacketMeta>;
  readonly ecnEnabled: boolean;
  readonly ecn: EcnValidator;
  readonly pmtu: Pmtud;
  readonly path: Path;
  readonly streams: StreamSet;
  readonly control: ControlFrames;
  readonly packets: Packetizer;
  /** Keys to destroy once the packets being built with them are protected. */
  retireKey(key: PacketKey): void;
  pendingPackets: Array<{ data: Uint8Array; remote: Address }>;

  // Lifecycle.
  _state: ConnectionState;
  info: StoredHandshakeInfo | undefined;
  handshakeConfirmed: boolean;
  readonly events: ConnectionEvent[];
  idleTimeout: number;
  lastActivity: number;
  lastReceived: number;
  ackElicitingSinceReceive: boolean;
  period: ClosePeriod | undefined;
  readonly _stats: ConnectionCounters;
  readonly qlog: ((e: QlogEvent) => void) | undefined;

  readonly oneRttAllowed: boolean;
  isOpen(): boolean;
  wall(now: number): number;
  installInitialKeys(dcid: Uint8Array): void;
  drainTls(now: number): void;
  onFrame(space: PacketSpace, f: Frame, now: number): void;
  confirmHandshake(now: number): void;
  endZeroRtt(accepted: boolean, now: number): void;
  discardSpace(space: PacketSpace, now: number): void;
  updateAmplification(now: number): void;
  onPeerKeyUpdate(pn: number, now: number): void;
  onMtuUpdated(old: number, now: number): void;
  drop(now: number, h: PacketHeader | undefined, size: number, trigger: string, why: string): void;
  beginClose(info: CloseInfo, now: number, frame?: ConnectionCloseFrame): void;
  fatal(e: unknown, now: number): void;
  terminate(): void;
  emitQlog(now: number, name: string, data: Record<string, unknown>): void;
}
