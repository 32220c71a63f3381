// Certificates for TLS 1.3 (RFC 8446 §4.4.2, §4.4.3): loading PEM chains and keys,
// CertificateVerify signing/verification, and chain + host name verification with
// node:crypto's X509Certificate. `now` is always a parameter (ms since the epoch).

import {
  X509Certificate,
  createPrivateKey,
  createHash,
  sign,
  verify,
  constants,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { TlsAlert } from './alerts.js';

/** TLS 1.3 SignatureScheme values we support for CertificateVerify (§4.2.3). */
export const SignatureScheme = {
  ecdsa_secp256r1_sha256: 0x0403,
  ecdsa_secp384r1_sha384: 0x0503,
  ecdsa_secp521r1_sha512: 0x0603,
  rsa_pss_rsae_sha256: 0x0804,
  rsa_pss_rsae_sha384: 0x0805,
  rsa_pss_rsae_sha512: 0x0806,
  ed25519: 0x0807,
  rsa_pss_pss_sha256: 0x0809,
  rsa_pss_pss_sha384: 0x080a,
  rsa_pss_pss_sha512: 0x080b,
} as const;

/** What we offer in signature_algorithms, most preferred first. */
export const DEFAULT_SIGNATURE_SCHEMES: readonly number[] = [
  0x0403, 0x0804, 0x0807, 0x0503, 0x0805, 0x0603, 0x0806, 0x0809, 0x080a, 0x080b,
];

interface SchemeInfo {
  hash: 'sha256' | 'sha384' | 'sha512' | null;
  keyType: 'ec' | 'rsa' | 'rsa-pss' | 'ed25519';
  curve?: string;
  pss?: boolean;
}
const SCHEMES = new Map<number, SchemeInfo>([
  [0x0403, { hash: 'sha256', keyType: 'ec', curve: 'prime256v1' }],
  [0x0503, { hash: 'sha384', keyType: 'ec', curve: 'secp384r1' }],
  [0x0603, { hash: 'sha512', keyType: 'ec', curve: 'secp521r1' }],
  [0x0804, { hash: 'sha256', keyType: 'rsa', pss: true }],
  [0x0805, { hash: 'sha384', keyType: 'rsa', pss: true }],
  [0x0806, { hash: 'sha512', keyType: 'rsa', pss: true }],
  [0x0807, { hash: null, keyType: 'ed25519' }],
  [0x0809, { hash: 'sha256', keyType: 'rsa-pss', pss: true }],
  [0x080a, { hash: 'sha384', keyType: 'rsa-pss', pss: true }],
  [0x080b, { hash: 'sha512', keyType: 'rsa-pss', pss: true }],
]);
const HASH_LEN = { sha256: 32, sha384: 48, sha512: 64 } as const;

/** Schemes a key can sign with, in our preference order. */
export function schemesForKey(key: KeyObject): number[] {
  const out: number[] = [];
  for (const scheme of DEFAULT_SIGNATURE_SCHEMES)
    if (keyMatches(SCHEMES.get(scheme)!, key)) out.push(scheme);
  return out;
}

function keyMatches(info: SchemeInfo, key: KeyObject): boolean {
  if (key.asymmetricKeyType !== info.keyType) return false;
  if (info.curve && key.asymmetricKeyDetails?.namedCurve !== info.curve) return false;
  if (info.keyType === 'rsa-pss') {
    // A restricted RSA-PSS key may only be used with its own hash.
    const h = key.asymmetricKeyDetails?.hashAlgorithm;
    if (h && h !== info.hash) return false;
  }
  return true;
}

/** §4.4.3: 64 spaces, the context string, a zero byte, then the transcript hash. */
export function signedContent(server: boolean, transcriptHash: Uint8Array): Buffer {
  const ctx = server ? 'TLS 1.3, server CertificateVerify' : 'TLS 1.3, client CertificateVerify';
  return Buffer.concat([
    Buffer.alloc(64, 0x20),
    Buffer.from(ctx, 'latin1'),
    Buffer.from([0]),
    transcriptHash,
  ]);
}

export function signCertificateVerify(
  key: KeyObject,
  scheme: number,
  server: boolean,
  transcriptHash: Uint8Array,
): Buffer {
  const info = SCHEMES.get(scheme);
  if (!info || !keyMatches(info, key))
    throw new RangeError(`key cannot sign with scheme 0x${scheme.toString(16)}`);
  const data = signedContent(server, transcriptHash);
  if (info.pss)
    return sign(info.hash!, data, {
      key,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: HASH_LEN[info.hash!],
    });
  return sign(info.hash, data, key);
}

/** Verifies a peer's CertificateVerify; any failure is an alert. */
export function verifyCertificateVerify(
  leaf: X509Certificate,
  scheme: number,
  signature: Uint8Array,
  server: boolean,
  transcriptHash: Uint8Array,
  offered: readonly number[] = DEFAULT_SIGNATURE_SCHEMES,
): void {
  const info = SCHEMES.get(scheme);
  // §4.4.3: the scheme must be one we offered and must match the certificate's key.
  if (!info || !offered.includes(scheme))
    throw new TlsAlert(
      'illegal_parameter',
      `signature scheme 0x${scheme.toString(16)} not offered`,
    );
  let key: KeyObject;
  try {
    key = publicKeyOf(leaf);
  } catch {
    throw new TlsAlert('unsupported_certificate', 'certificate public key cannot be used');
  }
  if (!keyMatches(info, key))
    throw new TlsAlert('illegal_parameter', 'signature scheme does not match the certificate key');
  const data = signedContent(server, transcriptHash);
  let ok = false;
  try {
    ok = info.pss
      ? verify(
          info.hash!,
          data,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[info.hash!] },
          signature,
        )
      : verify(info.hash, data, key, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw new TlsAlert('decrypt_error', 'CertificateVerify signature is invalid');
}

/* ---------------- caches ---------------- */

/** A small bounded memo (insertion-ordered eviction): parsing and key loading dominate handshake cost. */
class Memo<V> {
  private map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string, make: () => V): V {
    let v = this.map.get(key);
    if (v === undefined) {
      v = make();
      if (this.map.size >= this.max) this.map.delete(this.map.keys().next().value!);
      this.map.set(key, v);
    }
    return v;
  }
}

const parsed = new Memo<X509Certificate>(256);
/** Parses DER once per distinct certificate (parsing is deterministic, so caching is safe). */
function x509(der: Buffer): X509Certificate {
  return parsed.get(
    createHash('sha256').update(der).digest('base64'),
    () => new X509Certificate(der),
  );
}
const publicKeys = new WeakMap<X509Certificate, KeyObject>();
function publicKeyOf(c: X509Certificate): KeyObject {
  let k = publicKeys.get(c);
  if (!k) publicKeys.set(c, (k = c.publicKey));
  return k;
}
const issuedMemo = new Memo<boolean>(1024);

/* ---------------- PEM loading ---------------- */

export type PemInput = string | Buffer | readonly (string | Buffer)[];

function pemTexts(input: PemInput): string[] {
  const list = Array.isArray(input) ? input : [input];
  return list.map((x) => (typeof x === 'string' ? x : Buffer.from(x as Buffer).toString('latin1')));
}

/** Splits PEM text into DER certificates. */
export function parseCertificates(input: PemInput, name = 'certs'): Buffer[] {
  const out: Buffer[] = [];
  for (const text of pemTexts(input)) {
    for (const m of text.matchAll(
      /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
    )) {
      try {
        out.push(new X509Certificate(m[0]).raw);
      } catch {
        throw new TypeError(`${name} contains an invalid certificate`);
      }
    }
  }
  if (out.length === 0) throw new TypeError(`${name} contains no PEM certificate`);
  return out;
}

export function parsePrivateKey(input: string | Buffer | KeyObject, name = 'keys'): KeyObject {
  if (
    typeof input === 'object' &&
    'asymmetricKeyType' in input &&
    (input as KeyObject).type === 'private'
  )
    return input as KeyObject;
  try {
    return createPrivateKey(input as string | Buffer);
  } catch {
    throw new TypeError(`${name} is not a valid private key`);
  }
}

/** A certificate chain with its private key, ready to present. */
export interface Credentials {
  chain: Buffer[]; // DER, leaf first
  key: KeyObject;
  schemes: number[]; // the key's usable schemes, in preference order
}

const credentialMemo = new Memo<Credentials>(32);

/** Loads (once per distinct PEM input) a chain and its key. */
export function loadCredentials(certs: PemInput, keys: string | Buffer | KeyObject): Credentials {
  const pem = (x: unknown) =>
    typeof x === 'string' ? x : Buffer.isBuffer(x) ? x.toString('latin1') : undefined;
  const certText = pemTexts(certs).join('\n');
  const keyText = pem(keys);
  if (keyText === undefined) return loadCredentialsUncached(certs, keys);
  return credentialMemo.get(`${certText}\u0000${keyText}`, () =>
    loadCredentialsUncached(certs, keys),
  );
}

/** Options' `certs` and `keys`: both (loaded) or neither (undefined). */
export function optionalCredentials(
  certs: PemInput | undefined,
  keys: string | Buffer | undefined,
): Credentials | undefined {
  if ((certs === undefined) !== (keys === undefined))
    throw new TypeError('certs and keys go together');
  return certs !== undefined ? loadCredentials(certs, keys!) : undefined;
}

function loadCredentialsUncached(certs: PemInput, keys: string | Buffer | KeyObject): Credentials {
  const chain = parseCertificates(certs, 'certs');
  const key = parsePrivateKey(keys, 'keys');
  const leaf = new X509Certificate(chain[0]!);
  if (!leaf.checkPrivateKey(key))
    throw new TypeError('keys does not match the first certificate in certs');
  const schemes = schemesForKey(key);
  if (schemes.length === 0)
    throw new TypeError(`keys: unsupported key type ${key.asymmetricKeyType}`);
  return { chain, key, schemes };
}

/** Picks the first of our schemes the peer accepts. */
export function chooseScheme(
  creds: Credentials,
  peerSchemes: readonly number[] | undefined,
): number | undefined {
  return creds.schemes.find((s) => peerSchemes?.includes(s));
}

/* ---------------- chain verification ---------------- */

let systemRoots: X509Certificate[] | undefined;
const anchorMemo = new Memo<X509Certificate[]>(32);
function trustAnchors(ca: PemInput | undefined): X509Certificate[] {
  if (ca !== undefined)
    return anchorMemo.get(pemTexts(ca).join('\n'), () =>
      parseCertificates(ca, 'ca').map((d) => x509(d)),
    );
  return (systemRoots ??= rootCertificates.map((p) => new X509Certificate(p)));
}

export interface VerifyOptions {
  ca?: PemInput;
  /** Host name or IP address expected in the leaf; omitted: not checked (client certificates). */
  host?: string;
  /** The leaf's extended key usage, when it has one, must allow this (RFC 5280 §4.2.1.12). */
  purpose?: 'server' | 'client';
  now: number; // ms since the epoch
}

const EKU = { server: '1.3.6.1.5.5.7.3.1', client: '1.3.6.1.5.5.7.3.2' } as const;
const ANY_EKU = '2.5.29.37.0';

function checkDates(c: X509Certificate, now: number): void {
  const from = Date.parse(c.validFrom);
  const to = Date.parse(c.validTo);
  if (!(now >= from))
    throw new TlsAlert('bad_certificate', `certificate not yet valid (${c.subject})`);
  if (!(now <= to)) throw new TlsAlert('certificate_expired', `certificate expired (${c.subject})`);
}

const MAX_CHAIN = 10;

/** Parses the peer's chain (DER, leaf first) and verifies it; returns the leaf. */
export function verifyChain(der: readonly Buffer[], opts: VerifyOptions): X509Certificate {
  if (der.length === 0) throw new TlsAlert('certificate_required', 'empty certificate chain');
  if (der.length > MAX_CHAIN) throw new TlsAlert('bad_certificate', 'certificate chain too long');
  let certs: X509Certificate[];
  try {
    certs = der.map((d) => x509(d));
  } catch {
    throw new TlsAlert('bad_certificate', 'unparsable certificate');
  }
  const leaf = certs[0]!;
  checkDates(leaf, opts.now);
  const eku = leaf.keyUsage as string[] | undefined;
  if (opts.purpose && eku && !eku.includes(EKU[opts.purpose]) && !eku.includes(ANY_EKU))
    throw new TlsAlert(
      'unsupported_certificate',
      `certificate is not for ${opts.purpose} authentication`,
    );
  if (opts.host !== undefined) {
    const ok = isIP(opts.host)
      ? leaf.checkIP(opts.host) !== undefined
      : leaf.checkHost(opts.host) !== undefined;
    if (!ok) throw new TlsAlert('bad_certificate', `certificate is not valid for ${opts.host}`);
  }
  const anchors = trustAnchors(opts.ca);
  let current = leaf;
  const pool = certs.slice(1);
  for (let depth = 0; depth <= MAX_CHAIN; depth++) {
    if (anchors.some((a) => a.fingerprint256 === current.fingerprint256)) return leaf;
    const anchor = anchors.find((a) => issued(a, current));
    if (anchor) {
      checkDates(anchor, opts.now);
      return leaf;
    }
    const i = pool.findIndex((c) => c.ca && issued(c, current));
    if (i < 0) break;
    current = pool[i]!;
    pool.splice(i, 1);
    checkDates(current, opts.now);
  }
  throw new TlsAlert('unknown_ca', `no trusted issuer for ${current.issuer}`);
}

function issued(issuer: X509Certificate, subject: X509Certificate): boolean {
  return issuedMemo.get(`${issuer.fingerprint256}/${subject.fingerprint256}`, () => {
    try {
      return subject.checkIssued(issuer) && subject.verify(publicKeyOf(issuer));
    } catch {
      return false;
    }
  });
}
