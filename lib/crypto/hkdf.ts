// HKDF (RFC 5869) and HKDF-Expand-Label (RFC 8446 §7.1), computed natively.
import { native } from './native.js';

export type Hash = 'sha256' | 'sha384';

export function hashLength(hash: Hash): number {
  if (hash === 'sha256') return 32;
  if (hash === 'sha384') return 48;
  throw new TypeError("hash must be 'sha256' or 'sha384'");
}

export function hkdfExtract(hash: Hash, salt: Uint8Array, ikm: Uint8Array): Buffer {
  return native.hkdfExtract(hash, salt, ikm);
}

export function hkdfExpand(hash: Hash, prk: Uint8Array, info: Uint8Array, length: number): Buffer {
  return native.hkdfExpand(hash, prk, info, length);
}

/** label without the "tls13 " prefix, e.g. 'quic key' or 'c hs traffic'. */
export function hkdfExpandLabel(
  hash: Hash,
  secret: Uint8Array,
  label: string,
  context: Uint8Array,
  length: number,
): Buffer {
  return native.hkdfExpandLabel(hash, secret, label, context, length);
}
