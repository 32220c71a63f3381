/**
 * A sans-IO QUIC connection (RFC 9000, 9001, 9002; v2 RFC 9369; DATAGRAM RFC 9221): datagrams
 * and time in, events and datagrams out. Its contract (ownership of received and written
 * buffers, events, the closing period) is described in ARCHITECTURE.md, "The connection".
 */
import { initialSecrets, PacketKey, QUIC_V1 } from '../crypto/packet.js';
import { TlsAlert } from '../tls/alerts.js';
import type { TlsClientOptions } from '../tls/client.js';
import type { HandshakeInfo, Level } from '../tls/engine.js';
import { onAck, onLost } from './ack-dispatch.js';
import { Ecn, PacketSpace } from './ack-tracker.js';
import { PacketBuilder } from './builder.js';
import { ownCopy } from './bytes.js';
import { checkAddress, checkCode, checkNow } from './checks.js';
import { ConnectionIds, newLocalCid } from './cid.js';
import { ClosePeriod, qlogClosed, type CloseInfo, type ConnectionCloseFrame } from './close.js';
import {
  newCounters,
  ourTransportParameters,
  resolveConfig,
  type ConnectionConfig,
} from './config.js';
import { LOCAL_CID_LENGTH, type Limits, type StoredHandshakeInfo } from './connection-core.js';
import { ControlFrames } from './control-frames.js';
import { QuicError, TransportError } from './errors.js';
import type {
  ConnectionCounters,
  ConnectionEvent,
  ConnectionState,
  ConnectionStats,
} from './events.js';
import { EcnValidator, type EcnPathState } from './ecn.js';
import { appended, emptyArray } from './empty.js';
import { frameSize, FrameType, type Frame } from './frames.js';
import { TlsHandshake } from './handshake.js';
import { isSupportedVersion, splitDatagram, type PacketHeader } from './header.js';
import { AppKeys } from './key-phases.js';
import { logDrop } from './packet-log.js';
import { Packetizer } from './packetizer.js';
import { Path, type Address } from './path.js';
import { MAX_UDP_PAYLOAD, Pmtud } from './pmtud.js';
import { hex, qlogPacket, type QlogEvent } from './qlog.js';
import { randomSource, type RandomSource } from './random.js';
import {
  createCongestionController,
  LossDetection,
  Pacer,
  PacketNumberSkipper,
} from './recovery/index.js';
import { BATCH_DATAGRAMS, onDatagrams } from './receive.js';
import type { SendBuffer } from './send-buffer.js';
import { dequeue } from './queue.js';
import { DISCARDED_SPACE, Space, type PacketMeta } from './spaces.js';
import { StreamSet, type StreamRead } from './stream-set.js';
import {
  authenticateConnectionIds,
  decodeTransportParameters,
  withDefaults,
} from './transport-params.js';
import { nextDeadline, pto, runTimers } from './timers.js';
import { decideVersion } from './version-change.js';
import { checkVersionInformation } from './version.js';
import { encodeZeroRttLimits, zeroRttLimitsFit } from './zero-rtt.js';

export type { QlogEvent, Address, CloseInfo, ConnectionConfig };
export type { ConnectionEvent, ConnectionState, ConnectionStats } from './events.js';
export type { StreamRead } from './stream-set.js';
export type { CloseKind } from './close.js';
export { LOCAL_CID_LENGTH } from './connection-core.js';

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
const singleEcn = [0];

const NO_CID = new Uint8Array(0);
/** What remains of a connection's config once the handshake is confirmed (nothing is read). */
const CONFIRMED_CLIENT: ConnectionConfig = Object.freeze({ role: 'client', tls: {} });
const CONFIRMED_SERVER: ConnectionConfig = Object.freeze({ role: 'server', tls: {} });

const { Initial, Handshake, ApplicationData: App } = PacketSpace;
const LEVELS: Level[] = ['initial', 'handshake', 'application'];
const MAX_DATAGRAMS_PER_SEND = 48;
/** RFC 9000 §5.1.2: RETIRE_CONNECTION_ID frames we let pile up before refusing more CIDs. */
const MAX_PENDING_RETIRES = 64;

/** The members marked internal are the state the connection's other files share
 * (ConnectionCore, connection-core.ts). */
export class Connection {
  readonly role: 'client' | 'server';
  version: number;
  /** @internal The configuration; only what the handshake needs: replaced by a shared stub
   * once confirmed. */
  config: ConnectionConfig;
  private readonly statelessResetTokenOf: ((cid: Uint8Array) => Uint8Array) | undefined;
  /** @internal */
  readonly random: RandomSource;
  /** @internal The TLS handshake and its engine. */
  readonly tls: TlsHandshake;
  /** @internal (PacketSources) */
  readonly pnSkip: PacketNumberSkipper;
  /** @internal RFC 9368: version of the client's first Initial; the version the client gave
   * up after VN. */
  firstVersion: number;
  /** @internal */
  vnOriginalVersion = 0;
  /** @internal */
  oldInitialRead: PacketKey | undefined;
  /** @internal */
  oldVersion = 0;
  /** @internal */
  initialKeysDcid: Uint8Array;
  /** Our and the peer's transport parameters: once confirmed, only what is still read. */
  private local: Limits;
  /** @internal */
  peer: Limits | undefined;
  /** @internal */
  readonly spaces: [Space, Space, Space];
  /** @internal 0-RTT and 1-RTT keys and key phases. */
  readonly keys = new AppKeys();
  /** @internal */
  readonly ld: LossDetection<PacketMeta>;
  /** @internal (PacketSources) */
  readonly pacer = new Pacer();
  /** @internal */
  readonly ecnEnabled: boolean;
  /** @internal */
  readonly ecn: EcnValidator;
  /** @internal Path MTU discovery: the size of our datagrams. */
  readonly pmtu: Pmtud;

  // Connection IDs.
  /** @internal */
  originalDcid: Uint8Array;
  /** @internal */
  retrySourceCid: Uint8Array | undefined;
  /** @internal */
  peerInitialScid: Uint8Array | undefined;
  /** @internal the client's Initial token (PacketizerHost) */
  token: Uint8Array;
  /** @internal */
  readonly cids: ConnectionIds;
  /** @internal Destination CID of the packet whose frames are being processed. */
  packetDcid: Uint8Array = NO_CID;
  /** @internal The ECN codepoint of the datagram being processed (receiveBatch()). */
  datagramEcn: Ecn = Ecn.NotEct;

  /** @internal */
  readonly path: Path;

  // Streams (with their flow control) and control frames.
  /** @internal */
  readonly streams: StreamSet;
  /** @internal HANDSHAKE_DONE, control frames and DATAGRAM frames to send. */
  readonly control = new ControlFrames();
  /** @internal Builds our datagrams from all of the above. */
  readonly packets: Packetizer;

  // Lifecycle.
  /** @internal */
  _state: ConnectionState = 'handshake';
  /** @internal */
  info: StoredHandshakeInfo | undefined;
  /** @internal */
  handshakeConfirmed = false;
  /** @internal */
  readonly events: ConnectionEvent[] = [];
  /** @internal */
  idleTimeout: number;
  /** @internal */
  lastActivity: number;
  /** @internal When a packet from the peer was last processed (lastActivity also counts our
   * sends). */
  lastReceived: number;
  /** @internal */
  ackElicitingSinceReceive = false;
  /** @internal The closing or draining period, once the connection ends (RFC 9000 §10.2). */
  period: ClosePeriod | undefined;
  /** @internal */
  pendingPackets: Array<{ data: Uint8Array; remote: Address }> = emptyArray();
  /** @internal */
  receivedFromPeer = false;
  /** Keys to destroy once the packets being built with them are protected (retireKey()). */
  private retiredKeys: PacketKey[] = emptyArray();
  /** @internal */
  readonly qlog: ((e: QlogEvent) => void) | undefined;
  /** @internal (PacketizerHost) */
  readonly qlogEmit:
    ((now: number, name: string, data: Record<string, unknown>) => void) | undefined;
  /** @internal */
  readonly _stats: ConnectionCounters;
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
      guaranteedSendBuffer: settings.bounds.guaranteedSendBuffer,
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
    this._stats = newCounters(now);
    // The connection holds the packetizer's sources itself (no object of references to them
    // per connection).
    this.packets = new Packetizer(this, this);

    this.initialKeysDcid = init.dcid;
    this.installInitialKeys(this.initialKeysDcid);
    const tlsOptions: Record<string, unknown> = { ...(config.tls as object) };
    // One source for the whole connection: a seeded run repeats its handshake too.
    if (config.random !== undefined) tlsOptions.random ??= this.random;
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

  /** @internal */
  installInitialKeys(dcid: Uint8Array): void {
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

  /** @internal */
  wall(now: number): number {
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
    const streams = this.streams.stats;
    return {
      handshakeStart: s.handshakeStart,
      handshakeDurationMs: s.handshakeDurationMs,
      bytesSent: s.bytesSent,
      bytesReceived: s.bytesReceived,
      packetsSent: s.packetsSent,
      packetsReceived: s.packetsReceived,
      packetsDropped: s.packetsDropped,
      packetsLost: s.packetsLost,
      cwnd: this.ld.cc.cwnd,
      bytesInFlight: this.ld.bytesInFlight,
      smoothedRtt: rtt.smoothedRtt,
      minRtt: rtt.hasSample ? rtt.minRtt : 0,
      latestRtt: rtt.latestRtt,
      keyUpdates: s.keyUpdates,
      optimisticAcks: this.ld.stats.optimisticAcks,
      sendBufferedBytes: streams.sendBufferedBytes,
      recvBufferedBytes: streams.recvBufferedBytes,
      reassemblyBytes: streams.reassemblyBytes,
      reassemblyRanges: streams.reassemblyRanges,
      streamFramesDropped: streams.streamFramesDropped,
      pmtu: this.pmtu.size,
      pmtuProbesSent: this.pmtu.probesSent,
      pmtuProbesLost: this.pmtu.probesLost,
      windowUpdates: streams.windowUpdates,
      streamWindowMax: streams.streamWindowMax,
      pooledBytes: streams.pooledBytes,
    };
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
    return { at: this.lastReceived, pto: pto(this) * 2 ** Math.min(this.ld.ptoCount, 16) };
  }

  /** @internal the endpoint takes back this connection's share of its window pool
   * (Endpoint.remove; WindowPool in flow-control.ts). */
  releaseWindowPool(): void {
    this.streams.releasePool();
  }

  /** @internal the endpoint's periodic sweep (Endpoint.onTimeout): receive window borrowed
   * and no longer needed goes back to the pool (RecvWindow.reclaim in flow-control.ts). */
  reclaimWindowPool(now: number): void {
    this.streams.recvWindow.reclaim(now, this.ld.rtt.smoothedRtt);
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
    const ev = dequeue(this.events);
    if (ev?.type === 'readable') this.streams.readablePolled(ev.streamId);
    return ev;
  }

  // ---------------------------------------------------------------- timers

  nextTimeout(): number {
    return nextDeadline(this);
  }

  onTimeout(now: number): void {
    checkNow(now);
    if (this._state === 'closed') return;
    runTimers(this, now);
  }

  // ---------------------------------------------------------------- receiving

  /** Processes one datagram from the network. Never throws for any datagram content. */
  receive(datagram: Uint8Array, remote: Address, now: number, ecn = 0): void {
    // One list for every call (no allocation per datagram); a nested call gets its own.
    const list = single[0] === undefined ? single : [];
    list[0] = datagram;
    const codepoints = list === single ? singleEcn : [0];
    codepoints[0] = ecn;
    try {
      this.receiveBatch(list, remote, now, codepoints);
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
        onDatagrams(this, datagrams, i, j, remote, now, false, ecn);
        i = j;
      }
      // Memory per idle connection: the 1-RTT CRYPTO stream holds nothing between tickets.
      if (this.handshakeConfirmed) this.spaces[App].compactCrypto();
    } catch (e) {
      this.fatal(e, now);
    }
  }

  /** @internal the peer's connection ID we send with (PacketizerHost) */
  get dcid(): Uint8Array {
    return this.cids.current;
  }

  /** @internal */
  set dcid(cid: Uint8Array) {
    this.cids.current = cid;
  }

  /** @internal */
  isOpen(): boolean {
    return this._state === 'handshake' || this._state === 'established';
  }

  /** @internal A packet (or a datagram, h undefined) dropped: counted, logged, in the qlog with its
   * qlog trigger (draft-ietf-quic-qlog-quic-events: packet_dropped). */
  drop(now: number, h: PacketHeader | undefined, size: number, trigger: string, why: string): void {
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
  /** @internal */
  updateAmplification(now: number): void {
    if (this.role !== 'server') return;
    this.ld.setAmplificationLimited(this.path.amplificationLimited, now);
  }

  /** @internal */
  onFrame(space: PacketSpace, f: Frame, now: number): void {
    switch (f.type) {
      case 'padding':
      case 'ping':
        return;
      case 'ack':
        return onAck(this, space, f.ranges, f.ackDelay, f.ecn, now);
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

  private onCrypto(space: PacketSpace, offset: number, data: Uint8Array, now: number): void {
    const sp = this.spaces[space];
    const err = sp.cryptoRecv.insert(offset, data);
    if (err) throw new QuicError(err, 'CRYPTO frame', { frameType: FrameType.CRYPTO });
    this.tls.receive(LEVELS[space]!, sp.cryptoRecv, this.wall(now), (ch) =>
      decideVersion(this, ch),
    );
    this.drainTls(now);
  }

  /** @internal */
  drainTls(now: number): void {
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
      const pending = this.pendingPackets;
      this.pendingPackets = emptyArray();
      // Already counted when they arrived (amplification budget, stats).
      for (const p of pending) onDatagrams(this, [p.data], 0, 1, p.remote, now, true);
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

  /** @internal Client: the handshake completed; 0-RTT ends (RFC 9001 §4.6.2: resend it if
   * rejected). */
  endZeroRtt(accepted: boolean, now: number): void {
    this.retireKey(this.keys.zeroRttWrite!);
    this.keys.zeroRttWrite = undefined;
    if (accepted) return;
    for (const p of this.ld.resetSpace(App, now)) {
      onLost(this, App, p, now);
      this._stats.packetsLost--;
    }
  }

  /** @internal */
  confirmHandshake(now: number): void {
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

  /** @internal */
  discardSpace(space: PacketSpace, now: number): void {
    const sp = this.spaces[space];
    if (sp.discarded) return;
    sp.discarded = true;
    // Destroyed after the current send batch is protected (it may still use them).
    if (sp.readKey) this.retireKey(sp.readKey);
    if (sp.writeKey) this.retireKey(sp.writeKey);
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

  /** @internal Destroys `key` once the packets being built with it are protected. */
  retireKey(key: PacketKey): void {
    this.retiredKeys = appended(this.retiredKeys, key);
  }

  private rotateWriteKey(now: number, trigger: 'local_update' | 'remote_update'): void {
    // The old key is destroyed once the packets being built with it are protected.
    this.retireKey(this.keys.rotateWrite(this.spaces[App].nextPn));
    this._stats.keyUpdates++;
    this.emitQlog(now, 'security:key_updated', {
      key_type: '1rtt',
      key_phase: this.keys.writePhase,
      trigger,
    });
  }

  /** @internal */
  onPeerKeyUpdate(pn: number, now: number): void {
    // RFC 9001 §6.2: the peer moved to the next phase; §6.5 keep the old key for 3xPTO.
    const answer = this.keys.onPeerUpdate(pn, now, 3 * pto(this));
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

  /** @internal
   * Every end of the connection goes through here (RFC 9000 §10): the 'closed' event and the
   * qlog, then the closing period when we send `frame`, the draining period when the peer
   * ended it, or nothing at all for an idle timeout (§10.1) or a failed version negotiation.
   */
  beginClose(info: CloseInfo, now: number, frame?: ConnectionCloseFrame): void {
    const silent = info.kind === 'idle' || info.kind === 'version-negotiation';
    this.period = new ClosePeriod(info, silent ? now : now + 3 * pto(this), frame);
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

  /** @internal */
  terminate(): void {
    this._state = 'closed';
    for (const sp of this.spaces) {
      if (sp.discarded) continue; // keys already gone
      sp.readKey?.destroy();
      sp.writeKey?.destroy();
      sp.readKey = sp.writeKey = undefined;
    }
    this.keys.destroy();
    for (const k of this.retiredKeys) k.destroy();
    this.retiredKeys = emptyArray();
    this.streams.clear();
    this.pendingPackets = emptyArray();
  }

  /** @internal A protocol error (ours or the peer's): close with the RFC 9000 §20 code. */
  fatal(e: unknown, now: number): void {
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
    if (this.retiredKeys.length > 0) {
      for (const k of this.retiredKeys) out.retire(k);
      this.retiredKeys = emptyArray();
    }
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

  /** @internal The path MTU changed: the congestion controller's datagram size follows
   * (RFC 9002 §7.2), and the qlog says so (draft-ietf-quic-qlog-quic-events:
   * connectivity:mtu_updated). */
  onMtuUpdated(old: number, now: number): void {
    this.ld.cc.setMaxDatagramSize(this.pmtu.size);
    this.emitQlog(now, 'connectivity:mtu_updated', {
      old,
      new: this.pmtu.size,
      done: this.pmtu.done,
    });
  }

  // ---------------------------------------------------------------- qlog

  /** @internal */
  emitQlog(now: number, name: string, data: Record<string, unknown>): void {
    if (!this.qlog) return;
    try {
      this.qlog({ time: now, name, data });
    } catch {
      // A failing observer must not break the connection.
    }
  }
}

/** Written out field by field: an object built by spread keeps its properties out of line
 * (memory per connection). */
function storedInfo(i: HandshakeInfo): StoredHandshakeInfo {
  return {
    group: i.group,
    cipher: i.cipher,
    alpn: i.alpn,
    resumed: i.resumed,
    earlyDataAccepted: i.earlyDataAccepted,
    postQuantum: i.postQuantum,
    helloRetryRequest: i.helloRetryRequest,
    serverName: i.serverName,
    signatureScheme: i.signatureScheme,
    peerCertificate: i.peerCertificate,
    peerParameters: i.peerTransportParameters?.toString('latin1'),
  };
}

/** A parameter set's Limits, as a small object of their own. */
function limitsOnly(p: Limits): Limits {
  return {
    activeConnectionIdLimit: p.activeConnectionIdLimit,
    maxDatagramFrameSize: p.maxDatagramFrameSize,
    ackDelayExponent: p.ackDelayExponent,
    maxUdpPayloadSize: p.maxUdpPayloadSize,
  };
}
