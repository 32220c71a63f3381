/**
 * A sans-IO QUIC connection (RFC 9000, 9001, 9002; v2 RFC 9369; DATAGRAM RFC 9221): datagrams
 * and time in, events and datagrams out. Its contract (ownership of received and written
 * buffers, events, the closing period) is described in ARCHITECTURE.md, "The connection".
 */
import {
  initialSecrets,
  PacketKey,
  UNPROTECT_AUTH_FAILED,
  UNPROTECT_KEY_PHASE,
  QUIC_V1,
} from '../crypto/packet.js';
import { enabled } from '../debug/log.js';
import { TlsAlert } from '../tls/alerts.js';
import type { TlsClientOptions } from '../tls/client.js';
import type { HandshakeInfo, Level } from '../tls/engine.js';
import { decodeAckDelay, Ecn, PacketSpace } from './ack-tracker.js';
import { PacketBuilder } from './builder.js';
import { equalBytes, ownCopy } from './bytes.js';
import { checkAddress, checkCode, checkNow } from './checks.js';
import { ConnectionIds, newLocalCid } from './cid.js';
import { ClosePeriod, qlogClosed, type CloseInfo, type ConnectionCloseFrame } from './close.js';
import {
  newStats,
  ourTransportParameters,
  resolveConfig,
  type ConnectionConfig,
} from './config.js';
import { ControlFrames } from './control-frames.js';
import { QuicError, TransportError } from './errors.js';
import type { ConnectionEvent, ConnectionState, ConnectionStats } from './events.js';
import { EcnValidator, type EcnPathState } from './ecn.js';
import { frameSize, FrameType, type EcnCounts, type Frame } from './frames.js';
import { TlsHandshake } from './handshake.js';
import {
  isStatelessReset,
  isSupportedVersion,
  MIN_INITIAL_DATAGRAM,
  splitDatagram,
  verifyRetry,
  type PacketHeader,
} from './header.js';
import { AppKeys } from './key-phases.js';
import { logDrop, logPacket } from './packet-log.js';
import { decodePacketNumber, readTruncatedPacketNumber } from './packet-number.js';
import { packetType, Packetizer } from './packetizer.js';
import {
  DCID_MISMATCH,
  NO_KEY,
  ReceiveBatch,
  readPacketFrames,
  statusName,
  unprotectPacket,
} from './parser.js';
import { Path, sameAddress, type Address } from './path.js';
import { MAX_UDP_PAYLOAD, Pmtud } from './pmtud.js';
import { hex, qlogFrame, qlogPacket, type QlogEvent } from './qlog.js';
import { randomSource, type RandomSource } from './random.js';
import {
  createCongestionController,
  LossDetection,
  Pacer,
  PacketNumberSkipper,
  type SentPacket,
} from './recovery/index.js';
import type { SendBuffer } from './send-buffer.js';
import { dequeue } from './queue.js';
import { DISCARDED_SPACE, Space, type PacketMeta } from './spaces.js';
import { StreamSet, type StreamRead } from './stream-set.js';
import {
  authenticateConnectionIds,
  decodeTransportParameters,
  withDefaults,
  type ResolvedTransportParameters,
} from './transport-params.js';
import {
  checkVersionInformation,
  clientOffers,
  SUPPORTED_VERSIONS,
  versionInformation,
} from './version.js';
import { encodeZeroRttLimits, zeroRttLimitsFit } from './zero-rtt.js';

export type { QlogEvent, Address, CloseInfo, ConnectionConfig };
export type { ConnectionEvent, ConnectionState, ConnectionStats } from './events.js';
export type { StreamRead } from './stream-set.js';
export type { CloseKind } from './close.js';

/** Length of the connection IDs we issue (short headers are parsed with it). */
export const LOCAL_CID_LENGTH = 8;
/**
 * One send slab per datagram size, shared by every connection: send() is synchronous and its
 * datagrams are consumed (copied or sent) before the next send() of any connection, so idle
 * connections hold no slab (ARCHITECTURE.md, "Memory per connection").
 */
const builders = new Map<number, PacketBuilder>();
function sharedBuilder(maxDatagramSize: number): PacketBuilder {
  let b = builders.get(maxDatagramSize);
  if (!b) {
    b = new PacketBuilder(MAX_DATAGRAMS_PER_SEND * maxDatagramSize, 3 * MAX_DATAGRAMS_PER_SEND);
    builders.set(maxDatagramSize, b);
  }
  return b;
}

/** receive()'s one-datagram list (empty between calls). */
const single: Uint8Array[] = [];

/** Receive batches for onDatagrams() (a pool: replayed packets nest a second batch). */
const batches: ReceiveBatch[] = [];
/** Datagrams unprotected per native call, and the packets a batch holds (room for some
 * coalesced packets beyond one per datagram). */
const BATCH_DATAGRAMS = 96;
const BATCH_PACKETS = 128;
type BatchKey = { key: PacketKey; largestPn: number; expectedKeyPhase: number };
/** batchKey()'s answer, consumed at once by the batch. */
const batchKey = {} as BatchKey;

function spaceOf(h: PacketHeader): PacketSpace {
  return h.type === 'initial' ? Initial : h.type === 'handshake' ? Handshake : App;
}

const NO_CID = new Uint8Array(0);
/** What remains of a connection's config once the handshake is confirmed (nothing is read). */
const CONFIRMED_CLIENT: ConnectionConfig = Object.freeze({ role: 'client', tls: {} });
const CONFIRMED_SERVER: ConnectionConfig = Object.freeze({ role: 'server', tls: {} });

const { Initial, Handshake, ApplicationData: App } = PacketSpace;
const LEVELS: Level[] = ['initial', 'handshake', 'application'];
const MAX_DATAGRAMS_PER_SEND = 48;
const MAX_BUFFERED_UNDECRYPTABLE = 8;
/** RFC 9000 §5.1.2: RETIRE_CONNECTION_ID frames we let pile up before refusing more CIDs. */
const MAX_PENDING_RETIRES = 64;

export class Connection {
  readonly role: 'client' | 'server';
  version: number;
  /** The configuration; only what the handshake needs: replaced by a shared stub once confirmed. */
  private config: ConnectionConfig;
  private readonly statelessResetTokenOf: ((cid: Uint8Array) => Uint8Array) | undefined;
  private readonly random: RandomSource;
  /** The TLS handshake and its engine. */
  private readonly tls: TlsHandshake;
  private readonly pnSkip: PacketNumberSkipper;
  /** RFC 9368: version of the client's first Initial; the version the client gave up after VN. */
  private firstVersion: number;
  private vnOriginalVersion = 0;
  private oldInitialRead: PacketKey | undefined;
  private oldVersion = 0;
  private initialKeysDcid: Uint8Array;
  /** Our and the peer's transport parameters: once confirmed, only what is still read. */
  private local: Limits;
  private peer: Limits | undefined;
  private readonly spaces: [Space, Space, Space];
  /** 0-RTT and 1-RTT keys and key phases. */
  private readonly keys = new AppKeys();
  private readonly ld: LossDetection<PacketMeta>;
  private readonly pacer = new Pacer();
  private readonly ecnEnabled: boolean;
  private readonly ecn: EcnValidator;
  /** Path MTU discovery: the size of our datagrams. */
  private readonly pmtu: Pmtud;

  // Connection IDs.
  private originalDcid: Uint8Array;
  private retrySourceCid: Uint8Array | undefined;
  private peerInitialScid: Uint8Array | undefined;
  /** @internal the client's Initial token (PacketizerHost) */
  token: Uint8Array;
  private readonly cids: ConnectionIds;
  /** Destination CID of the packet whose frames are being processed. */
  private packetDcid: Uint8Array = NO_CID;
  /** The ECN codepoint of the datagram being processed (receiveBatch()). */
  private datagramEcn: Ecn = Ecn.NotEct;

  private readonly path: Path;

  // Streams (with their flow control) and control frames.
  private readonly streams: StreamSet;
  /** HANDSHAKE_DONE, control frames and DATAGRAM frames to send. */
  private readonly control = new ControlFrames();
  /** Builds our datagrams from all of the above. */
  private readonly packets: Packetizer;

  // Lifecycle.
  private _state: ConnectionState = 'handshake';
  private info: StoredHandshakeInfo | undefined;
  private handshakeConfirmed = false;
  private readonly events: ConnectionEvent[] = [];
  private idleTimeout: number;
  private lastActivity: number;
  /** When a packet from the peer was last processed (lastActivity also counts our sends). */
  private lastReceived: number;
  private ackElicitingSinceReceive = false;
  /** The closing or draining period, once the connection ends (RFC 9000 §10.2). */
  private period: ClosePeriod | undefined;
  private readonly pendingPackets: Array<{ data: Uint8Array; remote: Address }> = [];
  private receivedFromPeer = false;
  /** Keys to destroy once the packets being built with them are protected. */
  private readonly retiredKeys: PacketKey[] = [];
  private readonly qlog: ((e: QlogEvent) => void) | undefined;
  /** @internal (PacketizerHost) */
  readonly qlogEmit:
    ((now: number, name: string, data: Record<string, unknown>) => void) | undefined;
  private readonly _stats: ConnectionStats;
  private readonly wallClockOffset: number;

  private constructor(
    config: ConnectionConfig,
    remote: Address,
    now: number,
    init: {
      scid: Uint8Array;
      dcid: Uint8Array;
      originalDcid: Uint8Array;
      version: number;
      peerInitialScid?: Uint8Array;
      retrySourceCid?: Uint8Array;
      addressValidated?: boolean;
    },
  ) {
    const settings = resolveConfig(config);
    this.config = config;
    this.statelessResetTokenOf = config.statelessResetToken;
    this.random = randomSource(config.random, 'config.random');
    this.pnSkip = new PacketNumberSkipper(this.random);
    this.role = config.role;
    this.version = init.version;
    if (!isSupportedVersion(this.version))
      throw new RangeError(`config.version 0x${this.version.toString(16)} is not supported`);
    this.ecnEnabled = settings.ecn;
    this.ecn = new EcnValidator(settings.ecn);
    this.pmtu = new Pmtud(settings.pmtud, settings.maxDatagramSize);
    this.wallClockOffset = settings.wallClockOffset;
    this.qlog = config.qlog;
    if (this.qlog) this.qlogEmit = (now, name, data) => this.emitQlog(now, name, data);
    this.token = settings.token;
    this.path = new Path(remote, this.role === 'client' || init.addressValidated === true);
    this.cids = new ConnectionIds(
      init.scid,
      init.dcid,
      LOCAL_CID_LENGTH,
      this.random,
      config.cidGenerator,
    );
    this.originalDcid = init.originalDcid;
    this.peerInitialScid = init.peerInitialScid;
    this.retrySourceCid = init.retrySourceCid;

    this.firstVersion = init.version;
    if (
      this.role === 'server' &&
      config.version !== undefined &&
      !isSupportedVersion(config.version)
    )
      throw new RangeError('config.version is not supported');
    const tp = ourTransportParameters(config, this.version, init, () =>
      this.resetTokenFor(init.scid),
    );
    const local = withDefaults(tp);
    this.local = local;

    this.spaces = [
      new Space(Initial, 0, 3),
      new Space(Handshake, 0, 3),
      new Space(App, local.maxAckDelay, local.ackDelayExponent),
    ];
    const cc = createCongestionController(config.cc ?? 'cubic', {
      maxDatagramSize: this.pmtu.size,
    });
    this.ld = new LossDetection<PacketMeta>({ isServer: this.role === 'server', cc });
    this.streams = new StreamSet({
      server: this.role === 'server',
      local,
      sendBuffer: settings.bounds.streamSendBuffer,
      connectionSendBuffer: settings.bounds.connectionSendBuffer,
      maxReassemblyRanges: settings.bounds.maxReassemblyRanges,
      maxReassemblyBytes: settings.bounds.maxReassemblyBytes,
      maxStreamWindow: settings.bounds.maxStreamWindow,
      maxConnectionWindow: settings.bounds.maxConnectionWindow,
      windowPool: config.windowPool,
      events: this.events,
      ctrl: this.control.queue,
    });
    this.idleTimeout = local.maxIdleTimeout || Infinity;
    this.lastActivity = now;
    this.lastReceived = now;
    this._stats = newStats(now);
    this.packets = new Packetizer(this, {
      spaces: this.spaces,
      keys: this.keys,
      path: this.path,
      ld: this.ld,
      pacer: this.pacer,
      control: this.control,
      streams: this.streams,
      stats: this._stats,
      pnSkip: this.pnSkip,
      ecn: this.ecn,
      pmtu: this.pmtu,
    });

    this.initialKeysDcid = init.dcid;
    this.installInitialKeys(this.initialKeysDcid);
    const tlsOptions: Record<string, unknown> = { ...(config.tls as object) };
    if (this.role === 'server' && tlsOptions.earlyData === true) {
      // RFC 9000 §7.4.1: tickets remember the limits 0-RTT may use; 0-RTT is accepted only
      // if the current ones are at least as large.
      tlsOptions.ticketAppData ??= encodeZeroRttLimits(local);
      tlsOptions.acceptEarlyData ??= (remembered: Buffer): boolean =>
        zeroRttLimitsFit(remembered, local);
    }
    // Encoding our parameters for the engine validates every value (RangeError/TypeError
    // naming the parameter).
    // A server preferring another version reads the whole ClientHello first (RFC 9368 §2.3).
    const decideVersion =
      this.role === 'server' && (config.version ?? this.version) !== this.version;
    this.tls = new TlsHandshake(this.role, tlsOptions, tp, decideVersion);
    this.emitQlog(now, 'transport:connection_started', {
      role: this.role,
      version: this.version.toString(16),
      src_cid: hex(init.scid),
      dst_cid: hex(this.dcid),
      dst_ip: remote.address,
      dst_port: remote.port,
    });
  }

  // ---------------------------------------------------------------- construction

  /** Starts a client connection; the ClientHello is ready for send(). */
  static connect(config: ConnectionConfig, remote: Address, now: number): Connection {
    checkNow(now);
    checkAddress(remote, 'remote');
    if (config?.role !== 'client') throw new TypeError("config.role must be 'client'");
    const version = config.version ?? QUIC_V1;
    if (typeof version !== 'number' || !isSupportedVersion(version))
      throw new RangeError('config.version must be QUIC_V1 or QUIC_V2');
    const random = randomSource(config.random, 'config.random');
    const dcid = random(LOCAL_CID_LENGTH);
    const c = new Connection(config, remote, now, {
      scid: random(LOCAL_CID_LENGTH),
      dcid,
      originalDcid: dcid,
      version,
    });
    try {
      c.tls.start(c.wall(now));
      c.drainTls(now);
    } catch (e) {
      c.fatal(e, now);
    }
    return c;
  }

  /**
   * Server side for a client's first Initial datagram (already checked by the endpoint: long
   * header, supported version, >= 1200 bytes). `info` as in the contract.
   */
  static accept(
    config: ConnectionConfig,
    firstDatagram: Uint8Array,
    remote: Address,
    now: number,
    info: {
      originalDcid?: Uint8Array;
      retrySourceCid?: Uint8Array;
      addressValidated?: boolean;
      /** The ECN codepoint `firstDatagram` arrived with. */
      ecn?: number;
    } = {},
  ): Connection {
    checkNow(now);
    checkAddress(remote, 'remote');
    if (!(firstDatagram instanceof Uint8Array))
      throw new TypeError('firstDatagram must be a Uint8Array');
    if (config?.role !== 'server') throw new TypeError("config.role must be 'server'");
    const { packets } = splitDatagram(firstDatagram, LOCAL_CID_LENGTH);
    const h = packets[0];
    if (!h || h.type !== 'initial')
      throw new RangeError('firstDatagram must start with an Initial packet');
    const random = randomSource(config.random, 'config.random');
    const scid = newLocalCid(LOCAL_CID_LENGTH, random, config.cidGenerator);
    const c = new Connection(config, remote, now, {
      scid,
      dcid: ownCopy(h.scid),
      originalDcid: ownCopy(info.originalDcid ?? h.dcid),
      version: h.version,
      peerInitialScid: ownCopy(h.scid),
      retrySourceCid: info.retrySourceCid ? ownCopy(info.retrySourceCid) : undefined,
      addressValidated: info.addressValidated,
    });
    // Initial keys come from the DCID of this Initial (the Retry SCID after a Retry).
    c.initialKeysDcid = ownCopy(h.dcid);
    c.installInitialKeys(c.initialKeysDcid);
    c.receiveBatch([firstDatagram], remote, now, [info.ecn ?? 0]);
    return c;
  }

  private installInitialKeys(dcid: Uint8Array): void {
    const s = initialSecrets(this.version, dcid);
    const sp = this.spaces[Initial];
    const suite = 'TLS_AES_128_GCM_SHA256';
    sp.writeKey = PacketKey.fromSecret(
      suite,
      this.role === 'client' ? s.client : s.server,
      this.version,
    );
    sp.readKey = PacketKey.fromSecret(
      suite,
      this.role === 'client' ? s.server : s.client,
      this.version,
    );
  }

  private wall(now: number): number {
    return now + this.wallClockOffset;
  }

  private resetTokenFor(cid: Uint8Array): Uint8Array {
    const t = this.statelessResetTokenOf?.(cid) ?? this.random(16);
    if (!(t instanceof Uint8Array) || t.length !== 16)
      throw new RangeError('statelessResetToken must return 16 bytes');
    return t;
  }

  // ---------------------------------------------------------------- public state

  get state(): ConnectionState {
    return this._state;
  }

  /** What the handshake negotiated (a new object each time: its Buffer is made on demand). */
  get handshake(): HandshakeInfo | undefined {
    const i = this.info;
    if (!i) return undefined;
    const { peerParameters, ...info } = i;
    const bytes = peerParameters === undefined ? undefined : Buffer.from(peerParameters, 'latin1');
    return { ...info, peerTransportParameters: bytes };
  }

  get stats(): ConnectionStats {
    const s = this._stats;
    const rtt = this.ld.rtt;
    s.cwnd = this.ld.cc.cwnd;
    s.bytesInFlight = this.ld.bytesInFlight;
    s.smoothedRtt = rtt.smoothedRtt;
    s.minRtt = rtt.hasSample ? rtt.minRtt : 0;
    s.latestRtt = rtt.latestRtt;
    s.optimisticAcks = this.ld.stats.optimisticAcks;
    s.pmtu = this.pmtu.size;
    s.pmtuProbesSent = this.pmtu.probesSent;
    s.pmtuProbesLost = this.pmtu.probesLost;
    return { ...s, ...this.streams.stats };
  }

  /** The connection IDs we issued and have not retired (for the endpoint's routing table). */
  localConnectionIds(): Uint8Array[] {
    return this.cids.localIds();
  }

  /** @internal our first CID: the SCID of our long headers (PacketizerHost; a copy, made for
   * the few long-header packets: the connection keeps it as a string). */
  get scid(): Uint8Array {
    return this.cids.firstCid;
  }

  /** The ALPN protocol the TLS handshake chose, or undefined before it did: a server's is
   * known from the ClientHello on, before any stream (0-RTT included) is delivered. */
  get alpnProtocol(): string | undefined {
    return this.info ? this.info.alpn : this.tls.alpn;
  }

  /** @internal memory per connection: whether the TLS engine is still held. */
  get tlsEngineHeld(): boolean {
    return this.tls.engineHeld;
  }

  /** @internal memory per connection: what else the handshake left (false once released). */
  get handshakeStateHeld(): { initialSpace: boolean; handshakeSpace: boolean; appCrypto: boolean } {
    return {
      initialSpace: !this.spaces[Initial].discarded,
      handshakeSpace: !this.spaces[Handshake].discarded,
      appCrypto: this.spaces[App].cryptoHeld,
    };
  }

  /** @internal tests: the 1-RTT CRYPTO stream's send side (post-handshake messages). */
  get appCryptoSend(): SendBuffer {
    return this.spaces[App].cryptoSend;
  }

  /** @internal the endpoint's half-open expiry (Endpoint.onTimeout): when a packet from the
   * peer was last processed, and our PTO now, with its backoff (RFC 9002 §6.2.1). */
  get peerActivity(): { at: number; pto: number } {
    return { at: this.lastReceived, pto: this.pto() * 2 ** Math.min(this.ld.ptoCount, 16) };
  }

  /** @internal the endpoint takes back this connection's share of its window pool
   * (Endpoint.remove; WindowPool in flow-control.ts). */
  releaseWindowPool(): void {
    this.streams.recvWindow.release();
  }

  /** RFC 9001 §4.9.1: the Initial keys are discarded (a server: the client's first Handshake
   * packet arrived, so it processed our first flight). */
  get initialDiscarded(): boolean {
    return this.spaces[Initial].discarded;
  }

  /** The largest datagram this connection may write now: with path MTU discovery, the size
   * it found so far (pmtud.ts); else config.maxDatagramSize. */
  get maxDatagramSize(): number {
    return this.pmtu.size;
  }

  /** The path's remote address (changes on NAT rebinding). */
  get remoteAddress(): Address {
    return this.path.remote;
  }

  poll(): ConnectionEvent | undefined {
    return dequeue(this.events);
  }

  // ---------------------------------------------------------------- timers

  nextTimeout(): number {
    if (this._state === 'closed') return Infinity;
    if (this.period) return this.period.deadline;
    let t = Math.min(this.idleDeadline(), this.ld.nextTimeout(), this.keys.nextTimeout);
    // Send timers only when sending is possible (no wake-ups while amplification-bound).
    if (this.path.amplificationRoom() >= MIN_INITIAL_DATAGRAM) {
      for (const sp of this.spaces) {
        const key = sp === this.spaces[App] ? this.keys.write : sp.writeKey;
        if (key) t = Math.min(t, sp.acks.nextTimeout());
      }
      if (this.packets.pacingAt > 0) t = Math.min(t, this.packets.pacingAt);
    }
    return t;
  }

  private idleDeadline(): number {
    const pto = this.pto();
    return this.lastActivity + Math.max(this.idleTimeout, 3 * pto);
  }

  private pto(): number {
    return this.ld.rtt.ptoBase() + this.ld.maxAckDelay;
  }

  onTimeout(now: number): void {
    checkNow(now);
    if (this._state === 'closed') return;
    try {
      if (this.period) {
        if (now >= this.period.deadline) this.terminate();
        return;
      }
      if (now >= this.idleDeadline()) {
        // RFC 9000 §10.1: silently closed.
        const info = { code: 0, reason: 'idle timeout', application: false, remote: false };
        return this.beginClose({ kind: 'idle', ...info }, now);
      }
      this.keys.onTimeout(now);
      if (this.packets.pacingAt > 0 && now >= this.packets.pacingAt) this.packets.pacingAt = 0;
      if (now >= this.ld.nextTimeout()) {
        const a = this.ld.onTimeout(now);
        if (a.kind === 'lost') {
          for (const p of a.lost) this.onLost(a.space, p, now);
        } else if (a.kind === 'pto') {
          this.onPto(a.space, a.probes);
        } else if (a.kind === 'anti-deadlock') {
          this.spaces[a.space].probes = 1;
        }
      }
    } catch (e) {
      this.fatal(e, now);
    }
  }

  private onPto(space: PacketSpace, probes: number): void {
    const sp = this.spaces[space];
    if (!sp.writeKey && !(space === App && this.keys.write)) {
      // RFC 9002 §6.2.4: probe in a space we can send in.
      for (const s of [Handshake, Initial] as const)
        if (this.spaces[s].writeKey) return this.onPto(s, probes);
      return;
    }
    sp.probes = probes;
    // RFC 9002 §6.2.4: probes carry unacknowledged CRYPTO data when there is some.
    sp.resendCrypto();
    // §6.2.4: and "ack-eliciting packets from other packet number spaces with in-flight data".
    // A client whose HANDSHAKE_DONE was lost probes Handshake packets the server can no longer
    // read: its 1-RTT probe is what lets the server see a new address after a NAT rebinding
    // (RFC 9000 §9.3) and answer there.
    if (space !== App && this.ld.spaces[App].ackElicitingInFlight > 0 && this.oneRttAllowed)
      this.spaces[App].probes = Math.max(this.spaces[App].probes, 1);
  }

  // ---------------------------------------------------------------- receiving

  /** Processes one datagram from the network. Never throws for any datagram content. */
  receive(datagram: Uint8Array, remote: Address, now: number): void {
    // One list for every call (no allocation per datagram); a nested call gets its own.
    const list = single[0] === undefined ? single : [];
    list[0] = datagram;
    try {
      this.receiveBatch(list, remote, now);
    } finally {
      list.length = 0; // the datagram is not kept reachable from here
    }
  }

  /**
   * Processes datagrams from `remote`, in order. Datagrams that are views into one buffer are
   * unprotected with one native call (ARCHITECTURE.md, "Data path"). `ecn[i]`, when given, is
   * the ECN codepoint datagram i arrived with (the IP header's low two TOS bits; RFC 9000
   * §13.4.1 counts them per packet). Takes ownership of the datagrams (see receive()). Never
   * throws for any datagram content.
   */
  receiveBatch(
    datagrams: readonly Uint8Array[],
    remote: Address,
    now: number,
    ecn?: readonly number[],
  ): void {
    if (!Array.isArray(datagrams)) throw new TypeError('datagrams must be an array');
    for (const d of datagrams)
      if (!(d instanceof Uint8Array)) throw new TypeError('datagram must be a Uint8Array');
    if (ecn !== undefined && (!Array.isArray(ecn) || ecn.length !== datagrams.length))
      throw new TypeError('ecn must hold one codepoint per datagram');
    checkAddress(remote, 'remote');
    checkNow(now);
    try {
      for (let i = 0; i < datagrams.length;) {
        let j = i + 1;
        // A read can bring thousands of datagrams (GRO): batches of a size the unprotect
        // batch holds (packets beyond its capacity would be opened one by one).
        const buffer = datagrams[i]!.buffer;
        while (j < datagrams.length && j - i < BATCH_DATAGRAMS && datagrams[j]!.buffer === buffer)
          j++;
        this.onDatagrams(datagrams, i, j, remote, now, false, ecn);
        i = j;
      }
      // Memory per idle connection: the 1-RTT CRYPTO stream holds nothing between tickets.
      if (this.handshakeConfirmed) this.spaces[App].compactCrypto();
    } catch (e) {
      this.fatal(e, now);
    }
  }

  /** Datagrams [from, to) of `list`, which share one buffer: one batch. */
  private onDatagrams(
    list: readonly Uint8Array[],
    from: number,
    to: number,
    remote: Address,
    now: number,
    replay: boolean,
    ecn?: readonly number[],
  ): void {
    if (this._state === 'closed' || this._state === 'draining') return;
    // One datagram is its own slab; several are offsets into their common buffer.
    const first = list[from]!;
    const slab = to - from === 1 ? first : new Uint8Array(first.buffer);
    const batch = batches.pop() ?? new ReceiveBatch(LOCAL_CID_LENGTH, BATCH_PACKETS);
    try {
      batch.reset(slab);
      if (this._state !== 'closing') {
        Connection.keying = this;
        for (let k = from; k < to; k++) {
          const start = slab === first ? 0 : list[k]!.byteOffset;
          batch.addDatagram(start, start + list[k]!.length, k, Connection.lookupKey);
        }
        batch.run();
      }
      let p = 0;
      for (let k = from; k < to; k++) {
        let q = p;
        while (q < batch.length && batch.tag(q) === k) q++;
        const start = slab === first ? 0 : list[k]!.byteOffset;
        this.datagramEcn = ((ecn?.[k] ?? 0) & 3) as Ecn;
        this.onDatagram(slab, start, start + list[k]!.length, batch, p, q, remote, now, replay);
        p = q;
      }
    } finally {
      batch.release(); // no received buffer stays reachable from the pool
      batches.push(batch);
      Connection.keying = undefined;
      this.packetDcid = NO_CID; // a view into the datagram
      this.datagramEcn = Ecn.NotEct;
    }
  }

  /** The key a packet is unprotected with in the batch, when that needs no decision (a
   * version change, a key phase change, keys that come with earlier packets): the rest are
   * left to onPacket(). */
  private batchKey(h: PacketHeader): BatchKey | undefined {
    if (h.type !== '1rtt' && h.version !== this.version) return undefined;
    const space = spaceOf(h);
    const sp = this.spaces[space];
    if (sp.discarded) return undefined;
    const keys = this.keys;
    const key =
      space !== App
        ? sp.readKey
        : h.type === '1rtt'
          ? keys.read
          : this.role === 'server' && keys.readPhaseStartPn < 0
            ? keys.zeroRttRead
            : undefined;
    if (!key) return undefined;
    batchKey.key = key;
    batchKey.largestPn = sp.acks.largestReceived;
    batchKey.expectedKeyPhase = keys.readPhase;
    return batchKey;
  }

  /** The connection whose datagrams are being split (addDatagram() is synchronous), and one
   * lookup for all connections: no closure per connection (memory per connection). */
  private static keying: Connection | undefined;
  private static readonly lookupKey = (h: PacketHeader): BatchKey | undefined =>
    Connection.keying!.batchKey(h);

  /** The packets [from, to) of the datagram slab[start, end). */
  private onDatagram(
    slab: Uint8Array,
    start: number,
    end: number,
    batch: ReceiveBatch,
    from: number,
    to: number,
    remote: Address,
    now: number,
    replay: boolean,
  ): void {
    if (this._state === 'closed' || this._state === 'draining') return;
    if (!replay) {
      this._stats.bytesReceived += end - start;
      if (sameAddress(remote, this.path.remote)) this.path.bytesReceived += end - start;
    }
    if (this.period) return this.period.onDatagram(); // closing (RFC 9000 §10.2.1)
    if (from === to) this.drop(now, undefined, end - start, 'invalid', 'unparseable datagram');
    const before = this._stats.packetsReceived;
    for (let i = from; i < to; i++) {
      const h = batch.header(i);
      if (!this.isOpen()) {
        if (this.closedByConvertedClose()) this.findApplicationClose(slab, batch, i, to);
        return;
      }
      if (h.type === 'version_negotiation') return this.onVersionNegotiation(h, now);
      if (h.type === 'retry') return this.onRetry(slab, h, now);
      this.onPacket(slab, h, batch.status(i), remote, now);
    }
    // RFC 9000 §10.3.1: a datagram we could not process that ends in a token the peer gave
    // us is a Stateless Reset.
    if (this._stats.packetsReceived === before && this.isOpen() && (slab[start]! & 0x80) === 0) {
      const d = slab.subarray(start, end);
      for (const c of this.cids.peer)
        if (c.token && isStatelessReset(d, c.token)) {
          const info = { code: 0, reason: 'stateless reset', application: false, remote: true };
          return this.beginClose({ kind: 'stateless-reset', ...info }, now);
        }
    }
    if (this.ld.amplificationLimited && this.role === 'server') this.updateAmplification(now);
  }

  /** The peer's close was an application close converted for an Initial/Handshake packet. */
  private closedByConvertedClose(): boolean {
    const e = this.period?.info;
    return e?.kind === 'peer' && !e.application && e.code === TransportError.APPLICATION_ERROR;
  }

  /**
   * RFC 9000 §10.2.3: a peer closing before the handshake is confirmed sends the application's
   * CONNECTION_CLOSE in 1-RTT and, replaced by APPLICATION_ERROR, in Initial/Handshake packets,
   * coalesced in one datagram. When we can read the 1-RTT one too, it says what the
   * application said: report that instead (nothing else in those packets is processed).
   */
  private findApplicationClose(buf: Uint8Array, batch: ReceiveBatch, from: number, to: number) {
    for (let i = from; i < to; i++) {
      const h = batch.header(i);
      const key = this.keys.read;
      if (h.type !== '1rtt' || !key) continue;
      let pn = batch.status(i);
      if (pn === NO_KEY)
        pn = unprotectPacket(
          key,
          buf,
          h,
          this.spaces[App].acks.largestReceived,
          this.keys.readPhase,
        );
      if (pn < 0) continue;
      let frames: Frame[];
      try {
        frames = readPacketFrames(buf, h);
      } catch {
        continue; // malformed: the close we have stands
      }
      for (const f of frames)
        if (f.type === 'connection_close' && f.application) {
          // The queued 'closed' event holds this same object.
          const e = this.period!.info;
          e.code = f.errorCode;
          e.reason = Buffer.from(f.reason).toString('utf8');
          e.application = true;
          return;
        }
    }
  }

  /**
   * One packet of a datagram. `status` is what the batch did with it: the packet number once
   * unprotected, NO_KEY when it is left to this function, or an unprotect/§12.2 status.
   */
  private onPacket(
    buf: Uint8Array,
    h: PacketHeader,
    status: number,
    remote: Address,
    now: number,
  ): void {
    const size = h.end - h.start;
    if (status === DCID_MISMATCH) return this.drop(now, h, size, 'invalid', statusName(status));
    let oldInitial = false;
    let leftVersion = 0; // client: the version this packet moved us from, until it authenticates
    if (h.type !== '1rtt' && h.version !== this.version) {
      if (h.type !== 'initial') return this.drop(now, h, size, 'unsupported', 'version');
      if (this.role === 'server' && this.oldInitialRead && h.version === this.oldVersion)
        oldInitial = true; // Client Initials sent before it saw our switch (RFC 9368 §2.3).
      else if (
        this.role === 'client' &&
        this.version === this.firstVersion &&
        !this.vnOriginalVersion &&
        !this.spaces[Handshake].readKey
      ) {
        // Compatible version negotiation (RFC 9368 §2.3): once, before the ServerHello. A
        // server may first acknowledge part of a multi-packet ClientHello in the original
        // version before it can choose (ngtcp2 does), so earlier packets do not prevent it.
        leftVersion = this.version;
        this.switchVersion(h.version);
      } else return this.drop(now, h, size, 'unsupported', 'version');
    }
    const space = spaceOf(h);
    const sp = this.spaces[space];
    if (sp.discarded) return this.drop(now, h, size, 'key_unavailable', 'keys discarded');
    // RFC 9000 §17.2.3: only clients send 0-RTT; servers drop it once 1-RTT keys are in use.
    if (h.type === '0rtt' && (this.role === 'client' || this.keys.readPhaseStartPn >= 0))
      return this.drop(now, h, size, 'rejected', '0-RTT');
    if (h.type === '1rtt' && !this.cids.isFirst(h.dcid) && !this.cids.isLocal(h.dcid))
      return this.drop(now, h, size, 'connection_unknown', 'DCID');
    const largest = sp.acks.largestReceived;
    let pn = status;
    if (pn === NO_KEY) {
      const key = oldInitial
        ? this.oldInitialRead
        : h.type === '0rtt'
          ? this.keys.zeroRttRead
          : space === App
            ? this.keys.read
            : sp.readKey;
      if (!key) {
        // RFC 9001 §5.7: keep a few packets that arrive before their keys.
        // (0-RTT only until the server's TLS decided: its handshake keys come with that.)
        const undecided = h.type !== '0rtt' || !this.spaces[Handshake].readKey;
        if (
          this.pendingPackets.length < MAX_BUFFERED_UNDECRYPTABLE &&
          space !== Initial &&
          undecided
        )
          this.pendingPackets.push({ data: Buffer.from(buf.subarray(h.start, h.end)), remote });
        return this.drop(now, h, size, 'key_unavailable', 'no key yet');
      }
      pn = unprotectPacket(key, buf, h, largest, h.type === '1rtt' ? this.keys.readPhase : -1);
    }
    let phaseChanged = false;
    if (pn === UNPROTECT_KEY_PHASE) {
      // RFC 9001 §6.3: another key phase than expected: the previous key (reordered) or the
      // next one. Header protection is off: the packet number and phase bit are readable.
      const first = buf[h.start]!;
      const pnLen = (first & 3) + 1;
      pn = decodePacketNumber(largest, readTruncatedPacketNumber(buf, h.pnOffset, pnLen), pnLen);
      const k = this.keys.forPhase((first >> 2) & 1, pn);
      if (!k || !k.key.open(buf, h.start, h.pnOffset - h.start + pnLen, h.end, pn))
        pn = UNPROTECT_AUTH_FAILED;
      else phaseChanged = k.next;
    }
    if (pn < 0 && leftVersion) this.switchVersion(leftVersion); // a forged or corrupt packet
    if (pn === UNPROTECT_AUTH_FAILED) return this.authFailed(h, now);
    if (pn < 0) return this.drop(now, h, size, 'invalid', statusName(pn));
    if (sp.acks.isDuplicate(pn)) return this.drop(now, h, size, 'duplicate', `packet ${pn}`);
    const frames = readPacketFrames(buf, h);
    if (phaseChanged) this.onPeerKeyUpdate(pn, now);
    else if (h.type === '1rtt') this.keys.onPacketReceived(pn);

    this.receivedFromPeer = true;
    this._stats.packetsReceived++;
    if (this.role === 'client' && h.type === 'initial' && !this.peerInitialScid) {
      // RFC 9000 §7.2: the server's SCID becomes our DCID.
      this.peerInitialScid = ownCopy(h.scid);
      this.dcid = this.peerInitialScid;
    }
    if (enabled('packets')) logPacket('rx', h.type, h.version, h.dcid, h.scid, pn, size, frames);
    if (this.qlog)
      this.emitQlog(
        now,
        'transport:packet_received',
        qlogPacket(h.type, pn, size, frames.map(qlogFrame)),
      );
    let ackEliciting = false;
    this.packetDcid = h.dcid;
    for (const f of frames) {
      if (f.type !== 'ack' && f.type !== 'padding' && f.type !== 'connection_close')
        ackEliciting = true;
      this.onFrame(space, f, now);
      if (!this.isOpen()) return;
    }
    // (Unless its frames completed the handshake and the space was discarded meanwhile, or a
    // STREAM frame was dropped: unacknowledged, the packet's frames are sent again.)
    const unacknowledged = this.streams.takeDropped();
    if (!sp.discarded) {
      if (unacknowledged) sp.acks.onPacketRefused(pn);
      else sp.acks.onPacketReceived(pn, ackEliciting, now, this.datagramEcn);
    }
    this.lastActivity = this.lastReceived = now;
    this.ackElicitingSinceReceive = false;
    // RFC 9000 §8.1: a Handshake packet from the client validates its address; RFC 9001
    // §4.9.1: the server discards Initial keys on the first Handshake packet.
    if (space === Handshake && this.role === 'server') {
      this.path.validated = true;
      this.updateAmplification(now);
      this.discardSpace(Initial, now);
    }
    // RFC 9000 §9.3: a non-probing packet with the largest pn from a new address: rebinding.
    if (space === App && !sameAddress(remote, this.path.remote) && pn >= sp.acks.largestReceived)
      this.onPeerAddressChange(remote, frames, now);
  }

  /** @internal the peer's connection ID we send with (PacketizerHost) */
  get dcid(): Uint8Array {
    return this.cids.current;
  }

  private set dcid(cid: Uint8Array) {
    this.cids.current = cid;
  }

  private isOpen(): boolean {
    return this._state === 'handshake' || this._state === 'established';
  }

  /** A packet (or a datagram, h undefined) dropped: counted, logged, in the qlog with its
   * qlog trigger (draft-ietf-quic-qlog-quic-events: packet_dropped). */
  private drop(
    now: number,
    h: PacketHeader | undefined,
    size: number,
    trigger: string,
    why: string,
  ): void {
    this._stats.packetsDropped++;
    const what = h ? `${h.type} packet` : 'datagram';
    logDrop('rx', what, why);
    if (this.qlog)
      this.emitQlog(now, 'transport:packet_dropped', {
        ...(h ? qlogPacket(h.type, undefined, size) : { raw: { length: size } }),
        trigger,
        details: why,
      });
  }

  /**
   * RFC 9001 §6.6: forged 1-RTT packets count against the AEAD integrity limit; past it the
   * connection closes with AEAD_LIMIT_REACHED.
   */
  private authFailed(h: PacketHeader, now: number): void {
    this.drop(now, h, h.end - h.start, 'decryption_failure', 'authentication failed');
    if (h.type !== '1rtt') return;
    const limit = this.keys.read?.suite.aead === 'chacha20-poly1305' ? 2 ** 36 : 2 ** 52;
    if (++this.keys.authFailures >= limit)
      throw new QuicError(TransportError.AEAD_LIMIT_REACHED, 'AEAD integrity limit reached');
  }

  private onPeerAddressChange(remote: Address, frames: Frame[], now: number): void {
    // RFC 9000 §9.1: packets with only probing frames do not move the path.
    const probing = frames.every(
      (f) =>
        f.type === 'path_challenge' ||
        f.type === 'path_response' ||
        f.type === 'new_connection_id' ||
        f.type === 'padding',
    );
    if (probing) return;
    if (this.role === 'client') return; // Servers do not migrate (no preferred_address).
    this.path.migrate(remote, this.random(8));
    this.ecn.onNewPath(this.ecnEnabled);
    // A new path (RFC 9000 §9) may carry less: back to the base size, and a new search.
    const old = this.pmtu.size;
    if (this.pmtu.onNewPath(now)) this.onMtuUpdated(old, now);
    this.events.push({ type: 'path-changed', remote });
    this.emitQlog(now, 'connectivity:connection_id_updated', {
      remote: `${remote.address}:${remote.port}`,
    });
  }

  private updateAmplification(now: number): void {
    if (this.role !== 'server') return;
    this.ld.setAmplificationLimited(this.path.amplificationLimited, now);
  }

  private onFrame(space: PacketSpace, f: Frame, now: number): void {
    switch (f.type) {
      case 'padding':
      case 'ping':
        return;
      case 'ack':
        return this.onAck(space, f.ranges, f.ackDelay, f.ecn, now);
      case 'crypto':
        return this.onCrypto(space, f.offset, f.data, now);
      case 'stream':
      case 'reset_stream':
      case 'stop_sending':
      case 'max_data':
      case 'max_stream_data':
      case 'max_streams':
      case 'data_blocked':
      case 'streams_blocked':
      case 'stream_data_blocked':
        return this.streams.received(f);
      case 'new_token':
        // RFC 9000 §19.7: servers never receive NEW_TOKEN.
        if (this.role === 'server')
          throw new QuicError(TransportError.PROTOCOL_VIOLATION, 'NEW_TOKEN from a client');
        this.events.push({ type: 'new-token', token: Buffer.from(f.token) });
        return;
      case 'new_connection_id':
        return this.onNewConnectionId(
          f.sequence,
          f.retirePriorTo,
          f.connectionId,
          f.statelessResetToken,
        );
      case 'retire_connection_id':
        return this.onRetireConnectionId(f.sequence);
      case 'path_challenge':
        this.path.onChallenge(f.data);
        return;
      case 'path_response':
        if (this.path.onResponse(f.data)) this.updateAmplification(now);
        return;
      case 'connection_close':
        return this.onConnectionClose(f.errorCode, f.reason, f.application, now);
      case 'handshake_done':
        // RFC 9000 §19.20: a server receiving HANDSHAKE_DONE is a PROTOCOL_VIOLATION.
        if (this.role === 'server')
          throw new QuicError(TransportError.PROTOCOL_VIOLATION, 'HANDSHAKE_DONE from a client', {
            frameType: FrameType.HANDSHAKE_DONE,
          });
        return this.confirmHandshake(now);
      case 'datagram': {
        // RFC 9221 §3: DATAGRAM without support or above our limit is a PROTOCOL_VIOLATION.
        const max = this.local.maxDatagramFrameSize;
        if (max === 0 || frameSize(f) > max)
          throw new QuicError(
            TransportError.PROTOCOL_VIOLATION,
            'DATAGRAM frame not allowed or too large',
            { frameType: FrameType.DATAGRAM },
          );
        this.events.push({ type: 'datagram', data: f.data });
        return;
      }
    }
  }

  private onAck(
    space: PacketSpace,
    ranges: { start: number; end: number }[],
    ackDelayField: number,
    ecn: EcnCounts | undefined,
    now: number,
  ): void {
    const exp = space === App ? (this.peer?.ackDelayExponent ?? 3) : 3;
    const r = this.ld.onAckReceived(space, ranges, decodeAckDelay(ackDelayField, exp), now);
    if (r.error)
      throw new QuicError(r.error, 'ACK of an unsent packet', { frameType: FrameType.ACK });
    // Consume the reused arrays before anything else calls into loss detection, and empty
    // them: they would keep the last acknowledged packets (and their frames) alive.
    const acked = r.acked.slice();
    const lost = r.lost.slice();
    r.acked.length = 0;
    r.lost.length = 0;
    for (const p of acked) this.onAcked(space, p, now);
    for (const p of lost) this.onLost(space, p, now);
    if (acked.length > 0) this.onAckEcn(space, ranges[0]!.end, acked, ecn, now);
    if (this.qlog && (acked.length || lost.length))
      this.emitQlog(now, 'recovery:metrics_updated', {
        smoothed_rtt: this.ld.rtt.smoothedRtt,
        min_rtt: this.ld.rtt.minRtt,
        latest_rtt: this.ld.rtt.latestRtt,
        congestion_window: this.ld.cc.cwnd,
        bytes_in_flight: this.ld.bytesInFlight,
      });
  }

  /** RFC 9000 §13.4.2.1: validates the ACK's ECN counts; a validated increase in CE is a
   * congestion signal (RFC 9002 §7.1), dated by the newest packet acknowledged. */
  private onAckEcn(
    space: PacketSpace,
    largest: number,
    acked: readonly SentPacket<PacketMeta>[],
    ecn: EcnCounts | undefined,
    now: number,
  ): void {
    let marked = 0;
    let newest = acked[0]!;
    for (const p of acked) {
      if (p.frames.ecn) marked++;
      if (p.pn > newest.pn) newest = p;
    }
    if (this.ecn.onAck(space, largest, marked, ecn) > 0)
      this.ld.cc.onCongestionEvent(newest.timeSent, now);
  }

  private onAcked(space: PacketSpace, p: SentPacket<PacketMeta>, now: number): void {
    const sp = this.spaces[space];
    if (space === App) {
      const old = this.pmtu.size;
      if (!p.mtuProbe) this.pmtu.onPacketAcked(p.pn, p.size);
      else if (this.pmtu.onProbeAcked(p.pn, now)) this.onMtuUpdated(old, now);
    }
    if (p.frames.phase >= 0) {
      // RFC 9001 §4.1.2: a client may consider the handshake confirmed on an ACK of 1-RTT.
      if (this.role === 'client' && !this.handshakeConfirmed && this.info)
        this.confirmHandshake(now);
      this.keys.onAcked(p.frames.phase, p.pn);
    }
    for (const f of p.frames.frames) {
      switch (f.t) {
        case 'ack':
          sp.acks.onAckAcknowledged(f.largest);
          break;
        case 'crypto':
          sp.cryptoAcked(f.offset, f.len);
          break;
        case 'stream':
        case 'reset':
        case 'stop':
        case 'max_stream_data':
          this.streams.onAcked(f);
          break;
        default:
          break;
      }
    }
  }

  private onLost(space: PacketSpace, p: SentPacket<PacketMeta>, now: number): void {
    const sp = this.spaces[space];
    if (this.qlog) this.emitQlog(now, 'recovery:packet_lost', qlogPacket(packetType(space), p.pn));
    // A path MTU probe carries nothing to send again (RFC 9000 §14.4).
    if (p.mtuProbe) return this.pmtu.onProbeLost(p.pn, now);
    this._stats.packetsLost++;
    if (p.frames.ecn) this.ecn.onMarkedLost();
    const old = this.pmtu.size;
    if (space === App && this.pmtu.onPacketLost(p.pn, p.size, now)) this.onMtuUpdated(old, now);
    for (const f of p.frames.frames) {
      switch (f.t) {
        case 'crypto':
          sp.cryptoLost(f.offset, f.len);
          break;
        case 'stream':
        case 'reset':
        case 'stop':
        case 'max_stream_data':
          this.streams.onLost(f);
          break;
        case 'handshake_done':
          this.control.handshakeDonePending = true;
          break;
        case 'challenge':
          // RFC 9000 §8.2.1: a new PATH_CHALLENGE (same data is fine) until validated.
          this.path.onChallengeLost();
          break;
        case 'ctrl':
          this.onCtrlLost(f.f);
          break;
        default:
          break;
      }
    }
  }

  private onCtrlLost(f: Frame): void {
    switch (f.type) {
      case 'max_data':
      case 'max_streams':
      case 'data_blocked':
      case 'streams_blocked':
      case 'stream_data_blocked':
        return this.streams.onCtrlLost(f);
      case 'new_connection_id':
        if (this.cids.hasLocal(f.sequence)) this.control.queue.push(f);
        return;
      case 'retire_connection_id':
      case 'new_token':
        this.control.queue.push(f);
        return;
      default:
        return;
    }
  }

  private onCrypto(space: PacketSpace, offset: number, data: Uint8Array, now: number): void {
    const sp = this.spaces[space];
    const err = sp.cryptoRecv.insert(offset, data);
    if (err) throw new QuicError(err, 'CRYPTO frame', { frameType: FrameType.CRYPTO });
    this.tls.receive(LEVELS[space]!, sp.cryptoRecv, this.wall(now), (ch) => this.decideVersion(ch));
    this.drainTls(now);
  }

  /** Server: switch to our preferred version if the client lists it (RFC 9368 §2.3). */
  private decideVersion(ch: Buffer): void {
    const want = this.config.version!;
    if (!clientOffers(ch, want)) return;
    this.oldInitialRead = this.spaces[Initial].readKey;
    this.oldVersion = this.version;
    this.retiredKeys.push(this.spaces[Initial].writeKey!);
    this.version = want;
    this.installInitialKeys(this.initialKeysDcid);
    this.tls.transportParameters.versionInformation!.chosenVersion = want;
    this.tls.restart();
  }

  /** Client: the server answered in another version we offered (RFC 9368 §2.3). */
  private switchVersion(version: number): void {
    if (!isSupportedVersion(version)) return;
    this.retiredKeys.push(this.spaces[Initial].readKey!, this.spaces[Initial].writeKey!);
    this.version = version;
    this.installInitialKeys(this.initialKeysDcid);
  }

  private drainTls(now: number): void {
    const tls = this.tls;
    for (let ev = tls.poll(); ev; ev = tls.poll()) {
      switch (ev.type) {
        case 'data': {
          const space =
            ev.level === 'initial' ? Initial : ev.level === 'handshake' ? Handshake : App;
          this.spaces[space].cryptoSend.write(ev.data);
          break;
        }
        case 'secret':
          this.installSecret(ev.level, ev.direction, ev.secret, ev.suite.name, now);
          break;
        case 'transport-parameters':
          this.onPeerTransportParameters(ev.data, now);
          break;
        case 'handshake-complete':
          this.info = storedInfo(ev.info);
          if (this.keys.zeroRttWrite) this.endZeroRtt(ev.info.earlyDataAccepted, now);
          this._state = 'established';
          this._stats.handshakeDurationMs = now - this._stats.handshakeStart;
          this.events.push({ type: 'handshake-complete', info: ev.info });
          // RFC 9001 §4.1.2: the server's handshake is confirmed when it completes.
          if (this.role === 'server') {
            this.control.handshakeDonePending = true;
            const nt = this.config.newToken?.(this.path.remote);
            if (nt && nt.length > 0) this.control.queue.push({ type: 'new_token', token: nt });
            this.confirmHandshake(now);
          }
          break;
        case 'session-ticket':
          this.events.push({ type: 'session-ticket', ticket: ev.ticket });
          break;
      }
    }
    // Memory per connection: let the engine go once it has nothing more to do.
    tls.release(this.info !== undefined, this.handshakeConfirmed);
  }

  private installSecret(
    level: Level,
    direction: 'read' | 'write',
    secret: Buffer,
    suite: string,
    now: number,
  ): void {
    const key = PacketKey.fromSecret(suite as never, secret, this.version);
    if (level === 'handshake') {
      const sp = this.spaces[Handshake];
      if (direction === 'read') sp.readKey = key;
      else {
        sp.writeKey = key;
        this.ld.onHandshakeKeysAvailable(now);
      }
    } else if (level === 'application') {
      if (direction === 'read') this.keys.read = key;
      else this.keys.write = key;
    } else if (direction === 'write') {
      this.keys.zeroRttWrite = key;
      this.applyRememberedParameters();
    } else this.keys.zeroRttRead = key;
    if (direction === 'read' && this.pendingPackets.length > 0) {
      const pending = this.pendingPackets.slice();
      this.pendingPackets.length = 0; // (splice(0) would keep the array's capacity)
      // Already counted when they arrived (amplification budget, stats).
      for (const p of pending) this.onDatagrams([p.data], 0, 1, p.remote, now, true);
    }
  }

  private onPeerTransportParameters(data: Uint8Array, now: number): void {
    // Decoded from a private copy: the CIDs kept are views into it, not into TLS buffers.
    const sender = this.role === 'client' ? 'server' : 'client';
    const tp = decodeTransportParameters(ownCopy(data), sender);
    authenticateConnectionIds(tp, sender, {
      peerInitialScid: this.peerInitialScid,
      originalDcid: this.originalDcid,
      retrySourceCid: this.retrySourceCid,
    });
    checkVersionInformation(tp.versionInformation, this.role, {
      version: this.version,
      firstVersion: this.firstVersion,
      vnOriginal: this.vnOriginalVersion,
    });
    const p = withDefaults(tp);
    this.peer = p;
    this.streams.applyPeerLimits(p);
    this.ld.setMaxAckDelay(p.maxAckDelay, now);
    // RFC 9000 §10.1: the effective idle timeout is the minimum of both (0 = none).
    if (p.maxIdleTimeout > 0) this.idleTimeout = Math.min(this.idleTimeout, p.maxIdleTimeout);
    if (p.statelessResetToken && this.role === 'client')
      this.cids.setPeerFirst(this.dcid, ownCopy(p.statelessResetToken));
    else this.cids.setPeerFirst(this.dcid, undefined);
    if (p.maxDatagramFrameSize === 0) this.control.clearDatagrams();
  }

  /** RFC 9000 §7.4.1: 0-RTT uses the server's transport parameters remembered in the ticket. */
  private applyRememberedParameters(): void {
    const t = (this.config.tls as TlsClientOptions).session?.transportParameters;
    if (!t) return;
    try {
      const p = withDefaults(decodeTransportParameters(t, 'server'));
      this.peer = p;
      this.streams.applyPeerLimits(p);
    } catch {
      // Unusable remembered parameters: no 0-RTT streams.
    }
  }

  /** Client: the handshake completed; 0-RTT ends (RFC 9001 §4.6.2: resend it if rejected). */
  private endZeroRtt(accepted: boolean, now: number): void {
    this.retiredKeys.push(this.keys.zeroRttWrite!);
    this.keys.zeroRttWrite = undefined;
    if (accepted) return;
    for (const p of this.ld.resetSpace(App, now)) {
      this.onLost(App, p, now);
      this._stats.packetsLost--;
    }
  }

  private confirmHandshake(now: number): void {
    if (this.handshakeConfirmed) return;
    this.handshakeConfirmed = true;
    this.ld.onHandshakeConfirmed(now);
    // RFC 9000 §14.3.1: path MTU discovery once the handshake is confirmed.
    this.pmtu.start(this.peer?.maxUdpPayloadSize ?? MAX_UDP_PAYLOAD, now);
    this.spaces[App].acks.startDecimation(this.ld.rtt);
    // RFC 9001 §4.9.2: Handshake keys are discarded once the handshake is confirmed.
    this.discardSpace(Initial, now);
    this.discardSpace(Handshake, now);
    this.issueConnectionIds();
    if (this.role === 'client') this.tls.release(true, true); // (a server's: after its flight)
    // Memory per connection: what only the handshake needed (the connection IDs, tokens and
    // version information of the parameters were checked and taken over).
    this.local = limitsOnly(this.local);
    if (this.peer) this.peer = limitsOnly(this.peer);
    this.originalDcid = this.initialKeysDcid = this.token = NO_CID;
    this.peerInitialScid = undefined;
    this.config = this.role === 'server' ? CONFIRMED_SERVER : CONFIRMED_CLIENT;
    this.tls.forgetOptions();
  }

  private discardSpace(space: PacketSpace, now: number): void {
    const sp = this.spaces[space];
    if (sp.discarded) return;
    sp.discarded = true;
    // Destroyed after the current send batch is protected (it may still use them).
    if (sp.readKey) this.retiredKeys.push(sp.readKey);
    if (sp.writeKey) this.retiredKeys.push(sp.writeKey);
    sp.readKey = sp.writeKey = undefined;
    sp.probes = 0;
    sp.release(); // (a send in progress may still hold `sp`)
    this.spaces[space] = DISCARDED_SPACE;
    this.ld.discardSpace(space, now);
    this.emitQlog(now, 'security:key_discarded', {
      key_type: space === Initial ? 'initial' : 'handshake',
    });
  }

  // ---------------------------------------------------------------- connection IDs

  private issueConnectionIds(): void {
    const limit = Math.min(
      this.peer?.activeConnectionIdLimit ?? 2,
      this.local.activeConnectionIdLimit,
    );
    for (const { seq, cid } of this.cids.issue(limit)) {
      this.events.push({ type: 'connection-id', action: 'add', cid });
      this.control.queue.push({
        type: 'new_connection_id',
        sequence: seq,
        retirePriorTo: 0,
        connectionId: cid,
        statelessResetToken: this.resetTokenFor(cid),
      });
    }
  }

  private onNewConnectionId(
    seq: number,
    retirePriorTo: number,
    cid: Uint8Array,
    token: Uint8Array,
  ): void {
    const retire = this.cids.onNew(
      seq,
      retirePriorTo,
      cid,
      token,
      this.local.activeConnectionIdLimit,
    );
    if (retire.length === 0) return;
    // RFC 9000 §5.1.2: bound the RETIRE_CONNECTION_ID frames waiting to be sent.
    let pending = retire.length;
    for (const f of this.control.queue) if (f.type === 'retire_connection_id') pending++;
    if (pending > MAX_PENDING_RETIRES)
      throw new QuicError(
        TransportError.CONNECTION_ID_LIMIT_ERROR,
        'too many connection IDs to retire',
        { frameType: FrameType.NEW_CONNECTION_ID },
      );
    for (const sequence of retire)
      this.control.queue.push({ type: 'retire_connection_id', sequence });
  }

  private onRetireConnectionId(seq: number): void {
    // RFC 9000 §19.16: retiring the CID the carrying packet was sent to is a violation.
    if (this.cids.isLocalSeq(seq, this.packetDcid))
      throw new QuicError(
        TransportError.PROTOCOL_VIOLATION,
        'RETIRE_CONNECTION_ID of the destination CID of its own packet',
        { frameType: FrameType.RETIRE_CONNECTION_ID },
      );
    const cid = this.cids.onRetire(seq);
    if (!cid) return;
    this.events.push({ type: 'connection-id', action: 'retire', cid });
    if (this.handshakeConfirmed) this.issueConnectionIds();
  }

  // ---------------------------------------------------------------- streams (API)

  /** Opens a stream; null when the peer's MAX_STREAMS is reached ('streams-available' later). */
  openStream(bidirectional: boolean): number | null {
    if (typeof bidirectional !== 'boolean') throw new TypeError('bidirectional must be a boolean');
    if (this._state !== 'established') {
      if (this._state !== 'handshake') throw new RangeError('connection is closed');
      // Before the handshake completes: only in 0-RTT (client) or 0.5-RTT (server).
      if (!this.earlySendAllowed()) return null;
    }
    return this.streams.open(bidirectional);
  }

  private earlySendAllowed(): boolean {
    const keys = this.keys;
    return this.role === 'client' ? !!keys.zeroRttWrite && !!this.peer : !!keys.write;
  }

  /** Queues data (kept by reference); returns the bytes accepted (0: full, 'writable' later). */
  write(id: number, data: Uint8Array, fin = false): number {
    if (this._state !== 'established' && !(this._state === 'handshake' && this.earlySendAllowed()))
      throw new RangeError('connection is not established');
    return this.streams.write(id, data, fin);
  }

  /** Ordered received data (a view), or null when nothing is ready. readChunk() also says when
   * the data ends. */
  read(id: number, max = Infinity): Uint8Array | null {
    return this.readChunk(id, max).data;
  }

  /** Ordered received data and, in the same call, whether it is the end of the stream. */
  readChunk(id: number, max = Infinity): StreamRead {
    return this.streams.readChunk(id, max);
  }

  /** True once all data up to the FIN was read (or the stream was reset). */
  isFinished(id: number): boolean {
    return this.streams.isFinished(id);
  }

  resetStream(id: number, code: number): void {
    this.streams.reset(id, code);
  }

  stopSending(id: number, code: number): void {
    this.streams.stopSending(id, code);
  }

  /** RFC 9221: queues a DATAGRAM frame; false when not negotiated or too large. */
  sendDatagram(data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    const max = this.peer?.maxDatagramFrameSize ?? 0;
    if (this._state !== 'established' || max === 0) return false;
    const size = frameSize({ type: 'datagram', data });
    if (size > max || size > this.maxDatagramSize - 1 - 20 - 4 - 16) return false;
    this.control.queueDatagram(data);
    return true;
  }

  /** RFC 9001 §6: starts a key update (after the handshake is confirmed). */
  updateKey(now: number): void {
    checkNow(now);
    if (!this.handshakeConfirmed || !this.keys.write || this._state !== 'established')
      throw new RangeError('key update needs a confirmed handshake');
    // §6.1: not before a packet of the current phase was acknowledged.
    if (!this.keys.mayUpdate) throw new RangeError('previous key update not yet acknowledged');
    this.rotateWriteKey(now, 'local_update');
  }

  private rotateWriteKey(now: number, trigger: 'local_update' | 'remote_update'): void {
    // The old key is destroyed once the packets being built with it are protected.
    this.retiredKeys.push(this.keys.rotateWrite(this.spaces[App].nextPn));
    this._stats.keyUpdates++;
    this.emitQlog(now, 'security:key_updated', {
      key_type: '1rtt',
      key_phase: this.keys.writePhase,
      trigger,
    });
  }

  private onPeerKeyUpdate(pn: number, now: number): void {
    // RFC 9001 §6.2: the peer moved to the next phase; §6.5 keep the old key for 3xPTO.
    const answer = this.keys.onPeerUpdate(pn, now, 3 * this.pto());
    this.emitQlog(now, 'security:key_updated', {
      key_type: '1rtt',
      key_phase: this.keys.readPhase,
      trigger: 'remote_update',
    });
    // §6.2: answer with our own update if we did not start it.
    if (answer) this.rotateWriteKey(now, 'remote_update');
  }

  /** Closes the connection: CONNECTION_CLOSE, then the closing period (RFC 9000 §10.2). */
  close(code: number, reason = '', application = true, now = this.lastActivity): void {
    checkCode(code);
    if (typeof reason !== 'string') throw new TypeError('reason must be a string');
    if (!this.isOpen()) return;
    const bytes = Buffer.from(reason, 'utf8').subarray(0, 512);
    this.beginClose({ kind: 'local', code, reason, application, remote: false }, now, {
      type: 'connection_close',
      application,
      errorCode: code,
      frameType: 0,
      reason: bytes,
    });
  }

  /**
   * Every end of the connection goes through here (RFC 9000 §10): the 'closed' event and the
   * qlog, then the closing period when we send `frame`, the draining period when the peer
   * ended it, or nothing at all for an idle timeout (§10.1) or a failed version negotiation.
   */
  private beginClose(info: CloseInfo, now: number, frame?: ConnectionCloseFrame): void {
    const silent = info.kind === 'idle' || info.kind === 'version-negotiation';
    this.period = new ClosePeriod(info, silent ? now : now + 3 * this.pto(), frame);
    this._state = frame ? 'closing' : 'draining';
    this.events.push({ type: 'closed', error: info });
    this.emitQlog(now, 'transport:connection_closed', qlogClosed(info));
    if (info.kind === 'idle') this.terminate();
  }

  private onConnectionClose(
    code: number,
    reason: Uint8Array,
    application: boolean,
    now: number,
  ): void {
    // RFC 9000 §10.2.2: enter the draining period; send nothing more.
    const text = Buffer.from(reason).toString('utf8');
    this.beginClose({ kind: 'peer', code, reason: text, application, remote: true }, now);
  }

  private terminate(): void {
    this._state = 'closed';
    for (const sp of this.spaces) {
      if (sp.discarded) continue; // keys already gone
      sp.readKey?.destroy();
      sp.writeKey?.destroy();
      sp.readKey = sp.writeKey = undefined;
    }
    this.keys.destroy();
    for (const k of this.retiredKeys) k.destroy();
    this.retiredKeys.length = 0;
    this.streams.clear();
    this.pendingPackets.length = 0;
  }

  /** A protocol error (ours or the peer's): close with the RFC 9000 §20 code. */
  private fatal(e: unknown, now: number): void {
    if (!this.isOpen()) return;
    let code: number = TransportError.INTERNAL_ERROR;
    let frameType = 0;
    let reason = e instanceof Error ? e.message : String(e);
    if (e instanceof QuicError) {
      code = e.code;
      frameType = e.frameType;
    } else if (e instanceof TlsAlert) {
      code = e.quicErrorCode;
    } else {
      if (process.env.ZQUIC_DEBUG_INTERNAL) console.error(e);
      reason = 'internal error';
    }
    this.beginClose({ kind: 'error', code, reason, application: false, remote: false }, now, {
      type: 'connection_close',
      application: false,
      errorCode: code,
      frameType,
      reason: Buffer.from(reason.slice(0, 200)),
    });
  }

  // ---------------------------------------------------------------- sending

  /**
   * Datagrams to send now, in a builder shared by every connection: the views are valid until
   * the next send() of any connection. (writeDatagrams() fills a builder of the caller's.)
   */
  send(now: number): { data: Uint8Array; remote: Address }[] {
    // (Sized for the largest datagram the connection may ever write.)
    const b = sharedBuilder(this.pmtu.maxDatagramSize);
    b.reset();
    const n = this.writeDatagrams(b, now, MAX_DATAGRAMS_PER_SEND);
    b.protect();
    const out: { data: Uint8Array; remote: Address }[] = [];
    for (let i = 0; i < n; i++) out.push({ data: b.datagram(i), remote: this.path.remote });
    return out;
  }

  /**
   * Writes the datagrams due now (at most `maxDatagrams`, as the builder's room allows) at the
   * end of the caller's batch `out`, and returns how many; they go to `remoteAddress`. The
   * caller seals the batch with `out.protect()` before it calls this connection again
   * (ARCHITECTURE.md, "Buffer ownership"). Call it until it returns 0.
   */
  writeDatagrams(out: PacketBuilder, now: number, maxDatagrams = MAX_DATAGRAMS_PER_SEND): number {
    checkNow(now);
    if (!(out instanceof PacketBuilder)) throw new TypeError('out must be a PacketBuilder');
    if (this._state === 'closed' || this._state === 'draining') return 0;
    const first = out.datagramCount;
    const period = this.period;
    this.ecn.startSend();
    try {
      if (period) {
        if (period.sendPending && this.packets.writeClose(out, now, period.frame!))
          period.sendPending = false;
      } else {
        // RFC 9001 §6.6: a new key well before the confidentiality limit.
        if (this.keys.updateDue && this.handshakeConfirmed)
          this.rotateWriteKey(now, 'local_update');
        this.packets.write(out, now, maxDatagrams);
      }
    } catch (e) {
      out.rollback(first);
      this.fatal(e, now);
      return this.writeDatagrams(out, now, maxDatagrams); // its CONNECTION_CLOSE
    }
    for (const k of this.retiredKeys) out.retire(k);
    this.retiredKeys.length = 0;
    return out.datagramCount - first;
  }

  /** The ECN codepoint the datagrams of the last writeDatagrams() call must carry (the IP
   * TOS low bits; 0 unless config.ecn). */
  get ecnCodepoint(): number {
    return this.ecn.codepoint;
  }

  /** Where ECN validation of this path stands (lib/quic/ecn.ts). */
  get ecnState(): EcnPathState {
    return this.ecn.state;
  }

  // ---------------------------------------------------------------- PacketizerHost

  /** @internal */
  get oneRttAllowed(): boolean {
    return this.role === 'server' || this.info !== undefined;
  }

  /** @internal */
  get established(): boolean {
    return this._state === 'established';
  }

  /** @internal RFC 9000 §10.1: the first ack-eliciting packet after a receive restarts the
   * idle timer. */
  onAckElicitingSent(now: number): void {
    if (this.ackElicitingSinceReceive) return;
    this.lastActivity = now;
    this.ackElicitingSinceReceive = true;
  }

  /** @internal RFC 9001 §4.9.1: the client discards Initial keys when it first sends a
   * Handshake packet. */
  onFirstHandshakePacket(now: number): void {
    this.discardSpace(Initial, now);
  }

  /** @internal */
  onPathBytesSent(now: number): void {
    if (!this.path.validated) this.updateAmplification(now);
  }

  /** @internal */
  onMtuProbeSent(pn: number): void {
    this.pmtu.onProbeSent(pn);
  }

  /** The path MTU changed: the congestion controller's datagram size follows (RFC 9002 §7.2),
   * and the qlog says so (draft-ietf-quic-qlog-quic-events: connectivity:mtu_updated). */
  private onMtuUpdated(old: number, now: number): void {
    this.ld.cc.setMaxDatagramSize(this.pmtu.size);
    this.emitQlog(now, 'connectivity:mtu_updated', {
      old,
      new: this.pmtu.size,
      done: this.pmtu.done,
    });
  }

  // ---------------------------------------------------------------- Retry / VN (client)

  private onRetry(buf: Uint8Array, h: PacketHeader, now: number): void {
    const drop = (why: string) => this.drop(now, h, h.end - h.start, 'rejected', why);
    // RFC 9000 §17.2.5.2: only one Retry, before any other packet from the server, valid tag.
    if (this.role !== 'client' || this.retrySourceCid || this.receivedFromPeer)
      return drop('unexpected Retry');
    if (equalBytes(h.scid, this.dcid)) return drop('Retry SCID equals our DCID');
    if (!verifyRetry(buf, h, this.originalDcid)) return drop('Retry integrity tag');
    this.retrySourceCid = ownCopy(h.scid);
    this.dcid = this.retrySourceCid;
    this.initialKeysDcid = this.dcid;
    this.token = ownCopy(h.token);
    this.spaces[Initial].readKey?.destroy();
    this.spaces[Initial].writeKey?.destroy();
    this.installInitialKeys(this.dcid);
    // RFC 9002 §6.3: Initial packets in flight are gone; the CRYPTO data is sent again.
    this.ld.resetSpace(Initial, now);
    const cs = this.spaces[Initial].cryptoSend;
    cs.onLost(0, cs.sentOffset, false);
    this.emitQlog(now, 'transport:packet_received', { header: { packet_type: 'retry' } });
  }

  private onVersionNegotiation(h: PacketHeader, now: number): void {
    const drop = (why: string) => this.drop(now, h, h.end - h.start, 'rejected', why);
    // RFC 9000 §6.2: ignore VN after any other packet or listing our version.
    if (this.role !== 'client' || this.receivedFromPeer) return drop('unexpected VN');
    if (!this.cids.isFirst(h.dcid) || !equalBytes(h.scid, this.originalDcid))
      return drop('VN connection IDs');
    const versions = h.supportedVersions ?? [];
    if (versions.includes(this.version)) return drop('VN lists our version');
    // RFC 9368 §2.1: incompatible negotiation: start again with a version both support.
    const next = SUPPORTED_VERSIONS.find((v) => versions.includes(v));
    if (next !== undefined && !this.vnOriginalVersion) return this.restartWithVersion(next, now);
    // RFC 9368 §4: no common version: abandon the attempt.
    const code = TransportError.VERSION_NEGOTIATION_ERROR;
    const reason = 'no common QUIC version';
    const info = { code, reason, application: false, remote: true };
    this.beginClose({ kind: 'version-negotiation', ...info }, now);
  }

  /**
   * RFC 9368 §2.1: a new connection attempt in `version` (a new Initial DCID and ClientHello,
   * the same SCID and streams); 0-RTT data goes again under the new attempt's keys.
   */
  private restartWithVersion(version: number, now: number): void {
    this.vnOriginalVersion = this.version;
    this.version = this.firstVersion = version;
    const initial = this.spaces[Initial];
    this.retiredKeys.push(initial.readKey!, initial.writeKey!);
    // A new CRYPTO stream; packet numbers go on (loss detection has seen the old ones).
    this.spaces[Initial] = new Space(Initial, 0, 3);
    this.spaces[Initial].nextPn = initial.nextPn;
    this.ld.resetSpace(Initial, now);
    if (this.keys.zeroRttWrite) this.endZeroRtt(false, now);
    const dcid = this.random(LOCAL_CID_LENGTH);
    this.dcid = this.originalDcid = this.initialKeysDcid = dcid;
    this.installInitialKeys(dcid);
    this.tls.transportParameters.versionInformation = versionInformation(version);
    this.tls.restart();
    this.tls.start(this.wall(now));
    this.drainTls(now);
    this._stats.handshakeStart = now;
  }

  // ---------------------------------------------------------------- qlog

  private emitQlog(now: number, name: string, data: Record<string, unknown>): void {
    if (!this.qlog) return;
    try {
      this.qlog({ time: now, name, data });
    } catch {
      // A failing observer must not break the connection.
    }
  }
}

/** HandshakeInfo as a connection keeps it: the peer's encoded transport parameters as a latin1
 * string (memory per connection: no Buffer and ArrayBuffer of their own). */
type StoredHandshakeInfo = Omit<HandshakeInfo, 'peerTransportParameters'> & {
  peerParameters: string | undefined;
};

function storedInfo(i: HandshakeInfo): StoredHandshakeInfo {
  const { peerTransportParameters: tp, ...rest } = i;
  return { ...rest, peerParameters: tp?.toString('latin1') };
}

/** What of a parameter set the connection reads once the handshake is confirmed (the rest was
 * applied, checked or taken over during the handshake). */
type Limits = Pick<
  ResolvedTransportParameters,
  'activeConnectionIdLimit' | 'maxDatagramFrameSize' | 'ackDelayExponent' | 'maxUdpPayloadSize'
>;

/** A parameter set's Limits, as a small object of their own. */
function limitsOnly(p: Limits): Limits {
  return {
    activeConnectionIdLimit: p.activeConnectionIdLimit,
    maxDatagramFrameSize: p.maxDatagramFrameSize,
    ackDelayExponent: p.ackDelayExponent,
    maxUdpPayloadSize: p.maxUdpPayloadSize,
  };
}
