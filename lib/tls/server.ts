// TLS 1.3 server state machine (RFC 8446 §4, QUIC profile RFC 9001 §4 and §8).

import { createHmac } from 'node:crypto';
import { groupByCode, serverKeyShare, type GroupInfo } from '../crypto/groups.js';
import { cipherSuiteByCode, type CipherSuite } from '../crypto/suites.js';
import { TlsAlert } from './alerts.js';
import { AntiReplay } from './anti-replay.js';
import {
  chooseScheme,
  loadCredentials,
  optionalCredentials,
  type Credentials,
  type PemInput,
} from './certificates.js';
import { TlsEngine, resolveCommon, type Level, type TlsCommonOptions } from './engine.js';
import {
  KeySchedule,
  finishedVerifyData,
  resumptionPsk,
  verifyDataEquals,
} from './key-schedule.js';
import {
  HRR_RANDOM,
  HandshakeType,
  TLS13,
  decodeCertificate,
  decodeClientHello,
  encodeCertificateRequest,
  encodeEncryptedExtensions,
  encodeFinished,
  encodeNewSessionTicket,
  encodeServerHello,
  type ClientHello,
  type ExtensionsInput,
  type HandshakeMessage,
} from './messages.js';
import { TicketKeys, type TicketState } from './session-ticket.js';
import { hashOf } from './transcript.js';

export interface TlsServerOptions extends TlsCommonOptions {
  /** Certificate chain (PEM, leaf first) and private key, as in node:tls / node:quic. */
  certs?: PemInput;
  keys?: string | Buffer;
  /**
   * Per-name credentials chosen by the client's server_name (as node:quic's `sni`); '*' is
   * the default. `certs`/`keys` are the default when there is no '*' entry.
   */
  sni?: Record<string, { certs: PemInput; keys: string | Buffer }>;
  /** Ask for a client certificate (mutual TLS). */
  requestCert?: boolean;
  /** With requestCert: refuse clients without a valid certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Trust anchors for client certificates (PEM); default Node's root store. */
  ca?: PemInput;
  /** Ticket keys shared by the endpoint; without them no tickets are issued or accepted. */
  ticketKeys?: TicketKeys;
  /** Tickets sent after the handshake (default 1 when ticketKeys is set). */
  ticketCount?: number;
  /** Ticket lifetime in seconds (default 86400, at most 604800). */
  ticketLifetime?: number;
  /** Allow 0-RTT on resumption (QUIC: max_early_data_size 0xffffffff). */
  earlyData?: boolean;
  /** Single-use ticket guard for 0-RTT; required to accept early data. */
  antiReplay?: AntiReplay;
  /** Opaque bytes stored in tickets (e.g. our transport parameters, RFC 9000 §7.4.1). */
  ticketAppData?: Uint8Array;
  /** Final say on 0-RTT: gets the ticket's appData (e.g. compare remembered transport parameters). */
  acceptEarlyData?: (ticketAppData: Buffer) => boolean;
  /** Send a cookie in HelloRetryRequest and check its echo (default true). */
  hrrCookie?: boolean;
}

type State = 'start' | 'wait_ch2' | 'wait_cert' | 'wait_cv' | 'wait_finished' | 'connected';

// §4.2.10: how far the client's view of the ticket age may differ from ours for 0-RTT.
const TICKET_AGE_TOLERANCE_MS = 10_000;

export class TlsServer extends TlsEngine {
  private state: State = 'start';
  private readonly opts: TlsServerOptions;
  private credentials: Credentials | undefined;
  private readonly sni: Map<string, Credentials>;
  private readonly cookieKey: Buffer;
  private cookie: Buffer | undefined;
  private hrrGroup: GroupInfo | undefined;
  private ch1: ClientHello | undefined;
  private scheme: number | undefined;
  private ks: KeySchedule | undefined;
  private hs: { client: Buffer; server: Buffer } | undefined;
  private app: { client: Buffer; server: Buffer } | undefined;
  private requestedCert = false;
  private ticketCount: number;
  private readonly lifetime: number;

  constructor(options: TlsServerOptions) {
    super('server', resolveCommon(options));
    this.cookieKey = this.randomBytes(32);
    this.opts = options;
    this.credentials = optionalCredentials(options.certs, options.keys);
    if (options.sni !== undefined && (options.sni === null || typeof options.sni !== 'object'))
      throw new TypeError('sni must be an object');
    this.sni = new Map(
      Object.entries(options.sni ?? {}).map(([name, c]) => [
        name.toLowerCase(),
        loadCredentials(c.certs, c.keys),
      ]),
    );
    if (!this.credentials && this.sni.size === 0)
      throw new TypeError('certs and keys (or sni) are required');
    if (this.common.quic && this.common.alpn.length === 0)
      throw new TypeError('alpn is required in the QUIC profile (RFC 9001 §8.1)');
    this.lifetime = options.ticketLifetime ?? 86400;
    if (!Number.isInteger(this.lifetime) || this.lifetime < 1 || this.lifetime > 604800)
      throw new RangeError('ticketLifetime must be an integer in 1..604800');
    this.ticketCount = options.ticketCount ?? (options.ticketKeys ? 1 : 0);
    if (!Number.isInteger(this.ticketCount) || this.ticketCount < 0 || this.ticketCount > 16)
      throw new RangeError('ticketCount must be an integer in 0..16');
    if (this.ticketCount > 0 && !options.ticketKeys)
      throw new TypeError('ticketCount needs ticketKeys');
    if (options.ticketKeys !== undefined && !(options.ticketKeys instanceof TicketKeys))
      throw new TypeError('ticketKeys must be a TicketKeys');
    if (options.antiReplay !== undefined && !(options.antiReplay instanceof AntiReplay))
      throw new TypeError('antiReplay must be an AntiReplay');
  }

  protected handle(level: Level, msg: HandshakeMessage, now: number): void {
    const T = HandshakeType;
    switch (this.state) {
      case 'start':
      case 'wait_ch2':
        if (msg.type !== T.client_hello) break;
        this.expectLevel(level, 'initial', msg);
        if (this.state === 'start') this.startedAt = this.lastStep = now;
        return this.onClientHello(msg, now);
      case 'wait_cert':
        if (msg.type !== T.certificate) break;
        this.expectLevel(level, 'handshake', msg);
        return this.onClientCertificate(msg, now);
      case 'wait_cv':
        if (msg.type !== T.certificate_verify) break;
        this.expectLevel(level, 'handshake', msg);
        return this.onClientCertificateVerify(msg, now);
      case 'wait_finished':
        if (msg.type !== T.finished) break;
        this.expectLevel(level, 'handshake', msg);
        return this.onFinished(msg, now);
      case 'connected':
        if (msg.type === T.key_update) return this.handleKeyUpdate(level, msg);
        break;
    }
    throw new TlsAlert(
      'unexpected_message',
      `unexpected message type ${msg.type} in state ${this.state}`,
    );
  }

  private onClientHello(msg: HandshakeMessage, now: number): void {
    const ch = decodeClientHello(msg.body);
    const e = ch.extensions;
    const c = this.common;
    // §4.2.1: TLS 1.3 only.
    if (!e.supportedVersions?.includes(TLS13))
      throw new TlsAlert('protocol_version', 'client does not offer TLS 1.3');
    // RFC 9001 §8.4: no middlebox compatibility mode in QUIC.
    if (c.quic && ch.legacySessionId.length !== 0)
      throw new TlsAlert('illegal_parameter', 'non-empty legacy_session_id in QUIC');
    if (this.retried) this.checkSecondClientHello(ch);

    // Cipher suite by our preference (§4.1.1).
    const suite = c.suites.find((s) => ch.cipherSuites.includes(s.code));
    if (!suite) throw new TlsAlert('handshake_failure', 'no cipher suite in common');

    // RFC 9001 §8.2: transport parameters are mandatory in QUIC.
    if (c.quic && !e.quicTransportParameters)
      throw new TlsAlert('missing_extension', 'no quic_transport_parameters');

    // ALPN (RFC 7301 §3.2; mandatory in QUIC, RFC 9001 §8.1).
    let alpn: string | undefined;
    if (e.alpn) {
      alpn = c.alpn.find((p) => e.alpn!.includes(p));
      if (alpn === undefined && c.alpn.length > 0)
        throw new TlsAlert('no_application_protocol', 'no application protocol in common');
    } else if (c.quic)
      throw new TlsAlert('no_application_protocol', 'client offered no application protocol');

    // Key exchange (§4.2.7, §4.2.8): we always need a key share (psk_ke is not supported).
    if (!e.supportedGroups || !e.keyShares)
      throw new TlsAlert('missing_extension', 'supported_groups and key_share are required');
    const seen = new Set<number>();
    for (const ks of e.keyShares) {
      if (seen.has(ks.group))
        throw new TlsAlert('illegal_parameter', 'two key shares for one group');
      if (!e.supportedGroups.includes(ks.group))
        throw new TlsAlert('illegal_parameter', 'key share for a group not in supported_groups');
      seen.add(ks.group);
    }
    const group = c.groups.find((g) => e.supportedGroups!.includes(g.code));
    if (!group) {
      const classical = c.requirePostQuantum && e.supportedGroups.some((code) => groupByCode(code));
      if (classical)
        throw new TlsAlert(
          'insufficient_security',
          'client offers no post-quantum group and one is required',
        );
      throw new TlsAlert('handshake_failure', 'no group in common');
    }
    const share = e.keyShares.find((k) => k.group === group.code);

    if (!share) {
      if (this.retried)
        throw new TlsAlert('illegal_parameter', 'second ClientHello lacks the requested key share');
      return this.helloRetryRequest(ch, msg, suite, group, now);
    }
    if (this.retried && group !== this.hrrGroup)
      throw new TlsAlert('illegal_parameter', 'second ClientHello changed the group');

    // PSK (§4.2.9, §4.2.11): resumption with psk_dhe_ke only. Checked after the retry decision
    // so that a HelloRetryRequest never spends a ticket's single 0-RTT use.
    const psk = this.acceptPsk(ch, msg, suite, now);

    // Signature scheme for a full handshake, with the credentials for the requested name.
    if (!psk) {
      const name = e.serverName?.toLowerCase();
      this.credentials =
        (name !== undefined ? this.sni.get(name) : undefined) ??
        this.sni.get('*') ??
        this.credentials;
      // RFC 6066 §3: no certificate for the requested name.
      if (!this.credentials)
        throw new TlsAlert(
          'unrecognized_name',
          `no certificate for ${name ?? 'an unnamed request'}`,
        );
      if (!e.signatureAlgorithms)
        throw new TlsAlert('missing_extension', 'no signature_algorithms');
      this.scheme = chooseScheme(
        this.credentials!,
        e.signatureAlgorithms.filter((s) => c.signatureAlgorithms.includes(s)),
      );
      if (this.scheme === undefined)
        throw new TlsAlert('handshake_failure', 'no signature scheme in common');
    }

    this.suite = suite;
    this.group = group;
    this.alpn = alpn;
    this.serverName = e.serverName;
    if (e.quicTransportParameters) this.setPeerTransportParameters(e.quicTransportParameters);
    this.clientRandom = Buffer.from(ch.random);
    const { share: serverShare, sharedSecret } = serverKeyShare(
      group.name,
      share.keyExchange,
      this.keyShareOptions(),
    );

    this.transcript.setHash(suite.hash);
    this.transcript.add(msg.raw);
    this.assertNoPending('initial');
    const ks = new KeySchedule(suite.hash, psk?.state.psk);
    this.resumed = psk !== undefined;
    if (psk?.early) {
      this.earlyDataAccepted = true;
      this.earlySecrets(ks, this.transcript.digest());
    }

    const sh = encodeServerHello({
      random: this.randomBytes(32),
      legacySessionIdEcho: ch.legacySessionId,
      cipherSuite: suite.code,
      extensions: {
        supportedVersions: [TLS13],
        keyShare: { group: group.code, keyExchange: serverShare },
        ...(psk ? { selectedIdentity: 0 } : {}),
      },
    });
    this.transcript.add(sh);
    this.send('initial', sh);
    ks.setSharedSecret(sharedSecret);
    sharedSecret.fill(0);
    this.ks = ks;
    this.hs = ks.handshakeTrafficSecrets(this.transcript.digest());
    this.secret('handshake', 'read', this.hs.client, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET');
    this.secret('handshake', 'write', this.hs.server, 'SERVER_HANDSHAKE_TRAFFIC_SECRET');
    this.step(
      `ClientHello -> ServerHello (${group.name}, ${suite.name}${psk ? ', resumed' : ''}${psk?.early ? ', 0-RTT' : ''})`,
      now,
    );

    const hs = this.hs;
    this.sendFlight('handshake', (add) => {
      const ee: ExtensionsInput = {};
      if (alpn !== undefined) ee.alpn = [alpn];
      if (c.quic) ee.quicTransportParameters = c.transportParameters!;
      if (this.earlyDataAccepted) ee.earlyData = true;
      if (e.serverName !== undefined) ee.serverName = '';
      add(encodeEncryptedExtensions(ee));
      if (!psk) {
        if (this.opts.requestCert) {
          this.requestedCert = true;
          const cr = { signatureAlgorithms: c.signatureAlgorithms };
          add(encodeCertificateRequest(Buffer.alloc(0), cr));
        }
        this.addCertificate(add, Buffer.alloc(0), this.credentials!, this.scheme!);
        this.signatureScheme = this.scheme;
      }
      add(encodeFinished(finishedVerifyData(suite.hash, hs.server, this.transcript.digest())));
    });
    this.app = ks.applicationTrafficSecrets(this.transcript.digest());
    this.keylog('EXPORTER_SECRET', ks.exporterMasterSecret(this.transcript.digest()));
    // 0.5-RTT: the server may send application data before the client's Finished.
    this.secret('application', 'write', this.app.server, 'SERVER_TRAFFIC_SECRET_0');
    this.state = this.requestedCert ? 'wait_cert' : 'wait_finished';
    this.step('server flight sent', now);
  }

  /** §4.1.2: the second ClientHello may only change key_share, early_data, cookie, pre_shared_key. */
  private checkSecondClientHello(ch: ClientHello): void {
    const a = this.ch1!;
    if (
      !ch.random.equals(a.random) ||
      !ch.legacySessionId.equals(a.legacySessionId) ||
      ch.cipherSuites.join() !== a.cipherSuites.join()
    )
      throw new TlsAlert('illegal_parameter', 'second ClientHello differs from the first');
    if (ch.extensions.earlyData)
      throw new TlsAlert('illegal_parameter', 'early_data after HelloRetryRequest');
    if (this.cookie && !(ch.extensions.cookie && ch.extensions.cookie.equals(this.cookie)))
      throw new TlsAlert('illegal_parameter', 'cookie not echoed');
  }

  private helloRetryRequest(
    ch: ClientHello,
    msg: HandshakeMessage,
    suite: CipherSuite,
    group: GroupInfo,
    now: number,
  ): void {
    this.retried = true;
    this.hrrGroup = group;
    this.ch1 = {
      ...ch,
      random: Buffer.from(ch.random),
      legacySessionId: Buffer.from(ch.legacySessionId),
    };
    this.suite = suite;
    this.transcript.setHash(suite.hash);
    this.transcript.add(msg.raw);
    this.assertNoPending('initial');
    const ext: ExtensionsInput = { supportedVersions: [TLS13], selectedGroup: group.code };
    if (this.opts.hrrCookie !== false) {
      // The cookie binds the retry to the first ClientHello (§4.2.2).
      this.cookie = createHmac('sha256', this.cookieKey)
        .update(hashOf(suite.hash, msg.raw))
        .digest();
      ext.cookie = this.cookie;
    }
    const hrr = encodeServerHello({
      random: HRR_RANDOM,
      legacySessionIdEcho: ch.legacySessionId,
      cipherSuite: suite.code,
      extensions: ext,
    });
    this.transcript.replaceWithMessageHash();
    this.transcript.add(hrr);
    this.send('initial', hrr);
    this.state = 'wait_ch2';
    this.step(`HelloRetryRequest (${group.name})`, now);
  }

  /** Returns the accepted PSK (identity 0 only) and whether 0-RTT is accepted. */
  private acceptPsk(
    ch: ClientHello,
    msg: HandshakeMessage,
    suite: CipherSuite,
    now: number,
  ): { state: TicketState; early: boolean } | undefined {
    const e = ch.extensions;
    if (!e.preSharedKey) return undefined;
    // §4.2.9: a client offering pre_shared_key must send psk_key_exchange_modes.
    if (!e.pskKeyExchangeModes)
      throw new TlsAlert('missing_extension', 'pre_shared_key without psk_key_exchange_modes');
    const keys = this.opts.ticketKeys;
    if (!keys || !e.pskKeyExchangeModes.includes(1)) return undefined;
    const id = e.preSharedKey.identities[0]!;
    const state = keys.open(id.identity, now);
    if (!state) return undefined;
    const ticketSuite = cipherSuiteByCode(state.suite);
    // §4.2.11: the PSK's hash must match the negotiated suite's.
    if (!ticketSuite || ticketSuite.hash !== suite.hash) return undefined;
    const age = now - state.createdAt;
    if (age < 0 || age > state.lifetime * 1000) return undefined;
    if (state.serverName !== (e.serverName ?? '')) return undefined;
    // §4.2.11.2: verify the binder over the truncated ClientHello (after an HRR, with the transcript prefix).
    const truncated = msg.raw.subarray(0, msg.raw.length - ch.bindersLength);
    const th = this.retried ? this.transcript.digestWith(truncated) : hashOf(suite.hash, truncated);
    const expected = finishedVerifyData(
      suite.hash,
      new KeySchedule(suite.hash, state.psk).binderKey(),
      th,
    );
    if (!verifyDataEquals(expected, e.preSharedKey.binders[0]!))
      throw new TlsAlert('decrypt_error', 'PSK binder does not verify');
    let early = false;
    if (
      e.earlyData &&
      this.common.quic &&
      !this.retried &&
      this.opts.earlyData &&
      state.maxEarlyData > 0 &&
      this.opts.antiReplay
    ) {
      const clientAge = (id.obfuscatedTicketAge - state.ageAdd) >>> 0;
      const alpnOk = state.alpn === (this.alpnFor(ch) ?? '');
      const suiteOk = state.suite === suite.code;
      const fresh = Math.abs(clientAge - age) <= TICKET_AGE_TOLERANCE_MS;
      early =
        alpnOk &&
        suiteOk &&
        fresh &&
        (this.opts.acceptEarlyData?.(state.appData) ?? true) &&
        this.opts.antiReplay.accept(id.identity, state.createdAt + state.lifetime * 1000, now);
    }
    return { state, early };
  }

  private alpnFor(ch: ClientHello): string | undefined {
    const offered = ch.extensions.alpn;
    return offered ? this.common.alpn.find((p) => offered.includes(p)) : undefined;
  }

  private onClientCertificate(msg: HandshakeMessage, now: number): void {
    const c = decodeCertificate(msg.body);
    if (c.context.length !== 0)
      throw new TlsAlert('illegal_parameter', 'client Certificate context mismatch');
    this.transcript.add(msg.raw);
    if (c.certificates.length === 0) {
      // §4.4.2.4: the server may abort with certificate_required.
      if (this.opts.rejectUnauthorized !== false)
        throw new TlsAlert('certificate_required', 'client sent no certificate');
      this.state = 'wait_finished';
      return;
    }
    const o = this.opts;
    this.peerCertificate = this.peerCertificateOf(
      c.certificates,
      o.rejectUnauthorized === false
        ? undefined
        : { purpose: 'client', ...(o.ca !== undefined ? { ca: o.ca } : {}), now },
    );
    this.state = 'wait_cv';
    this.step('client Certificate', now);
  }

  private onClientCertificateVerify(msg: HandshakeMessage, now: number): void {
    this.checkCertificateVerify(msg, this.peerCertificate!);
    this.state = 'wait_finished';
    this.step('client CertificateVerify', now);
  }

  private onFinished(msg: HandshakeMessage, now: number): void {
    this.checkFinished(msg, this.hs!.client);
    this.secret('application', 'read', this.app!.client, 'CLIENT_TRAFFIC_SECRET_0');
    this.state = 'connected';
    this.completed('client Finished (handshake complete)', now);
    for (let i = 0; i < this.ticketCount; i++) this.sendSessionTicket(now);
  }

  protected wipe(): void {
    this.ks?.wipe();
    this.cookieKey.fill(0);
  }

  /** Issues one more NewSessionTicket (after the handshake). */
  sendSessionTicket(now: number): void {
    if (this.failure) throw this.failure;
    if (!this.complete) throw new Error('handshake not complete');
    const keys = this.opts.ticketKeys;
    if (!keys) throw new Error('no ticketKeys configured');
    const suite = this.suite!;
    const rms = this.ks!.resumptionMasterSecret(this.transcript.digest());
    const nonce = this.randomBytes(8);
    const ageAdd = this.randomBytes(4).readUInt32BE(0);
    // RFC 9001 §4.6.1: 0xffffffff in QUIC; over TCP we do not take 0-RTT, so we do not offer it.
    const maxEarlyData = this.opts.earlyData && this.common.quic ? 0xffffffff : 0;
    const state: TicketState = {
      suite: suite.code,
      group: this.group!.code,
      psk: resumptionPsk(suite.hash, rms, nonce),
      createdAt: now,
      lifetime: this.lifetime,
      ageAdd,
      maxEarlyData,
      alpn: this.alpn ?? '',
      serverName: this.serverName ?? '',
      appData: Buffer.from(this.opts.ticketAppData ?? Buffer.alloc(0)),
    };
    const ticket = keys.seal(state, now);
    this.send(
      'application',
      encodeNewSessionTicket({
        lifetime: this.lifetime,
        ageAdd,
        nonce,
        ticket,
        extensions: maxEarlyData ? { maxEarlyDataSize: maxEarlyData } : {},
      }),
    );
  }
}
