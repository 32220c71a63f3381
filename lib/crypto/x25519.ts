// X25519 (RFC 7748) with raw 32-byte keys, computed natively.
import { native } from './native.js';
import { randomBuffer, type RandomSource } from './random.js';

/** RFC 7748 §4.1: the u-coordinate of the base point, 9. */
const BASE_POINT = new Uint8Array(32);
BASE_POINT[0] = 9;

/** A new key pair; with `random`, the private key is its 32 bytes (RFC 7748 §6.1: any 32
 * bytes, clamped by X25519 itself) and the public key X25519(private, 9). */
export function x25519KeyPair(random?: RandomSource): { privateKey: Buffer; publicKey: Buffer } {
  if (random === undefined) return native.x25519KeyPair();
  const privateKey = randomBuffer(random, 32);
  return { privateKey, publicKey: native.x25519(privateKey, BASE_POINT) };
}

/** The raw shared secret; all zero for a small-order public key (the caller rejects it). */
export function x25519(privateKey: Uint8Array, publicKey: Uint8Array): Buffer {
  return native.x25519(privateKey, publicKey);
}
