// Shared machinery of the client and server state machines: options, the event queue,
// per-level reassembly, alerts, keylog and debug output. See index.ts for the API.

import { randomBytes, X509Certificate } from 'node:crypto';
import { debug } from '../debug/log.js';
import {
  CIPHER_SUITES,
  cipherSuiteByName,
  type CipherSuite,
  type CipherSuiteName,
} from '../crypto/suites.js';
import { KeyShareError, groupByName, type GroupInfo, type GroupName } from '../crypto/groups.js';
import type { KemBackendName } from '../crypto/mlkem.js';
import { injectedSource, randomBuffer, type RandomSource } from '../crypto/random.js';
import { TlsAlert } from './alerts.js';
import { keylogLine, type KeylogLabel } from './keylog.js';
import {
  HandshakeReassembler,
  decodeCertificateVerify,
  decodeKeyUpdate,
  encodeCertificate,
  encodeCertificateVerify,
  encodeKeyUpdate,
  handshakeTypeName,
  type HandshakeMessage,
} from './messages.js';
import {
  finishedVerifyData,
  nextTrafficSecret,
  verifyDataEquals,
  type KeySchedule,
} from './key-schedule.js';
import { Transcript } from './transcript.js';
import {
  DEFAULT_SIGNATURE_SCHEMES,
  signCertificateVerify,
  verifyCertificateVerify,
  verifyChain,
  type Credentials,
  type VerifyOptions,
} from './certificates.js';
import type { SessionTicket } from './session-ticket.js';

export type Level = 'initial' | 'early' | 'handshake' | 'application';
export const LEVELS: readonly Level[] = ['initial', 'early', 'handshake', 'application'];

export interface HandshakeInfo {
  group: GroupName;
  cipher: CipherSuiteName;
  alpn: string | undefined;
  resumed: boolean;
  earlyDataAccepted: boolean;
  postQuantum: boolean;
  /** A HelloRetryRequest was part of this handshake. */
  helloRetryRequest: boolean;
  serverName: string | undefined;
  signatureScheme: number | undefined;
  peerCertificate: X509Certificate | undefined;
  peerTransportParameters: Buffer | undefined;
}

export type TlsEvent =
  /** Handshake bytes to send at `level` (QUIC: CRYPTO frames in that packet number space). */
  | { type: 'data'; level: Level; data: Buffer }
  /** A new traffic secret. Install it before sending/processing anything that follows. */
  | {
      type: 'secret';
      level: Level;
      direction: 'read' | 'write';
      secret: Buffer;
      suite: CipherSuite;
    }
  /** The peer's quic_transport_parameters (opaque), as soon as they are known. */
  | { type: 'transport-parameters'; data: Buffer }
  | { type: 'handshake-complete'; info: HandshakeInfo }
  /** Client: a ticket to store for resumption / 0-RTT. */
  | { type: 'session-ticket'; ticket: SessionTicket };

export interface TlsCommonOptions {
  /** ALPN: the client's offer, or the server's supported protocols in preference order. */
  alpn?: string | readonly string[];
  /** Groups in preference order (names as in lib/crypto/groups.ts). */
  groups?: readonly GroupName[];
  /** Cipher suites in preference order: names, or one colon-separated string (OpenSSL style). */
  ciphers?: string | readonly string[];
  /** Signature schemes (TLS code points) offered/accepted for CertificateVerify. */
  signatureAlgorithms?: readonly number[];
  /** Refuse any group that is not post-quantum (alert insufficient_security). */
  requirePostQuantum?: boolean;
  /** Our quic_transport_parameters (opaque; required in the QUIC profile). */
  transportParameters?: Uint8Array;
  /** QUIC profile (RFC 9001 §8), default true; false for TLS over TCP with lib/tls/record.ts. */
  quic?: boolean;
  /** Receives one NSS key log line per secret. */
  keylog?: (line: string) => void;
  kemBackend?: KemBackendName;
  /** Source of the handshake's randomness: the Hello randoms, key shares, ticket nonces and
   * age_add (default node:crypto's). A seeded source makes a simulated run repeat byte for
   * byte; outside tests it must be cryptographically secure. */
  random?: RandomSource;
}

export const DEFAULT_GROUPS: readonly GroupName[] = [
  'X25519MLKEM768',
  'SecP256r1MLKEM768',
  'MLKEM768',
  'MLKEM1024',
  'X25519',
  'secp256r1',
];

export interface ResolvedCommon {
  alpn: string[];
  groups: GroupInfo[];
  suites: CipherSuite[];
  signatureAlgorithms: number[];
  requirePostQuantum: boolean;
  transportParameters: Buffer | undefined;
  quic: boolean;
  keylog: ((line: string) => void) | undefined;
  kemBackend: KemBackendName | undefined;
  /** The injected source, checked; undefined for node:crypto's (and native key generation). */
  random: RandomSource | undefined;
}

export function resolveCommon(o: TlsCommonOptions): ResolvedCommon {
  if (o === null || typeof o !== 'object') throw new TypeError('options must be an object');
  const alpn = o.alpn === undefined ? [] : typeof o.alpn === 'string' ? [o.alpn] : [...o.alpn];
  for (const p of alpn)
    if (typeof p !== 'string' || p.length === 0 || p.length > 255)
      throw new TypeError('alpn: each protocol must be a 1..255 character string');
  const requirePostQuantum = o.requirePostQuantum === true;
  let groups = (o.groups ?? DEFAULT_GROUPS).map((n) => {
    const g = groupByName(n);
    if (!g) throw new TypeError(`groups: unknown group ${String(n)}`);
    return g;
  });
  if (requirePostQuantum) groups = groups.filter((g) => g.postQuantum);
  if (groups.length === 0) throw new TypeError('groups: no usable group');
  const cipherNames =
    o.ciphers === undefined
      ? CIPHER_SUITES.map((s) => s.name)
      : typeof o.ciphers === 'string'
        ? o.ciphers.split(':')
        : [...o.ciphers];
  const suites = cipherNames.map((n) => {
    const s = cipherSuiteByName(n);
    if (!s) throw new TypeError(`ciphers: unknown cipher suite ${String(n)}`);
    return s;
  });
  if (suites.length === 0) throw new TypeError('ciphers: empty');
  const quic = o.quic !== false;
  const transportParameters =
    o.transportParameters === undefined ? undefined : Buffer.from(o.transportParameters);
  if (quic && !transportParameters)
    throw new TypeError('transportParameters is required in the QUIC profile');
  if (o.keylog !== undefined && typeof o.keylog !== 'function')
    throw new TypeError('keylog must be a function');
  return {
    alpn,
    groups,
    suites,
    signatureAlgorithms: [...(o.signatureAlgorithms ?? DEFAULT_SIGNATURE_SCHEMES)],
    requirePostQuantum,
    transportParameters,
    quic,
    keylog: o.keylog,
    kemBackend: o.kemBackend,
    random: injectedSource(o.random, 'random'),
  };
}

export function toAlert(e: unknown): TlsAlert {
  if (e instanceof TlsAlert) return e;
  if (e instanceof KeyShareError) return new TlsAlert('illegal_parameter', e.message);
  return new TlsAlert('internal_error', e instanceof Error ? e.message : String(e));
}

export abstract class TlsEngine {
  protected readonly events: TlsEvent[] = [];
  private readonly reassemblers = new Map<Level, HandshakeReassembler>();
  protected failure: TlsAlert | undefined;
  protected readonly transcript = new Transcript();
  protected clientRandom: Buffer;
  protected startedAt = 0;
  protected lastStep = 0;
  suite: CipherSuite | undefined;
  group: GroupInfo | undefined;
  alpn: string | undefined;
  resumed = false;
  earlyDataAccepted = false;
  peerTransportParameters: Buffer | undefined;
  peerCertificate: X509Certificate | undefined;
  signatureScheme: number | undefined;
  serverName: string | undefined;
  complete = false;
  protected retried = false;
  protected readonly readSecrets = new Map<Level, Buffer>();
  protected readonly writeSecrets = new Map<Level, Buffer>();

  constructor(
    protected readonly role: 'client' | 'server',
    protected readonly common: ResolvedCommon,
  ) {
    this.clientRandom = this.randomBytes(32);
  }

  /** `n` random bytes from the injected source, else node:crypto's. */
  protected randomBytes(n: number): Buffer {
    return randomBuffer(this.common.random ?? randomBytes, n);
  }

  /** Options for the key shares (lib/crypto/groups.ts): the ML-KEM backend, and the injected
   * source (without one, the keys are generated natively). */
  protected keyShareOptions(): { backend?: KemBackendName; random?: RandomSource } {
    const { kemBackend: backend, random } = this.common;
    return { ...(backend && { backend }), ...(random && { random }) };
  }

  /**
   * Ends the engine: key shares are freed and the secrets it still holds are overwritten.
   * Secrets already handed out in 'secret' events belong to the caller.
   */
  destroy(): void {
    this.failure ??= new TlsAlert('internal_error', 'engine destroyed');
    this.events.length = 0;
    for (const m of [this.readSecrets, this.writeSecrets]) {
      for (const secret of m.values()) secret.fill(0);
      m.clear();
    }
    this.wipe();
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  protected abstract wipe(): void;

  /** Next pending event, or undefined. */
  poll(): TlsEvent | undefined {
    return this.events.shift();
  }

  /** All pending events. */
  drain(): TlsEvent[] {
    return this.events.splice(0, this.events.length);
  }

  /** The alert that ended the handshake, if any. */
  get error(): TlsAlert | undefined {
    return this.failure;
  }

  /**
   * Feeds handshake bytes received at `level` (QUIC: CRYPTO frame data, in order).
   * Throws TlsAlert on any protocol error; the engine is then unusable.
   */
  receive(level: Level, data: Uint8Array, now: number): void {
    if (this.failure) throw this.failure;
    if (!(data instanceof Uint8Array)) throw new TypeError('data must be a Uint8Array');
    if (!LEVELS.includes(level)) throw new TypeError(`level must be one of ${LEVELS.join(', ')}`);
    if (level === 'early')
      return this.fail(new TlsAlert('unexpected_message', 'handshake data in 0-RTT'));
    try {
      let r = this.reassemblers.get(level);
      if (!r) this.reassemblers.set(level, (r = new HandshakeReassembler()));
      for (const m of r.push(data)) {
        debug(
          'handshake',
          () => `${this.role} <- ${handshakeTypeName(m.type)} (${m.raw.length} bytes, ${level})`,
        );
        this.handle(level, m, now);
        if (this.failure) throw this.failure;
      }
    } catch (e) {
      this.fail(toAlert(e));
    }
  }

  /** Fails the handshake with `alert` (rethrown to the caller). */
  protected fail(alert: TlsAlert): never {
    this.failure ??= alert;
    debug('handshake', () => `${this.role} ${alert.message}`);
    throw this.failure;
  }

  protected expectLevel(level: Level, want: Level, msg: HandshakeMessage): void {
    if (level !== want)
      throw new TlsAlert(
        'unexpected_message',
        `${handshakeTypeName(msg.type)} received at ${level} level, expected ${want}`,
      );
  }

  /**
   * KeyUpdate (RFC 8446 §4.6.3) for the record layer. In QUIC it is forbidden: RFC 9001 §6
   * makes it a connection error 0x010a (0x100 + unexpected_message).
   */
  protected handleKeyUpdate(level: Level, msg: HandshakeMessage): void {
    if (this.common.quic || !this.complete) throw new TlsAlert('unexpected_message', 'KeyUpdate');
    this.expectLevel(level, 'application', msg);
    const requested = decodeKeyUpdate(msg.body);
    const hash = this.suite!.hash;
    this.secret(
      'application',
      'read',
      nextTrafficSecret(hash, this.readSecrets.get('application')!),
      undefined,
    );
    if (requested) {
      this.send('application', encodeKeyUpdate(false));
      this.secret(
        'application',
        'write',
        nextTrafficSecret(hash, this.writeSecrets.get('application')!),
        undefined,
      );
    }
  }

  /** Record layer: starts a KeyUpdate of our sending keys (asking the peer to update too). */
  updateKeys(requestPeerUpdate = true): void {
    if (this.failure) throw this.failure;
    if (this.common.quic) throw new Error('KeyUpdate is not used in QUIC (RFC 9001 §6)');
    if (!this.complete) throw new Error('handshake not complete');
    this.send('application', encodeKeyUpdate(requestPeerUpdate));
    this.secret(
      'application',
      'write',
      nextTrafficSecret(this.suite!.hash, this.writeSecrets.get('application')!),
      undefined,
    );
  }

  protected abstract handle(level: Level, msg: HandshakeMessage, now: number): void;

  /** RFC 8446 §5.1: handshake messages must not span a key change. */
  protected assertNoPending(level: Level): void {
    const r = this.reassemblers.get(level);
    if (r && r.buffered > 0)
      throw new TlsAlert(
        'unexpected_message',
        `partial message left at ${level} level across a key change`,
      );
  }

  protected send(level: Level, data: Buffer): void {
    this.events.push({ type: 'data', level, data });
  }

  protected secret(
    level: Level,
    direction: 'read' | 'write',
    secret: Buffer,
    label: KeylogLabel | undefined,
    suite = this.suite!,
  ): void {
    this.events.push({ type: 'secret', level, direction, secret, suite });
    // The record layer's KeyUpdate needs the current application secrets; keep our own copy
    // (the event's Buffer belongs to the caller). QUIC updates keys itself (RFC 9001 §6).
    if (!this.common.quic && level === 'application')
      (direction === 'read' ? this.readSecrets : this.writeSecrets).set(level, Buffer.from(secret));
    if (label) this.common.keylog?.(keylogLine(label, this.clientRandom, secret));
  }

  protected keylog(label: KeylogLabel, secret: Buffer): void {
    this.common.keylog?.(keylogLine(label, this.clientRandom, secret));
  }

  /** §7.1: the 0-RTT secret from the ClientHello hash (the client writes, the server reads). */
  protected earlySecrets(ks: KeySchedule, chHash: Buffer, suite = this.suite!): void {
    const direction = this.role === 'client' ? 'write' : 'read';
    const secret = ks.clientEarlyTrafficSecret(chHash);
    this.secret('early', direction, secret, 'CLIENT_EARLY_TRAFFIC_SECRET', suite);
    this.keylog('EARLY_EXPORTER_SECRET', ks.earlyExporterMasterSecret(chHash));
  }

  /** The peer's quic_transport_parameters: kept (own copy) and announced. */
  protected setPeerTransportParameters(data: Uint8Array): void {
    this.peerTransportParameters = Buffer.from(data);
    this.events.push({ type: 'transport-parameters', data: this.peerTransportParameters });
  }

  /**
   * The peer's Certificate (§4.4.2): returns its leaf, the chain verified against `verify`, or
   * (verify undefined: rejectUnauthorized false) only parsed. Adds nothing to the transcript.
   */
  protected peerCertificateOf(
    certificates: readonly Buffer[],
    verify: VerifyOptions | undefined,
  ): X509Certificate {
    if (verify) return verifyChain(certificates, verify);
    try {
      return new X509Certificate(certificates[0]!);
    } catch {
      const who = this.role === 'client' ? '' : 'client ';
      throw new TlsAlert('bad_certificate', `unparsable ${who}certificate`);
    }
  }

  /** Checks the peer's CertificateVerify (§4.4.3), adds it to the transcript, returns its scheme. */
  protected checkCertificateVerify(msg: HandshakeMessage, cert: X509Certificate): number {
    const cv = decodeCertificateVerify(msg.body);
    verifyCertificateVerify(
      cert,
      cv.algorithm,
      cv.signature,
      this.role === 'client',
      this.transcript.digest(),
      this.common.signatureAlgorithms,
    );
    this.transcript.add(msg.raw);
    return cv.algorithm;
  }

  /** Checks the peer's Finished (§4.4.4) with its handshake traffic secret and adds it. */
  protected checkFinished(msg: HandshakeMessage, peerSecret: Buffer): void {
    const expected = finishedVerifyData(this.suite!.hash, peerSecret, this.transcript.digest());
    if (!verifyDataEquals(expected, msg.body))
      throw new TlsAlert('decrypt_error', `${this.peerRole} Finished does not verify`);
    this.transcript.add(msg.raw);
    this.assertNoPending('handshake');
  }

  /**
   * Sends the handshake messages `build` adds, as one 'data' event at `level`; each is added to
   * the transcript as it is added, so later messages sign/MAC the ones before them.
   */
  protected sendFlight(level: Level, build: (add: (m: Buffer) => void) => void): void {
    const flight: Buffer[] = [];
    build((m) => {
      this.transcript.add(m);
      flight.push(m);
    });
    this.send(level, Buffer.concat(flight));
  }

  /** Our Certificate and CertificateVerify (§4.4.2, §4.4.3) into a flight being built. */
  protected addCertificate(
    add: (m: Buffer) => void,
    context: Buffer,
    creds: Credentials,
    scheme: number,
  ): void {
    add(encodeCertificate(context, creds.chain));
    const server = this.role === 'server';
    const sig = signCertificateVerify(creds.key, scheme, server, this.transcript.digest());
    add(encodeCertificateVerify(scheme, sig));
  }

  /** The handshake is complete: the 'handshake-complete' event. */
  protected completed(name: string, now: number): void {
    this.complete = true;
    this.step(name, now);
    this.events.push({ type: 'handshake-complete', info: this.info() });
  }

  private get peerRole(): 'client' | 'server' {
    return this.role === 'client' ? 'server' : 'client';
  }

  protected step(name: string, now: number): void {
    debug(
      'handshake',
      () => `${this.role} ${name} +${now - this.lastStep}ms (${now - this.startedAt}ms total)`,
    );
    this.lastStep = now;
  }

  info(): HandshakeInfo {
    return {
      group: this.group!.name,
      cipher: this.suite!.name,
      alpn: this.alpn,
      resumed: this.resumed,
      earlyDataAccepted: this.earlyDataAccepted,
      postQuantum: this.group!.postQuantum,
      helloRetryRequest: this.retried,
      serverName: this.serverName,
      signatureScheme: this.signatureScheme,
      peerCertificate: this.peerCertificate,
      peerTransportParameters: this.peerTransportParameters,
    };
  }
}
