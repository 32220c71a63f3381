// X25519 (RFC 7748) with raw 32-byte keys, computed natively.
import { native } from './native.js';

export function x25519KeyPair(): { privateKey: Buffer; publicKey: Buffer } {
  return native.x25519KeyPair();
}

/** The raw shared secret; all zero for a small-order public key (the caller rejects it). */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Buffer {
  return native.x25519(privateKey, publicKey);
}
