// TLS 1.3 client state machine (RFC 8446 §4, QUIC profile RFC 9001 §4 and §8).

import { isIP } from 'node:net';
import { ClientKeyShare, groupByCode, type GroupName } from '../crypto/groups.js';
import { cipherSuiteByCode } from '../crypto/suites.js';
import { TlsAlert } from './alerts.js';
import {
  chooseScheme,
  optionalCredentials,
  type Credentials,
  type PemInput,
} from './certificates.js';
import { TlsEngine, resolveCommon, type Level, type TlsCommonOptions } from './engine.js';
import { KeySchedule, finishedVerifyData, resumptionPsk } from './key-schedule.js';
import {
  ExtensionType,
  HandshakeType,
  TLS13,
  bindersLength,
  decodeCertificate,
  decodeCertificateRequest,
  decodeClientHello,
  decodeEncryptedExtensions,
  decodeNewSessionTicket,
  decodeServerHello,
  encodeCertificate,
  encodeClientHello,
  encodeFinished,
  type CertificateRequest,
  type ExtensionsInput,
  type HandshakeMessage,
  type ServerHello,
} from './messages.js';
import type { SessionTicket } from './session-ticket.js';
import { hashOf } from './transcript.js';

export interface TlsClientOptions extends TlsCommonOptions {
  /** Server name for SNI and certificate verification (a host name or an IP address). */
  servername?: string;
  /** Trust anchors (PEM); default: Node's root store (tls.rootCertificates). */
  ca?: PemInput;
  /** Verify the server's certificate chain and name (default true). */
  rejectUnauthorized?: boolean;
  /** Client certificate chain and key (PEM), used when the server asks (mutual TLS). */
  certs?: PemInput;
  keys?: string | Buffer;
  /** A ticket from an earlier connection to resume with (psk_dhe_ke, fresh key share). */
  session?: SessionTicket;
  /** Try 0-RTT when `session` allows it (emits an 'early' write secret). */
  earlyData?: boolean;
  /** Groups to send key shares for; default X25519MLKEM768 and X25519 (those in `groups`). */
  keyShares?: readonly GroupName[];
}

type State =
  | 'start'
  | 'wait_sh'
  | 'wait_ee'
  | 'wait_cert_cr'
  | 'wait_cert'
  | 'wait_cv'
  | 'wait_finished'
  | 'connected';

export class TlsClient extends TlsEngine {
  private state: State = 'start';
  private readonly opts: TlsClientOptions;
  private readonly credentials: Credentials | undefined;
  private shares = new Map<number, ClientKeyShare>();
  private sentTypes = new Set<number>();
  private cookie: Buffer | undefined;
  private session: SessionTicket | undefined;
  private offeredPsk = false;
  private offeredEarly = false;
  private ks: KeySchedule | undefined;
  private hs: { client: Buffer; server: Buffer } | undefined;
  private certRequest: CertificateRequest | undefined;
  private resumptionMasterSecret: Buffer | undefined;

  constructor(options: TlsClientOptions = {}) {
    super('client', resolveCommon(options));
    this.opts = options;
    if (
      options.servername !== undefined &&
      (typeof options.servername !== 'string' || options.servername.length === 0)
    )
      throw new TypeError('servername must be a non-empty string');
    if (this.common.quic && this.common.alpn.length === 0)
      throw new TypeError('alpn is required in the QUIC profile (RFC 9001 §8.1)');
    // Without a name there is nothing to check the certificate against.
    if (options.servername === undefined && options.rejectUnauthorized !== false)
      throw new TypeError('servername is required unless rejectUnauthorized is false');
    this.credentials = optionalCredentials(options.certs, options.keys);
    this.serverName = options.servername;
    const wanted = options.keyShares ?? ['X25519MLKEM768', 'X25519'];
    let shareGroups = this.common.groups.filter((g) => wanted.includes(g.name));
    if (shareGroups.length === 0) shareGroups = [this.common.groups[0]!];
    this.shareGroups = shareGroups.map((g) => g.name);
  }
  private readonly shareGroups: GroupName[];

  /** Produces the ClientHello ('data' at 'initial', and an 'early' write secret for 0-RTT). */
  start(now: number): void {
    if (this.state !== 'start') throw new Error('start() called twice');
    if (this.failure) throw this.failure;
    this.startedAt = this.lastStep = now;
    try {
      for (const name of this.shareGroups) {
        const s = ClientKeyShare.generate(name, this.keyShareOptions());
        this.shares.set(s.group.code, s);
      }
      this.session = this.usableSession(now);
      const ch = this.clientHello(now);
      this.transcript.add(ch);
      this.send('initial', ch);
      this.state = 'wait_sh';
      this.step('ClientHello', now);
      if (this.offeredEarly) {
        const s = this.session!;
        const suite = cipherSuiteByCode(s.suite)!;
        this.earlySecrets(new KeySchedule(suite.hash, s.psk), hashOf(suite.hash, ch), suite);
      }
    } catch (e) {
      this.destroyShares();
      throw e;
    }
  }

  private usableSession(now: number): SessionTicket | undefined {
    const s = this.opts.session;
    if (!s) return undefined;
    const suite = cipherSuiteByCode(s.suite);
    if (!suite || !this.common.suites.includes(suite)) return undefined;
    if (now - s.receivedAt > s.lifetime * 1000 || now < s.receivedAt) return undefined;
    if (s.serverName !== this.opts.servername) return undefined;
    return s;
  }

  private clientHello(now: number): Buffer {
    const c = this.common;
    const sni =
      this.opts.servername !== undefined && isIP(this.opts.servername) === 0
        ? this.opts.servername
        : undefined;
    const s = this.session;
    // 0-RTT needs the ticket's permission and its ALPN among ours; never after HRR (§4.2.10).
    // (Only in QUIC: over TCP it would need EndOfEarlyData and a record-layer 0-RTT path.)
    this.offeredEarly =
      c.quic &&
      !this.retried &&
      this.opts.earlyData === true &&
      s !== undefined &&
      s.maxEarlyData > 0 &&
      (s.alpn === undefined ? c.alpn.length === 0 : c.alpn.includes(s.alpn));
    const ext: ExtensionsInput = {
      supportedVersions: [TLS13],
      supportedGroups: c.groups.map((g) => g.code),
      signatureAlgorithms: c.signatureAlgorithms,
      keyShares: [...this.shares.values()].map((k) => ({
        group: k.group.code,
        keyExchange: k.share,
      })),
      pskKeyExchangeModes: [1], // psk_dhe_ke only: resumed sessions keep a fresh (hybrid) key exchange
    };
    if (sni !== undefined) ext.serverName = sni;
    if (c.alpn.length > 0) ext.alpn = c.alpn;
    if (c.transportParameters && c.quic) ext.quicTransportParameters = c.transportParameters;
    if (this.cookie) ext.cookie = this.cookie;
    if (this.offeredEarly) ext.earlyData = true;
    const suite = s ? cipherSuiteByCode(s.suite)! : undefined;
    this.offeredPsk = s !== undefined && (!this.retried || this.suite!.hash === suite!.hash);
    const hashLen = suite ? (suite.hash === 'sha384' ? 48 : 32) : 0;
    if (this.offeredPsk) {
      const age = (now - s!.receivedAt + s!.ageAdd) % 2 ** 32; // §4.2.11.1 obfuscated_ticket_age
      ext.preSharedKey = {
        identities: [{ identity: s!.ticket, obfuscatedTicketAge: age >>> 0 }],
        binders: [Buffer.alloc(hashLen)],
      };
    }
    const ch = encodeClientHello({
      random: this.clientRandom,
      cipherSuites: c.suites.map((x) => x.code),
      extensions: ext,
    });
    if (this.offeredPsk) {
      // §4.2.11.2: the binder is an HMAC over the ClientHello truncated before the binders list
      // (after a HelloRetryRequest, prefixed by the transcript so far).
      const truncated = ch.subarray(0, ch.length - bindersLength([hashLen]));
      const th = this.retried
        ? this.transcript.digestWith(truncated)
        : hashOf(suite!.hash, truncated);
      const binderKey = new KeySchedule(suite!.hash, s!.psk).binderKey();
      ch.set(finishedVerifyData(suite!.hash, binderKey, th), ch.length - hashLen);
    }
    this.sentTypes = new Set(decodeClientHello(ch.subarray(4)).extensions.types);
    return ch;
  }

  protected handle(level: Level, msg: HandshakeMessage, now: number): void {
    const T = HandshakeType;
    switch (this.state) {
      case 'wait_sh':
        if (msg.type !== T.server_hello) break;
        this.expectLevel(level, 'initial', msg);
        return this.onServerHello(msg, now);
      case 'wait_ee':
        if (msg.type !== T.encrypted_extensions) break;
        this.expectLevel(level, 'handshake', msg);
        return this.onEncryptedExtensions(msg, now);
      case 'wait_cert_cr':
        if (msg.type === T.certificate_request) {
          this.expectLevel(level, 'handshake', msg);
          const cr = decodeCertificateRequest(msg.body);
          // §4.3.2: the context is empty during the handshake.
          if (cr.context.length !== 0)
            throw new TlsAlert('illegal_parameter', 'CertificateRequest context must be empty');
          this.certRequest = cr;
          this.transcript.add(msg.raw);
          this.state = 'wait_cert';
          return;
        }
        if (msg.type !== T.certificate) break;
        this.expectLevel(level, 'handshake', msg);
        return this.onCertificate(msg, now);
      case 'wait_cert':
        if (msg.type !== T.certificate) break;
        this.expectLevel(level, 'handshake', msg);
        return this.onCertificate(msg, now);
      case 'wait_cv':
        if (msg.type !== T.certificate_verify) break;
        this.expectLevel(level, 'handshake', msg);
        return this.onCertificateVerify(msg, now);
      case 'wait_finished':
        if (msg.type !== T.finished) break;
        this.expectLevel(level, 'handshake', msg);
        return this.onFinished(msg, now);
      case 'connected':
        if (msg.type === T.new_session_ticket) {
          this.expectLevel(level, 'application', msg);
          return this.onNewSessionTicket(msg, now);
        }
        if (msg.type === T.key_update) return this.handleKeyUpdate(level, msg);
        break;
    }
    throw new TlsAlert(
      'unexpected_message',
      `unexpected message type ${msg.type} in state ${this.state}`,
    );
  }

  private checkServerHello(sh: ServerHello, hrr: boolean): void {
    // §4.1.3: TLS 1.3 is negotiated with supported_versions only; without it the server
    // speaks an older version we do not; with another value it is illegal (§4.2.1).
    const version = sh.extensions.supportedVersions?.[0];
    if (version === undefined)
      throw new TlsAlert('protocol_version', 'server did not select TLS 1.3');
    if (version !== TLS13)
      throw new TlsAlert('illegal_parameter', 'server selected a version we did not offer');
    if (sh.legacySessionIdEcho.length !== 0)
      throw new TlsAlert('illegal_parameter', 'legacy_session_id_echo does not match');
    const suite = cipherSuiteByCode(sh.cipherSuite);
    if (!suite || !this.common.suites.includes(suite))
      throw new TlsAlert('illegal_parameter', 'server chose a cipher suite we did not offer');
    if (this.retried && suite !== this.suite)
      throw new TlsAlert('illegal_parameter', 'cipher suite differs from the HelloRetryRequest');
    for (const t of sh.extensions.types) {
      // §4.1.4: cookie may appear in a HelloRetryRequest unsolicited.
      if (!this.sentTypes.has(t) && !(hrr && t === ExtensionType.cookie))
        throw new TlsAlert('unsupported_extension', `server sent extension ${t} we did not offer`);
    }
    this.suite = suite;
  }

  private onHelloRetryRequest(sh: ServerHello, msg: HandshakeMessage, now: number): void {
    if (this.retried) throw new TlsAlert('unexpected_message', 'second HelloRetryRequest');
    this.checkServerHello(sh, true);
    const g = sh.extensions.selectedGroup;
    if (g === undefined && !sh.extensions.cookie)
      throw new TlsAlert('illegal_parameter', 'HelloRetryRequest would not change the ClientHello');
    if (g !== undefined) {
      const info = groupByCode(g);
      // §4.2.8: the group must be one we support and one we did not already send a share for.
      if (!info || !this.common.groups.includes(info))
        throw new TlsAlert('illegal_parameter', 'HelloRetryRequest selected an unoffered group');
      if (this.shares.has(g))
        throw new TlsAlert(
          'illegal_parameter',
          'HelloRetryRequest selected a group we sent a share for',
        );
      this.destroyShares();
      const s = ClientKeyShare.generate(info.name, this.keyShareOptions());
      this.shares.set(g, s);
    }
    this.retried = true;
    this.cookie = sh.extensions.cookie ? Buffer.from(sh.extensions.cookie) : undefined;
    this.transcript.setHash(this.suite!.hash);
    this.transcript.replaceWithMessageHash();
    this.transcript.add(msg.raw);
    this.assertNoPending('initial');
    const ch2 = this.clientHello(now);
    this.transcript.add(ch2);
    this.send('initial', ch2);
    this.step('HelloRetryRequest -> ClientHello2', now);
  }

  private onServerHello(msg: HandshakeMessage, now: number): void {
    const sh = decodeServerHello(msg.body);
    if (sh.isHelloRetryRequest) return this.onHelloRetryRequest(sh, msg, now);
    this.checkServerHello(sh, false);
    const e = sh.extensions;
    const suite = this.suite!;
    if (e.selectedIdentity !== undefined) {
      if (!this.offeredPsk || e.selectedIdentity !== 0)
        throw new TlsAlert('illegal_parameter', 'server selected a PSK we did not offer');
      if (cipherSuiteByCode(this.session!.suite)!.hash !== suite.hash)
        throw new TlsAlert('illegal_parameter', 'PSK hash does not match the cipher suite');
      this.resumed = true;
    }
    // We only offer psk_dhe_ke: a key share is always required.
    if (!e.keyShare) throw new TlsAlert('missing_extension', 'ServerHello without key_share');
    const share = this.shares.get(e.keyShare.group);
    if (!share)
      throw new TlsAlert('illegal_parameter', 'server key share for a group we did not send');
    this.group = share.group;
    if (this.common.requirePostQuantum && !share.group.postQuantum)
      throw new TlsAlert('insufficient_security', 'server chose a group that is not post-quantum');
    const shared = share.complete(e.keyShare.keyExchange);
    this.destroyShares();
    this.transcript.setHash(suite.hash);
    this.transcript.add(msg.raw);
    this.ks = new KeySchedule(suite.hash, this.resumed ? this.session!.psk : undefined);
    this.ks.setSharedSecret(shared);
    shared.fill(0);
    this.hs = this.ks.handshakeTrafficSecrets(this.transcript.digest());
    this.assertNoPending('initial');
    this.secret('handshake', 'read', this.hs.server, 'SERVER_HANDSHAKE_TRAFFIC_SECRET');
    this.secret('handshake', 'write', this.hs.client, 'CLIENT_HANDSHAKE_TRAFFIC_SECRET');
    this.state = 'wait_ee';
    this.step(
      `ServerHello (${share.group.name}, ${suite.name}${this.resumed ? ', resumed' : ''})`,
      now,
    );
  }

  private onEncryptedExtensions(msg: HandshakeMessage, now: number): void {
    const e = decodeEncryptedExtensions(msg.body);
    for (const t of e.types)
      if (!this.sentTypes.has(t))
        throw new TlsAlert('unsupported_extension', `server sent extension ${t} we did not offer`);
    if (e.alpn) {
      if (!this.common.alpn.includes(e.alpn[0]!))
        throw new TlsAlert(
          'illegal_parameter',
          'server selected an ALPN protocol we did not offer',
        );
      this.alpn = e.alpn[0];
    } else if (this.common.quic) {
      // RFC 9001 §8.1: ALPN is mandatory in QUIC.
      throw new TlsAlert(
        'no_application_protocol',
        'server did not select an application protocol',
      );
    }
    if (this.common.quic) {
      // RFC 9001 §8.2: quic_transport_parameters is mandatory.
      if (!e.quicTransportParameters)
        throw new TlsAlert('missing_extension', 'no quic_transport_parameters');
      this.setPeerTransportParameters(e.quicTransportParameters);
    }
    this.earlyDataAccepted = this.offeredEarly && e.earlyData === true;
    // §4.2.10: early data can only be accepted with the first PSK, its cipher suite and ALPN.
    if (this.earlyDataAccepted) {
      if (!this.resumed) throw new TlsAlert('illegal_parameter', '0-RTT accepted without the PSK');
      if (this.suite!.code !== this.session!.suite)
        throw new TlsAlert('illegal_parameter', '0-RTT accepted with a different cipher suite');
      if (this.session!.alpn !== this.alpn)
        throw new TlsAlert('illegal_parameter', '0-RTT accepted with a different ALPN');
    }
    this.transcript.add(msg.raw);
    this.state = this.resumed ? 'wait_finished' : 'wait_cert_cr';
    this.step('EncryptedExtensions', now);
  }

  private onCertificate(msg: HandshakeMessage, now: number): void {
    const c = decodeCertificate(msg.body);
    if (c.context.length !== 0)
      throw new TlsAlert('illegal_parameter', 'server Certificate with a context');
    // §4.4.2.4: a server must send a certificate.
    if (c.certificates.length === 0) throw new TlsAlert('decode_error', 'empty server Certificate');
    const o = this.opts;
    this.peerCertificate = this.peerCertificateOf(
      c.certificates,
      o.rejectUnauthorized === false
        ? undefined
        : {
            purpose: 'server',
            ...(o.ca !== undefined ? { ca: o.ca } : {}),
            ...(o.servername !== undefined ? { host: o.servername } : {}),
            now,
          },
    );
    this.transcript.add(msg.raw);
    this.state = 'wait_cv';
    this.step('Certificate', now);
  }

  private onCertificateVerify(msg: HandshakeMessage, now: number): void {
    this.signatureScheme = this.checkCertificateVerify(msg, this.peerCertificate!);
    this.state = 'wait_finished';
    this.step('CertificateVerify', now);
  }

  private onFinished(msg: HandshakeMessage, now: number): void {
    const suite = this.suite!;
    this.checkFinished(msg, this.hs!.server);
    const app = this.ks!.applicationTrafficSecrets(this.transcript.digest());
    this.keylog('EXPORTER_SECRET', this.ks!.exporterMasterSecret(this.transcript.digest()));
    this.secret('application', 'read', app.server, 'SERVER_TRAFFIC_SECRET_0');
    this.sendFlight('handshake', (add) => {
      const cr = this.certRequest;
      if (cr) {
        const creds = this.credentials;
        const scheme = creds ? chooseScheme(creds, cr.extensions.signatureAlgorithms) : undefined;
        if (creds && scheme !== undefined) this.addCertificate(add, cr.context, creds, scheme);
        else add(encodeCertificate(cr.context, [])); // §4.4.2: an empty Certificate when we have none
      }
      const verifyData = finishedVerifyData(suite.hash, this.hs!.client, this.transcript.digest());
      add(encodeFinished(verifyData));
    });
    this.secret('application', 'write', app.client, 'CLIENT_TRAFFIC_SECRET_0');
    this.resumptionMasterSecret = this.ks!.resumptionMasterSecret(this.transcript.digest());
    this.state = 'connected';
    this.completed('Finished (handshake complete)', now);
  }

  private onNewSessionTicket(msg: HandshakeMessage, now: number): void {
    const t = decodeNewSessionTicket(msg.body);
    const max = t.extensions.maxEarlyDataSize;
    // RFC 9001 §4.6.1: in QUIC, max_early_data_size must be 0xffffffff when present.
    if (this.common.quic && max !== undefined && max !== 0xffffffff)
      throw new TlsAlert('illegal_parameter', 'max_early_data_size must be 0xffffffff in QUIC');
    if (t.lifetime === 0) return; // §4.6.1: lifetime 0 means do not use
    const suite = this.suite!;
    this.events.push({
      type: 'session-ticket',
      ticket: {
        ticket: Buffer.from(t.ticket),
        psk: resumptionPsk(suite.hash, this.resumptionMasterSecret!, t.nonce),
        suite: suite.code,
        ageAdd: t.ageAdd,
        lifetime: t.lifetime,
        receivedAt: now,
        maxEarlyData: max ?? 0,
        alpn: this.alpn,
        serverName: this.opts.servername,
        transportParameters: this.peerTransportParameters,
      },
    });
  }

  protected wipe(): void {
    this.destroyShares();
    this.ks?.wipe();
    this.resumptionMasterSecret?.fill(0);
  }

  private destroyShares(): void {
    for (const s of this.shares.values()) s.destroy();
    this.shares.clear();
  }
}
