// Injected randomness for the QUIC layer: connection IDs, tokens, stateless reset tokens and
// padding, path challenge data; the connection hands the same source to its TLS engine (key
// shares, randoms). The source and its check live in lib/crypto/random.ts.
import type { RandomSource } from '../crypto/random.js';

export { randomSource, type RandomSource } from '../crypto/random.js';

/** A uniform number in [0, 1) from `random`. */
export function uniform(random: RandomSource): number {
  const b = random(4);
  return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 2 ** 32;
}
