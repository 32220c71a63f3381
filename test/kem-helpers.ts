// Shared by the ML-KEM and group tests: the independent oracle (@noble/post-quantum), the
// backends to test, and helpers that turn an unavailable backend into an explicit skip.
import { ml_kem512, ml_kem768, ml_kem1024 } from '@noble/post-quantum/ml-kem.js';

import { kemBackends, type KemBackendInfo, type MlKemParameterSet } from '../lib/crypto/mlkem.js';

export const SETS: readonly MlKemParameterSet[] = ['ML-KEM-512', 'ML-KEM-768', 'ML-KEM-1024'];

export const NOBLE = {
  'ML-KEM-512': ml_kem512,
  'ML-KEM-768': ml_kem768,
  'ML-KEM-1024': ml_kem1024,
} as const;

export const BACKENDS: readonly KemBackendInfo[] = kemBackends();
export const AVAILABLE = BACKENDS.filter((b) => b.available);

/** "backend openssl" or, when unavailable, the title carries the reason the tests skip. */
export function backendTitle(b: KemBackendInfo): string {
  return b.available ? `backend ${b.name}` : `backend ${b.name} (skipped: ${b.reason})`;
}

/** `it` for an available backend, `it.skip` (with the reason in the suite title) otherwise. */
export function itFor(b: KemBackendInfo): Mocha.TestFunction | Mocha.PendingTestFunction {
  return b.available ? it : it.skip;
}

/** A deterministic byte generator (xorshift) so failures can be reproduced from the index. */
export function bytesFrom(seed: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = (seed * 0x9e3779b1 + 0x7f4a7c15) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Sets coefficient `index` of an encapsulation key's ByteEncode12 part to `value` (0..4095). */
export function setCoefficient(ek: Uint8Array, index: number, value: number): Buffer {
  const out = Buffer.from(ek);
  const i = (index >> 1) * 3;
  if (index % 2 === 0) {
    out[i] = value & 0xff;
    out[i + 1] = (out[i + 1]! & 0xf0) | (value >> 8);
  } else {
    out[i + 1] = (out[i + 1]! & 0x0f) | ((value & 0x0f) << 4);
    out[i + 2] = value >> 4;
  }
  return out;
}
