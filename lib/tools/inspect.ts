// The packet inspector behind `zquic inspect`: takes datagrams (from hex, a raw file or a
// capture), parses every packet header, removes Initial protection with keys derived from
// the DCID (RFC 9001 §5.2), and Handshake / 0-RTT / 1-RTT protection with secrets from an
// SSLKEYLOGFILE; lists frames; reassembles CRYPTO data per level and direction and decodes
// the TLS handshake messages (ClientHello / ServerHello / EncryptedExtensions). Read-only:
// nothing here is on the data path, so it favours clarity (copies, retries) over speed.
import { groupByCode } from '../crypto/groups.js';
import {
  PacketKey,
  QUIC_V1,
  QUIC_V2,
  initialSecrets,
  verifyRetryIntegrity,
} from '../crypto/packet.js';
import { CIPHER_SUITES, cipherSuiteByCode, type CipherSuite } from '../crypto/suites.js';
import { transportErrorName } from '../quic/errors.js';
import type { Frame } from '../quic/frames.js';
import { parseHeader, splitDatagram, type PacketHeader } from '../quic/header.js';
import { readPacketFrames } from '../quic/parser.js';
import {
  decodeTransportParameters,
  type Role,
  type TransportParameters,
} from '../quic/transport-params.js';
import {
  HandshakeType,
  decodeClientHello,
  decodeEncryptedExtensions,
  decodeServerHello,
  handshakeTypeName,
  type Extensions,
} from '../tls/messages.js';

export interface InspectDatagram {
  data: Uint8Array;
  src?: string;
  dst?: string;
  time?: number;
  /** 'k/n' for one of n datagrams a capture saw as one UDP send with GSO (see splitGso). */
  segment?: string;
}

/**
 * Captures on loopback see UDP GSO sends (many equal-sized datagrams in one UDP payload) as
 * one huge datagram. Splits a payload above 1500 bytes that starts with a short header into
 * segments of the size s (1200..1500) at which every segment starts with a short header and
 * the same first DCID bytes.
 */
export function splitGso(datagrams: readonly InspectDatagram[]): InspectDatagram[] {
  const out: InspectDatagram[] = [];
  for (const d of datagrams) {
    const b = d.data;
    const size = b.length > 1500 && (b[0]! & 0x80) === 0 ? gsoSize(b) : 0;
    if (!size) {
      out.push(d);
      continue;
    }
    const n = Math.ceil(b.length / size);
    for (let k = 0; k < n; k++)
      out.push({
        ...d,
        data: b.subarray(k * size, Math.min(b.length, (k + 1) * size)),
        segment: `${k + 1}/${n}`,
      });
  }
  return out;
}

function gsoSize(b: Uint8Array): number {
  for (let s = 1200; s <= 1500; s++) {
    let ok = true;
    for (let p = s; p < b.length && ok; p += s) {
      if (b.length - p < 21 || (b[p]! & 0x80) !== 0) ok = false;
      for (let i = 1; i < 5 && ok; i++) if (b[p + i] !== b[i]) ok = false;
    }
    if (ok) return s;
  }
  return 0;
}

export interface InspectOptions {
  /** SSLKEYLOGFILE contents: decrypts Handshake, 0-RTT and 1-RTT packets. */
  keylog?: string;
  /** Original DCIDs to derive server Initial keys from when the client Initial is absent. */
  originalDcids?: Uint8Array[];
  /** Largest packet number seen before the capture (pn decoding; default -1). */
  largestPn?: number;
  /** DCID length of short header packets (default: try the CID lengths seen, then 0..20). */
  shortDcidLength?: number;
  /** Accept packets whose fixed bit is 0 (peers that negotiated grease_quic_bit, RFC 9287). */
  greaseQuicBit?: boolean;
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface PacketReport {
  type: string;
  version?: string;
  dcid: string;
  scid?: string;
  token?: string;
  offset: number;
  length: number;
  pn?: number;
  keyPhase?: number;
  spin?: boolean;
  decrypted: boolean;
  /** Which keys opened it, e.g. 'client Initial', 'server 1-RTT'. */
  keys?: string;
  note?: string;
  frames?: Array<{ [k: string]: Json }>;
  frameError?: string;
  supportedVersions?: string[];
  retryIntegrity?: 'valid' | 'invalid' | 'unchecked';
  /** Plaintext payload (for --dump); not part of the JSON. */
  plaintext?: Uint8Array;
}

export interface DatagramReport {
  index: number;
  length: number;
  src?: string;
  dst?: string;
  time?: number;
  packets: PacketReport[];
  /** Why the rest of the datagram could not be parsed. */
  error?: string;
  /** 'k/n' for a segment of a GSO send (see splitGso). */
  segment?: string;
}

export interface TlsMessageReport {
  from: 'client' | 'server';
  level: string;
  type: string;
  length: number;
}

export interface InspectReport {
  datagrams: DatagramReport[];
  tls: {
    messages: TlsMessageReport[];
    clientHello?: { [k: string]: Json };
    serverHello?: { [k: string]: Json };
    encryptedExtensions?: { [k: string]: Json };
    errors: string[];
  };
}

const hex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

export function versionName(v: number): string {
  if (v === QUIC_V1) return 'v1';
  if (v === QUIC_V2) return 'v2';
  if ((v & 0x0f0f0f0f) === 0x0a0a0a0a) return `0x${v.toString(16).padStart(8, '0')} (reserved)`;
  return `0x${v.toString(16).padStart(8, '0')}`;
}

/* ---------------- names ---------------- */

const EXTRA_SUITES: Record<number, string> = {
  0x1304: 'TLS_AES_128_CCM_SHA256',
  0x1305: 'TLS_AES_128_CCM_8_SHA256',
};

const EXTRA_GROUPS: Record<number, string> = {
  0x0018: 'secp384r1',
  0x0019: 'secp521r1',
  0x001e: 'x448',
  0x0100: 'ffdhe2048',
  0x0101: 'ffdhe3072',
  0x0200: 'MLKEM512',
  0x6399: 'X25519Kyber768Draft00',
};

export function groupName(code: number): string {
  return groupByCode(code)?.name ?? EXTRA_GROUPS[code] ?? `0x${code.toString(16).padStart(4, '0')}`;
}

const SIGNATURE_SCHEMES: Record<number, string> = {
  0x0201: 'rsa_pkcs1_sha1',
  0x0203: 'ecdsa_sha1',
  0x0401: 'rsa_pkcs1_sha256',
  0x0501: 'rsa_pkcs1_sha384',
  0x0601: 'rsa_pkcs1_sha512',
  0x0403: 'ecdsa_secp256r1_sha256',
  0x0503: 'ecdsa_secp384r1_sha384',
  0x0603: 'ecdsa_secp521r1_sha512',
  0x0804: 'rsa_pss_rsae_sha256',
  0x0805: 'rsa_pss_rsae_sha384',
  0x0806: 'rsa_pss_rsae_sha512',
  0x0807: 'ed25519',
  0x0808: 'ed448',
  0x0809: 'rsa_pss_pss_sha256',
  0x080a: 'rsa_pss_pss_sha384',
  0x080b: 'rsa_pss_pss_sha512',
  0x0904: 'mldsa44',
  0x0905: 'mldsa65',
  0x0906: 'mldsa87',
};

const code4 = (c: number): string => `0x${c.toString(16).padStart(4, '0')}`;
const isGrease = (c: number): boolean => (c & 0x0f0f) === 0x0a0a && c >> 8 === (c & 0xff);

export function signatureSchemeName(code: number): string {
  return SIGNATURE_SCHEMES[code] ?? (isGrease(code) ? `GREASE(${code4(code)})` : code4(code));
}

export function cipherSuiteName(code: number): string {
  return (
    cipherSuiteByCode(code)?.name ??
    EXTRA_SUITES[code] ??
    (isGrease(code) ? `GREASE(${code4(code)})` : code4(code))
  );
}

const tlsVersionName = (v: number): string =>
  v === 0x0304
    ? 'TLS 1.3'
    : v === 0x0303
      ? 'TLS 1.2'
      : isGrease(v)
        ? `GREASE(${code4(v)})`
        : code4(v);

/* ---------------- JSON views ---------------- */

function ipv6(b: Uint8Array): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return parts.join(':');
}

export function transportParametersJson(tp: TransportParameters): { [k: string]: Json } {
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(tp)) {
    if (v instanceof Uint8Array) out[k] = hex(v);
    else if (k === 'preferredAddress') {
      const p = v as NonNullable<TransportParameters['preferredAddress']>;
      out[k] = {
        ipv4: `${[...p.ipv4Address].join('.')}:${p.ipv4Port}`,
        ipv6: `[${ipv6(p.ipv6Address)}]:${p.ipv6Port}`,
        connectionId: hex(p.connectionId),
        statelessResetToken: hex(p.statelessResetToken),
      };
    } else if (k === 'versionInformation') {
      const vi = v as NonNullable<TransportParameters['versionInformation']>;
      out[k] = {
        chosenVersion: versionName(vi.chosenVersion),
        availableVersions: vi.availableVersions.map(versionName),
      };
    } else out[k] = v as Json;
  }
  return out;
}

export function frameJson(f: Frame): { [k: string]: Json } {
  switch (f.type) {
    case 'stream':
      return {
        type: f.type,
        streamId: f.streamId,
        offset: f.offset,
        length: f.data.length,
        fin: f.fin,
      };
    case 'crypto':
      return { type: f.type, offset: f.offset, length: f.data.length };
    case 'datagram':
      return { type: f.type, length: f.data.length };
    case 'ack': {
      const o: { [k: string]: Json } = {
        type: f.type,
        largest: f.largest,
        ackDelay: f.ackDelay,
        ranges: f.ranges.map((r) => [r.start, r.end]),
      };
      if (f.ecn) o.ecn = { ...f.ecn };
      return o;
    }
    case 'connection_close':
      return {
        type: f.type,
        application: f.application,
        errorCode: f.errorCode,
        ...(f.application
          ? {}
          : { error: transportErrorName(f.errorCode), frameType: f.frameType }),
        reason: Buffer.from(f.reason).toString('utf8'),
      };
    default: {
      const o: { [k: string]: Json } = {};
      for (const [k, v] of Object.entries(f)) o[k] = v instanceof Uint8Array ? hex(v) : (v as Json);
      return o;
    }
  }
}

function extensionsJson(
  e: Extensions,
  role: Role,
  out: { [k: string]: Json },
  errors: string[],
): void {
  if (e.serverName !== undefined) out.serverName = e.serverName;
  if (e.alpn) out.alpn = e.alpn;
  if (e.supportedVersions) out.supportedVersions = e.supportedVersions.map(tlsVersionName);
  if (e.supportedGroups) out.supportedGroups = e.supportedGroups.map(groupName);
  if (e.keyShares)
    out.keyShares = e.keyShares.map((k) => ({
      group: groupName(k.group),
      length: k.keyExchange.length,
    }));
  if (e.keyShare)
    out.keyShare = { group: groupName(e.keyShare.group), length: e.keyShare.keyExchange.length };
  if (e.selectedGroup !== undefined) out.selectedGroup = groupName(e.selectedGroup);
  if (e.signatureAlgorithms)
    out.signatureAlgorithms = e.signatureAlgorithms.map(signatureSchemeName);
  if (e.signatureAlgorithmsCert)
    out.signatureAlgorithmsCert = e.signatureAlgorithmsCert.map(signatureSchemeName);
  if (e.pskKeyExchangeModes)
    out.pskKeyExchangeModes = e.pskKeyExchangeModes.map((m) =>
      m === 1 ? 'psk_dhe_ke' : m === 0 ? 'psk_ke' : `${m}`,
    );
  if (e.preSharedKey) out.preSharedKeyIdentities = e.preSharedKey.identities.length;
  if (e.selectedIdentity !== undefined) out.selectedIdentity = e.selectedIdentity;
  if (e.earlyData) out.earlyData = true;
  if (e.cookie) out.cookieLength = e.cookie.length;
  if (e.quicTransportParameters) {
    try {
      out.transportParameters = transportParametersJson(
        decodeTransportParameters(e.quicTransportParameters, role),
      );
    } catch (err) {
      out.transportParametersError = (err as Error).message;
      errors.push(`${role} transport parameters: ${(err as Error).message}`);
    }
  }
  out.extensions = e.types.map((t) => t);
}

/* ---------------- keys ---------------- */

type Level = 'Initial' | '0-RTT' | 'Handshake' | '1-RTT';
type Dir = 'client' | 'server';

interface Secrets {
  [label: string]: Buffer;
}

/** Parses SSLKEYLOGFILE text: client random (hex) → label → secret. */
export function parseKeylog(text: string): Map<string, Secrets> {
  const out = new Map<string, Secrets>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [label, random, secret] = line.split(/\s+/);
    if (
      !label ||
      !random ||
      !secret ||
      !/^[0-9a-f]+$/i.test(random) ||
      !/^[0-9a-f]+$/i.test(secret) ||
      secret.length % 2
    )
      continue;
    const key = random.toLowerCase();
    let s = out.get(key);
    if (!s) out.set(key, (s = {}));
    s[label] = Buffer.from(secret, 'hex');
  }
  return out;
}

const LABELS: Record<Exclude<Level, 'Initial'>, Record<Dir, string | undefined>> = {
  '0-RTT': { client: 'CLIENT_EARLY_TRAFFIC_SECRET', server: undefined },
  Handshake: {
    client: 'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
    server: 'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  },
  '1-RTT': { client: 'CLIENT_TRAFFIC_SECRET_0', server: 'SERVER_TRAFFIC_SECRET_0' },
};

interface Candidate {
  dir: Dir;
  key: PacketKey;
  /** 1-RTT key generation (key updates, RFC 9001 §6): 0 for the first. */
  generation: number;
}

class KeyCache {
  private readonly keys = new Map<string, PacketKey>();
  get(suite: CipherSuite, secret: Uint8Array, version: number, generation = 0): PacketKey {
    const id = `${suite.name}:${hex(secret)}:${version}:${generation}`;
    let k = this.keys.get(id);
    if (!k) {
      k =
        generation === 0
          ? PacketKey.fromSecret(suite.name, secret, version)
          : this.get(suite, secret, version, generation - 1).nextPhase();
      this.keys.set(id, k);
    }
    return k;
  }
  destroy(): void {
    for (const k of this.keys.values()) k.destroy();
    this.keys.clear();
  }
}

/* ---------------- CRYPTO reassembly ---------------- */

class CryptoStream {
  private readonly chunks: Array<{ offset: number; data: Buffer }> = [];
  add(offset: number, data: Uint8Array): void {
    if (data.length) this.chunks.push({ offset, data: Buffer.from(data) });
  }
  /** The contiguous bytes from offset 0. */
  contiguous(): Buffer {
    const sorted = [...this.chunks].sort((a, b) => a.offset - b.offset);
    const parts: Buffer[] = [];
    let end = 0;
    for (const c of sorted) {
      if (c.offset > end) break;
      const cEnd = c.offset + c.data.length;
      if (cEnd > end) {
        parts.push(c.data.subarray(end - c.offset));
        end = cEnd;
      }
    }
    return Buffer.concat(parts);
  }
}

/* ---------------- the inspector ---------------- */

interface Work {
  report: PacketReport;
  header: PacketHeader;
  dgram: number;
  buf: Buffer; // the datagram copy
}

export function inspect(
  datagrams: readonly InspectDatagram[],
  options: InspectOptions = {},
): InspectReport {
  const keys = new KeyCache();
  try {
    return run(datagrams, options, keys);
  } finally {
    keys.destroy();
  }
}

function run(
  datagrams: readonly InspectDatagram[],
  options: InspectOptions,
  cache: KeyCache,
): InspectReport {
  const report: InspectReport = { datagrams: [], tls: { messages: [], errors: [] } };
  const work: Work[] = [];
  const cidLengths = new Set<number>();
  const initialDcids: Uint8Array[] = [...(options.originalDcids ?? [])];
  const grease = options.greaseQuicBit ?? false;

  // 1. Headers.
  datagrams.forEach((d, index) => {
    const buf = Buffer.from(d.data);
    const dr: DatagramReport = { index, length: buf.length, packets: [] };
    if (d.src) dr.src = d.src;
    if (d.dst) dr.dst = d.dst;
    if (d.time) dr.time = d.time;
    if (d.segment) dr.segment = d.segment;
    report.datagrams.push(dr);
    const { packets, error } = splitDatagram(buf, 0, 0, buf.length, grease);
    if (error) dr.error = error.message;
    for (const header of packets) {
      const r: PacketReport = {
        type: header.type,
        dcid: hex(header.dcid),
        offset: header.start,
        length: header.end - header.start,
        decrypted: false,
      };
      if (header.type !== '1rtt') {
        r.version = versionName(header.version);
        r.scid = hex(header.scid);
        cidLengths.add(header.dcid.length).add(header.scid.length);
      } else {
        r.spin = (header.firstByte & 0x20) !== 0;
      }
      if (header.type === 'initial') {
        r.token = hex(header.token);
        initialDcids.push(header.dcid);
      }
      if (header.type === 'retry') r.token = hex(header.token);
      if (header.supportedVersions) r.supportedVersions = header.supportedVersions.map(versionName);
      dr.packets.push(r);
      work.push({ report: r, header, dgram: index, buf });
    }
  });

  const largest = new Map<string, number>();
  const crypto = new Map<string, CryptoStream>();
  const base = options.largestPn ?? -1;

  // Tries each candidate key on a scratch copy of the packet; keeps the first that opens it.
  const open = (w: Work, level: Level, candidates: Candidate[], header = w.header): boolean => {
    for (const c of candidates) {
      const lk = `${level}:${c.dir}`;
      const scratch = Buffer.from(w.buf.subarray(header.start, header.end));
      const h: PacketHeader = {
        ...header,
        start: 0,
        pnOffset: header.pnOffset - header.start,
        end: header.end - header.start,
      };
      const pn = c.key.unprotect(scratch, 0, h.pnOffset, h.end, largest.get(lk) ?? base, -1);
      if (pn < 0) continue;
      largest.set(lk, Math.max(pn, largest.get(lk) ?? -1));
      const r = w.report;
      r.decrypted = true;
      r.pn = pn;
      r.keys = `${c.dir} ${level}${c.generation ? ` (key update ${c.generation})` : ''}`;
      if (level === '1-RTT') {
        r.keyPhase = (scratch[0]! >> 2) & 1;
        r.dcid = hex(h.dcid);
      }
      r.plaintext = scratch.subarray(h.pnOffset + (scratch[0]! & 3) + 1, h.end - 16);
      try {
        const frames = readPacketFrames(scratch, h);
        r.frames = frames.map(frameJson);
        let stream = crypto.get(lk);
        for (const f of frames) {
          if (f.type !== 'crypto') continue;
          if (!stream) crypto.set(lk, (stream = new CryptoStream()));
          stream.add(f.offset, f.data);
        }
      } catch (err) {
        r.frameError = (err as Error).message;
      }
      return true;
    }
    return false;
  };

  // 2. Initial packets. RFC 9001 §5.2: a connection's Initial keys come from the DCID of the
  // client's first Initial (after a Retry, from the DCID of its first Initial that follows).
  // Its later Initials carry other CIDs in either direction (RFC 9000 §7.2: the client
  // switches to the server's SCID), so every CID seen in the long headers of a connection's
  // Initials maps to the DCID its keys came from; CIDs not seen yet fall back to every
  // Initial DCID of the capture (and --odcid).
  const keyDcidOf = new Map<string, Uint8Array>();
  const initialSuite = CIPHER_SUITES[0]!; // RFC 9001 §5.2: Initial packets use AES-128-GCM
  for (const w of work) {
    const h = w.header;
    if (h.type === 'retry') {
      w.report.retryIntegrity = 'unchecked';
      for (const odcid of initialDcids) {
        if (verifyRetryIntegrity(h.version, odcid, w.buf.subarray(h.start, h.end)))
          w.report.retryIntegrity = 'valid';
      }
      if (w.report.retryIntegrity === 'unchecked' && initialDcids.length)
        w.report.retryIntegrity = 'invalid';
      continue;
    }
    if (h.type !== 'initial') continue;
    const tried = new Set<string>();
    const keyDcids = [
      keyDcidOf.get(hex(h.dcid)),
      keyDcidOf.get(hex(h.scid)),
      h.dcid,
      ...initialDcids,
    ];
    const opened = keyDcids.find((k) => {
      if (!k || tried.has(hex(k))) return false;
      tried.add(hex(k));
      const secrets = initialSecrets(h.version, k);
      return open(w, 'Initial', [
        { dir: 'client', key: cache.get(initialSuite, secrets.client, h.version), generation: 0 },
        { dir: 'server', key: cache.get(initialSuite, secrets.server, h.version), generation: 0 },
      ]);
    });
    if (!opened) {
      w.report.note = 'Initial keys did not open it (client Initial missing? use --odcid)';
      continue;
    }
    for (const cid of [h.dcid, h.scid]) if (cid.length) keyDcidOf.set(hex(cid), opened);
  }

  // 3. The ClientHello and ServerHello.
  const tls = report.tls;
  let random: string | undefined;
  let suite: CipherSuite | undefined;
  const messages = (level: Level, dir: Dir): Array<{ type: number; body: Buffer }> => {
    const data = crypto.get(`${level}:${dir}`)?.contiguous() ?? Buffer.alloc(0);
    const out: Array<{ type: number; body: Buffer }> = [];
    for (let p = 0; p + 4 <= data.length;) {
      const len = data.readUIntBE(p + 1, 3);
      if (p + 4 + len > data.length) break;
      out.push({ type: data[p]!, body: data.subarray(p + 4, p + 4 + len) });
      tls.messages.push({ from: dir, level, type: handshakeTypeName(data[p]!), length: len });
      p += 4 + len;
    }
    return out;
  };
  for (const m of messages('Initial', 'client')) {
    if (m.type !== HandshakeType.client_hello) continue;
    try {
      const ch = decodeClientHello(m.body);
      random = hex(ch.random);
      const o: { [k: string]: Json } = {
        random,
        legacySessionIdLength: ch.legacySessionId.length,
        cipherSuites: ch.cipherSuites.map(cipherSuiteName),
      };
      extensionsJson(ch.extensions, 'client', o, tls.errors);
      tls.clientHello = o;
    } catch (err) {
      tls.errors.push(`ClientHello: ${(err as Error).message}`);
    }
  }
  for (const m of messages('Initial', 'server')) {
    if (m.type !== HandshakeType.server_hello) continue;
    try {
      const sh = decodeServerHello(m.body);
      suite = cipherSuiteByCode(sh.cipherSuite);
      const o: { [k: string]: Json } = {
        random: hex(sh.random),
        helloRetryRequest: sh.isHelloRetryRequest,
        cipherSuite: cipherSuiteName(sh.cipherSuite),
      };
      extensionsJson(sh.extensions, 'server', o, tls.errors);
      tls.serverHello = o;
    } catch (err) {
      tls.errors.push(`ServerHello: ${(err as Error).message}`);
    }
  }

  // 4. Handshake, 0-RTT and 1-RTT packets with keylog secrets.
  const keylog = options.keylog !== undefined ? parseKeylog(options.keylog) : undefined;
  const secretSets: Secrets[] = [];
  if (keylog) {
    if (random && keylog.has(random)) secretSets.push(keylog.get(random)!);
    else if (!random) secretSets.push(...keylog.values());
    else tls.errors.push('the keylog has no secrets for this ClientHello.random');
  }
  const candidatesFor = (level: Exclude<Level, 'Initial'>, version: number): Candidate[] => {
    const out: Candidate[] = [];
    const gens = level === '1-RTT' ? [0, 1, 2] : [0];
    for (const set of secretSets)
      for (const dir of ['client', 'server'] as const) {
        const label = LABELS[level][dir];
        const secret = label ? set[label] : undefined;
        if (!secret) continue;
        // The ServerHello names the suite; without it, every suite whose hash fits the secret.
        const suites = suite
          ? [suite]
          : CIPHER_SUITES.filter((s) => (s.hash === 'sha384') === (secret.length === 48));
        for (const s of suites)
          for (const g of gens)
            out.push({ dir, key: cache.get(s, secret, version, g), generation: g });
      }
    return out;
  };
  // The version of 1-RTT packets is not on the wire: the one the long headers used, else both.
  const longVersion = work.find((w) => w.header.type === 'initial' || w.header.type === 'handshake')
    ?.header.version;
  const versions = longVersion !== undefined ? [longVersion] : [QUIC_V1, QUIC_V2];
  const dcidLengths =
    options.shortDcidLength !== undefined
      ? [options.shortDcidLength]
      : [...new Set([...cidLengths, ...Array.from({ length: 21 }, (_, i) => i)])];
  for (const w of work) {
    const h = w.header;
    if (h.type === 'handshake' || h.type === '0rtt') {
      if (!keylog) w.report.note = 'no keys (use --keylog)';
      else if (
        !open(
          w,
          h.type === 'handshake' ? 'Handshake' : '0-RTT',
          candidatesFor(h.type === 'handshake' ? 'Handshake' : '0-RTT', h.version),
        )
      )
        w.report.note = 'keylog secrets did not open it';
    } else if (h.type === '1rtt') {
      if (!keylog) {
        w.report.note = 'no keys (use --keylog)';
        continue;
      }
      const candidates = versions.flatMap((v) => candidatesFor('1-RTT', v));
      let opened = false;
      for (const len of dcidLengths) {
        if (h.start + 1 + len > h.end) continue;
        if (
          (opened = open(w, '1-RTT', candidates, parseHeader(w.buf, h.start, h.end, len, grease)))
        ) {
          // Later packets most likely use the same CID length: try it first.
          dcidLengths.splice(dcidLengths.indexOf(len), 1);
          dcidLengths.unshift(len);
          break;
        }
      }
      if (!opened) w.report.note = 'keylog secrets did not open it';
    }
  }

  // 5. Handshake-level TLS messages (EncryptedExtensions carries the server's parameters).
  for (const dir of ['server', 'client'] as const) {
    for (const m of messages('Handshake', dir)) {
      if (m.type !== HandshakeType.encrypted_extensions) continue;
      try {
        const o: { [k: string]: Json } = {};
        extensionsJson(decodeEncryptedExtensions(m.body), 'server', o, tls.errors);
        tls.encryptedExtensions = o;
      } catch (err) {
        tls.errors.push(`EncryptedExtensions: ${(err as Error).message}`);
      }
    }
  }
  for (const dir of ['server', 'client'] as const) messages('1-RTT', dir);
  return report;
}

/** Hex/ASCII dump, 16 bytes a line. */
export function hexDump(buf: Uint8Array, indent = ''): string {
  const lines: string[] = [];
  for (let i = 0; i < buf.length; i += 16) {
    const row = buf.subarray(i, Math.min(i + 16, buf.length));
    const h = [...row].map((b) => b.toString(16).padStart(2, '0'));
    const left = h.slice(0, 8).join(' ');
    const right = h.slice(8).join(' ');
    const ascii = [...row]
      .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'))
      .join('');
    lines.push(
      `${indent}${i.toString(16).padStart(4, '0')}  ${left.padEnd(23)}  ${right.padEnd(23)}  |${ascii}|`,
    );
  }
  return lines.join('\n');
}
