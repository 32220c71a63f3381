// P-256 ECDH (secp256r1) via node:crypto; public keys are uncompressed points (RFC 8446 §4.2.8.2).
import { createECDH } from 'node:crypto';

import { KeyShareError } from './errors.js';
import { randomBuffer, type RandomSource } from './random.js';

const CURVE = 'prime256v1';

function pad32(b: Buffer): Buffer {
  if (b.length === 32) return b;
  const out = Buffer.alloc(32);
  b.copy(out, 32 - b.length);
  return out;
}

/** A new key pair; with `random`, the private key is the first of its 32-byte draws that is a
 * valid scalar (in [1, n-1]: all but about 2^-32 of them). */
export function p256KeyPair(random?: RandomSource): { privateKey: Buffer; publicKey: Buffer } {
  const ecdh = createECDH(CURVE);
  if (random === undefined) {
    const publicKey = ecdh.generateKeys();
    return { privateKey: pad32(ecdh.getPrivateKey()), publicKey };
  }
  for (;;) {
    const privateKey = randomBuffer(random, 32);
    try {
      ecdh.setPrivateKey(privateKey);
    } catch {
      privateKey.fill(0);
      continue;
    }
    return { privateKey, publicKey: ecdh.getPublicKey() };
  }
}

/** The 32-byte x coordinate of the shared point. A peer key that is not a valid uncompressed
 * point on the curve is a KeyShareError. */
export function p256(privateKey: Uint8Array, publicKey: Uint8Array): Buffer {
  if (!(privateKey instanceof Uint8Array)) throw new TypeError('privateKey must be a Uint8Array');
  if (!(publicKey instanceof Uint8Array)) throw new TypeError('publicKey must be a Uint8Array');
  if (privateKey.length !== 32) throw new RangeError('privateKey must be 32 bytes long');
  // RFC 8446 §4.2.8.2: only the uncompressed form (0x04 ‖ X ‖ Y) is allowed.
  if (publicKey.length !== 65 || publicKey[0] !== 0x04)
    throw new KeyShareError('P-256 key share must be an uncompressed point of 65 bytes');
  const ecdh = createECDH(CURVE);
  try {
    ecdh.setPrivateKey(privateKey);
  } catch {
    throw new RangeError('privateKey is not a valid P-256 private key');
  }
  try {
    return pad32(ecdh.computeSecret(publicKey));
  } catch {
    throw new KeyShareError('P-256 key share is not a point on the curve');
  }
}
