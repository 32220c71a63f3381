// Injectable randomness: node:crypto's CSPRNG by default; a seeded source lets a simulated run
// (QUIC connections, their TLS handshakes and key shares) repeat byte for byte.
import { randomBytes } from 'node:crypto';

/** Returns `n` unpredictable bytes. Must be cryptographically secure outside tests: keys,
 * connection IDs, tokens and reset tokens rely on it. */
export type RandomSource = (n: number) => Uint8Array;

/** Sources that need no checking wrapper: node:crypto's, and the wrappers made here. */
const checked = new WeakSet<RandomSource>([randomBytes]);

/** The source to use for an optional `random` option: node:crypto's by default, else the given
 * function checked on every call (a wrong answer must not turn into a short key, CID or token). */
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

/** `n` bytes from `random` as a Buffer over the same memory (node:crypto's answer is one
 * already): no copy, and no slice of Node's shared Buffer pool that a kept key would pin. */
export function randomBuffer(random: RandomSource, n: number): Buffer {
  const r = random(n);
  return Buffer.isBuffer(r) ? r : Buffer.from(r.buffer, r.byteOffset, r.byteLength);
}

/** An optional `random` option as an injected source: undefined when it is absent or
 * node:crypto's own (then keys are generated natively, as without the option). */
export function injectedSource(random: unknown, name: string): RandomSource | undefined {
  return random === undefined || random === randomBytes ? undefined : randomSource(random, name);
}
