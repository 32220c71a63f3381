// The bytes bench/soak.ts moves and checks: a seeded pattern both sides can generate, so the
// server sends a download without storing it and the client checks it by SHA-256.
import { createHash } from 'node:crypto';

import { prng } from '../scripts/interop/relay.js';

/** Largest download the soak server generates for one request. */
export const MAX_DOWNLOAD = 16 << 20;

/** `n` bytes determined by `seed` (the 32-bit words of a seeded PRNG). */
export function patternBytes(seed: number, n: number): Buffer {
  const random = prng(seed);
  const out = Buffer.allocUnsafe(n + 3);
  for (let i = 0; i < n; i += 4) out.writeUInt32LE(Math.floor(random() * 2 ** 32), i);
  return out.subarray(0, n);
}

export const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
