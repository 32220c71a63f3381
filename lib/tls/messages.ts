// TLS 1.3 handshake messages (RFC 8446 §4): framing (type u8 + u24 length), reassembly from a
// byte stream (CRYPTO frames or records), and encoders/decoders for each message. Decoders
// take peer input and throw only TlsAlert.

import { TlsAlert } from './alerts.js';
import { Reader, Writer } from './codec.js';
import {
  decodeExtensions,
  encodeExtensions,
  type Extensions,
  type ExtensionsInput,
} from './extensions.js';

export * from './extensions.js';
export { TlsAlert } from './alerts.js';

export const HandshakeType = {
  client_hello: 1,
  server_hello: 2,
  new_session_ticket: 4,
  end_of_early_data: 5,
  encrypted_extensions: 8,
  certificate: 11,
  certificate_request: 13,
  certificate_verify: 15,
  finished: 20,
  key_update: 24,
  message_hash: 254,
} as const;

const typeNames = new Map<number, string>(Object.entries(HandshakeType).map(([k, v]) => [v, k]));
export function handshakeTypeName(type: number): string {
  return typeNames.get(type) ?? `unknown_${type}`;
}

export const TLS13 = 0x0304;
export const LEGACY_VERSION = 0x0303;

/** RFC 8446 §4.1.3: the ServerHello.random that marks a HelloRetryRequest. */
export const HRR_RANDOM = Buffer.from(
  'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c',
  'hex',
);

export interface HandshakeMessage {
  type: number;
  /** The body (a view into `raw`). */
  body: Buffer;
  /** The whole message: 4-byte header + body, as it enters the transcript. */
  raw: Buffer;
}

/** Frames a body as a handshake message. */
export function frameHandshake(type: number, body: Uint8Array): Buffer {
  if (body.length > 0xffffff) throw new RangeError('handshake body too long');
  const out = Buffer.allocUnsafe(4 + body.length);
  out[0] = type;
  out.writeUIntBE(body.length, 1, 3);
  out.set(body, 4);
  return out;
}

/** Largest message we accept; a Certificate chain may be large, the rest are small. */
export function maxMessageSize(type: number): number {
  return type === HandshakeType.certificate ? 1 << 18 : 1 << 16;
}

/**
 * Reassembles handshake messages from a byte stream (QUIC CRYPTO data in order, or TLS
 * record payloads). Buffered bytes are bounded by the largest allowed message.
 */
export class HandshakeReassembler {
  // Received chunks not yet consumed; joined only when a whole message is present, so a peer
  // dribbling one byte at a time costs O(total), not O(total^2).
  private chunks: Buffer[] = [];
  private total = 0;

  /** Bytes received but not yet forming a whole message. */
  get buffered(): number {
    return this.total;
  }

  push(data: Uint8Array): HandshakeMessage[] {
    if (data.length === 0) return [];
    this.chunks.push(Buffer.from(data));
    this.total += data.length;
    const out: HandshakeMessage[] = [];
    while (this.total >= 4) {
      if (this.chunks[0]!.length < 4) this.join();
      const head = this.chunks[0]!;
      const type = head[0]!;
      const len = head.readUIntBE(1, 3);
      if (len > maxMessageSize(type))
        throw new TlsAlert(
          'decode_error',
          `${handshakeTypeName(type)} of ${len} bytes is too large`,
        );
      if (this.total < 4 + len) break;
      if (head.length < 4 + len) this.join();
      const buf = this.chunks[0]!;
      const raw = buf.subarray(0, 4 + len);
      out.push({ type, body: raw.subarray(4), raw });
      const rest = buf.subarray(4 + len);
      if (rest.length) this.chunks[0] = rest;
      else this.chunks.shift();
      this.total -= 4 + len;
    }
    return out;
  }

  private join(): void {
    this.chunks = [Buffer.concat(this.chunks, this.total)];
  }
}

/* ---------------- ClientHello (RFC 8446 §4.1.2) ---------------- */

export interface ClientHello {
  legacyVersion: number;
  random: Buffer;
  legacySessionId: Buffer;
  cipherSuites: number[];
  extensions: Extensions;
  /** Bytes of the encoded binders list (u16 length included) at the end; 0 without a PSK. */
  bindersLength: number;
}

export function decodeClientHello(body: Uint8Array): ClientHello {
  const r = new Reader(body);
  const legacyVersion = r.u16('legacy_version');
  const random = r.bytes(32, 'random');
  const legacySessionId = r.vec8('legacy_session_id');
  if (legacySessionId.length > 32)
    throw new TlsAlert('illegal_parameter', 'legacy_session_id too long');
  const cipherSuites = r.u16List('cipher_suites', 2);
  const compression = r.vec8('legacy_compression_methods', 1);
  // RFC 8446 §4.1.2: a TLS 1.3 ClientHello has exactly one compression method, null.
  if (compression.length !== 1 || compression[0] !== 0)
    throw new TlsAlert('illegal_parameter', 'compression methods must be [null]');
  if (r.remaining === 0) throw new TlsAlert('protocol_version', 'ClientHello without extensions');
  const er = r.sub16('extensions');
  r.expectEnd('ClientHello');
  const extensions = decodeExtensions(er, 'client_hello');
  let bindersLength = 0;
  if (extensions.preSharedKey) {
    bindersLength = 2 + extensions.preSharedKey.binders.reduce((n, b) => n + 1 + b.length, 0);
  }
  return { legacyVersion, random, legacySessionId, cipherSuites, extensions, bindersLength };
}

export interface ClientHelloInput {
  random: Uint8Array;
  legacySessionId?: Uint8Array;
  cipherSuites: readonly number[];
  extensions: ExtensionsInput;
}

export function encodeClientHello(ch: ClientHelloInput): Buffer {
  const w = new Writer(2048);
  w.u16(LEGACY_VERSION)
    .bytes(ch.random)
    .vec8(ch.legacySessionId ?? Buffer.alloc(0));
  w.u16List(ch.cipherSuites).vec8(Buffer.from([0]));
  encodeExtensions(w, ch.extensions, 'client_hello');
  return frameHandshake(HandshakeType.client_hello, w.finish());
}

/* ---------------- ServerHello / HelloRetryRequest (RFC 8446 §4.1.3, §4.1.4) ---------------- */

export interface ServerHello {
  legacyVersion: number;
  random: Buffer;
  legacySessionIdEcho: Buffer;
  cipherSuite: number;
  /** True when random is HRR_RANDOM: the message is a HelloRetryRequest. */
  isHelloRetryRequest: boolean;
  extensions: Extensions;
}

export function decodeServerHello(body: Uint8Array): ServerHello {
  const r = new Reader(body);
  const legacyVersion = r.u16('legacy_version');
  const random = r.bytes(32, 'random');
  const legacySessionIdEcho = r.vec8('legacy_session_id_echo');
  if (legacySessionIdEcho.length > 32)
    throw new TlsAlert('illegal_parameter', 'legacy_session_id too long');
  const cipherSuite = r.u16('cipher_suite');
  if (r.u8('legacy_compression_method') !== 0)
    throw new TlsAlert('illegal_parameter', 'compression method');
  const isHelloRetryRequest = random.equals(HRR_RANDOM);
  const extensions = decodeExtensions(
    r.sub16('extensions'),
    isHelloRetryRequest ? 'hello_retry_request' : 'server_hello',
  );
  r.expectEnd('ServerHello');
  return {
    legacyVersion,
    random,
    legacySessionIdEcho,
    cipherSuite,
    isHelloRetryRequest,
    extensions,
  };
}

export interface ServerHelloInput {
  random: Uint8Array; // HRR_RANDOM for a HelloRetryRequest
  legacySessionIdEcho?: Uint8Array;
  cipherSuite: number;
  extensions: ExtensionsInput;
}

export function encodeServerHello(sh: ServerHelloInput): Buffer {
  const w = new Writer(1400);
  w.u16(LEGACY_VERSION)
    .bytes(sh.random)
    .vec8(sh.legacySessionIdEcho ?? Buffer.alloc(0));
  w.u16(sh.cipherSuite).u8(0);
  const hrr = Buffer.from(sh.random).equals(HRR_RANDOM);
  encodeExtensions(w, sh.extensions, hrr ? 'hello_retry_request' : 'server_hello');
  return frameHandshake(HandshakeType.server_hello, w.finish());
}

/* ---------------- EncryptedExtensions (§4.3.1) ---------------- */

export function decodeEncryptedExtensions(body: Uint8Array): Extensions {
  const r = new Reader(body);
  const ext = decodeExtensions(r.sub16('extensions'), 'encrypted_extensions');
  r.expectEnd('EncryptedExtensions');
  return ext;
}

export function encodeEncryptedExtensions(ext: ExtensionsInput): Buffer {
  const w = new Writer(256);
  encodeExtensions(w, ext, 'encrypted_extensions');
  return frameHandshake(HandshakeType.encrypted_extensions, w.finish());
}

/* ---------------- CertificateRequest (§4.3.2) ---------------- */

export interface CertificateRequest {
  context: Buffer;
  extensions: Extensions;
}

export function decodeCertificateRequest(body: Uint8Array): CertificateRequest {
  const r = new Reader(body);
  const context = r.vec8('certificate_request_context');
  const extensions = decodeExtensions(r.sub16('extensions'), 'certificate_request');
  r.expectEnd('CertificateRequest');
  // §4.3.2: signature_algorithms MUST be present.
  if (!extensions.signatureAlgorithms)
    throw new TlsAlert('missing_extension', 'CertificateRequest without signature_algorithms');
  return { context, extensions };
}

export function encodeCertificateRequest(context: Uint8Array, ext: ExtensionsInput): Buffer {
  const w = new Writer(128);
  w.vec8(context);
  encodeExtensions(w, ext, 'certificate_request');
  return frameHandshake(HandshakeType.certificate_request, w.finish());
}

/* ---------------- Certificate (§4.4.2) ---------------- */

export interface CertificateMessage {
  context: Buffer;
  /** DER certificates, leaf first. */
  certificates: Buffer[];
}

export function decodeCertificate(body: Uint8Array): CertificateMessage {
  const r = new Reader(body);
  const context = r.vec8('certificate_request_context');
  const list = r.sub24('certificate_list');
  r.expectEnd('Certificate');
  const certificates: Buffer[] = [];
  while (list.remaining > 0) {
    certificates.push(list.vec24('cert_data', 1));
    decodeExtensions(list.sub16('certificate extensions'), 'certificate'); // checked, unused
  }
  return { context, certificates };
}

export function encodeCertificate(
  context: Uint8Array,
  certificates: readonly Uint8Array[],
): Buffer {
  const w = new Writer(4096);
  w.vec8(context);
  w.vec24(() => {
    for (const c of certificates) w.vec24(c).u16(0);
  });
  return frameHandshake(HandshakeType.certificate, w.finish());
}

/* ---------------- CertificateVerify (§4.4.3) ---------------- */

export interface CertificateVerify {
  algorithm: number;
  signature: Buffer;
}

export function decodeCertificateVerify(body: Uint8Array): CertificateVerify {
  const r = new Reader(body);
  const algorithm = r.u16('signature algorithm');
  const signature = r.vec16('signature', 1);
  r.expectEnd('CertificateVerify');
  return { algorithm, signature };
}

export function encodeCertificateVerify(algorithm: number, signature: Uint8Array): Buffer {
  const w = new Writer(16 + signature.length);
  w.u16(algorithm).vec16(signature);
  return frameHandshake(HandshakeType.certificate_verify, w.finish());
}

/* ---------------- Finished (§4.4.4) ---------------- */

export function encodeFinished(verifyData: Uint8Array): Buffer {
  return frameHandshake(HandshakeType.finished, verifyData);
}

/* ---------------- NewSessionTicket (§4.6.1) ---------------- */

export interface NewSessionTicket {
  lifetime: number; // seconds
  ageAdd: number;
  nonce: Buffer;
  ticket: Buffer;
  extensions: Extensions;
}

export function decodeNewSessionTicket(body: Uint8Array): NewSessionTicket {
  const r = new Reader(body);
  const lifetime = r.u32('ticket_lifetime');
  const ageAdd = r.u32('ticket_age_add');
  const nonce = r.vec8('ticket_nonce');
  const ticket = r.vec16('ticket', 1);
  const extensions = decodeExtensions(r.sub16('extensions'), 'new_session_ticket');
  r.expectEnd('NewSessionTicket');
  // §4.6.1: servers MUST NOT use any value greater than 604800 seconds (7 days).
  if (lifetime > 604800) throw new TlsAlert('illegal_parameter', 'ticket lifetime over 7 days');
  return { lifetime, ageAdd, nonce, ticket, extensions };
}

export function encodeNewSessionTicket(
  t: Omit<NewSessionTicket, 'extensions'> & { extensions: ExtensionsInput },
): Buffer {
  const w = new Writer(64 + t.ticket.length);
  w.u32(t.lifetime).u32(t.ageAdd).vec8(t.nonce).vec16(t.ticket);
  encodeExtensions(w, t.extensions, 'new_session_ticket');
  return frameHandshake(HandshakeType.new_session_ticket, w.finish());
}

/* ---------------- KeyUpdate (§4.6.3; record layer only, never in QUIC) ---------------- */

export function decodeKeyUpdate(body: Uint8Array): boolean {
  const r = new Reader(body);
  const v = r.u8('request_update');
  r.expectEnd('KeyUpdate');
  if (v > 1) throw new TlsAlert('illegal_parameter', 'KeyUpdate request value');
  return v === 1;
}

export function encodeKeyUpdate(requestUpdate: boolean): Buffer {
  return frameHandshake(HandshakeType.key_update, Buffer.from([requestUpdate ? 1 : 0]));
}

/** RFC 8446 §4.4.1: the synthetic message replacing ClientHello1 after a HelloRetryRequest. */
export function messageHash(clientHello1Hash: Uint8Array): Buffer {
  return frameHandshake(HandshakeType.message_hash, clientHello1Hash);
}
