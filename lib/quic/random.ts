// Injected randomness for the QUIC layer: connection IDs, tokens, stateless reset tokens and
// padding, path challenge data. Defaults to node:crypto's CSPRNG; a seeded source makes a
// simulated run repeat byte for byte (the TLS engines still draw their own randomness).
import { randomBytes } from 'node:crypto';

/** Returns `n` unpredictable bytes. Must be cryptographically secure outside tests: CIDs,
 * tokens and reset tokens rely on it (RFC 9000 §5.1, §8.1, §10.3). */
export type RandomSource = (n: number) => Uint8Array;

/** Sources that need no checking wrapper: node:crypto's, and the wrappers made here. */
const checked = new WeakSet<RandomSource>([randomBytes]);

/** The source to use for an optional `random` option: node:crypto's by default, else the given
 * function checked on every call (a wrong answer must not turn into a short CID or token). */
export function randomSource(random: unknown, name: string): RandomSource {
  if (random === undefined) return randomBytes;
  if (typeof random !== 'function') throw new TypeError(`${name} must be a function`);
  // An endpoint hands its (checked) source to every connection: no new wrapper each time
  // (memory per connection).
  if (checked.has(random as RandomSource)) return random as RandomSource;
  const fn = random as RandomSource;
  const source: RandomSource = (n) => {
    const out = fn(n);
    if (!(out instanceof Uint8Array) || out.length !== n)
      throw new TypeError(`${name} must return a Uint8Array of the requested length`);
    return out;
  };
  checked.add(source);
  return source;
}

/** A uniform number in [0, 1) from `random`. */
export function uniform(random: RandomSource): number {
  const b = random(4);
  return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 2 ** 32;
}
