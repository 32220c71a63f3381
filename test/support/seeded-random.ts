/**
 * A deterministic RandomSource for tests: SHA-256(seed || counter) blocks, so a simulated run
 * can be repeated byte for byte from its seed. Never for real use (it is predictable).
 */
import { createHash } from 'node:crypto';

import type { RandomSource } from '../../lib/quic/random.js';

export function seededRandom(seed: string | number): RandomSource {
  let counter = 0;
  let pool: Buffer = Buffer.alloc(0);
  const block = (): Buffer => {
    const c = Buffer.alloc(8);
    c.writeBigUInt64BE(BigInt(counter++));
    return createHash('sha256').update(String(seed)).update(c).digest();
  };
  return (n) => {
    const parts = [pool];
    let have = pool.length;
    while (have < n) {
      const b = block();
      parts.push(b);
      have += b.length;
    }
    const all = parts.length === 1 ? pool : Buffer.concat(parts);
    pool = all.subarray(n);
    return new Uint8Array(all.subarray(0, n));
  };
}
