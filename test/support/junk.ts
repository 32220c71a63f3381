// Junk arguments for the bad-input tests of the crypto and ML-KEM layers: every argument in
// turn gets values of the wrong type, out-of-range numbers, odd views and byte strings of every
// length; only a normal return or a TypeError/RangeError naming an argument may come back.
import { expect } from 'chai';

/** A view whose ArrayBuffer has been transferred away (detached). */
export function detached<T>(make: (ab: ArrayBuffer) => T): T {
  const ab = new ArrayBuffer(64);
  const view = make(ab);
  structuredClone(ab, { transfer: [ab] });
  return view;
}

/** Values of every wrong type and awkward numbers; each test adds the small integers it needs. */
export const JUNK: readonly unknown[] = [
  undefined,
  null,
  true,
  'abc',
  '',
  Symbol('s'),
  10n,
  {},
  [],
  [1, 2, 3],
  () => 0,
  NaN,
  Infinity,
  -Infinity,
  -1,
  -0.5,
  0.5,
  1.5,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 64,
  -(2 ** 53),
  Number.MAX_VALUE,
  new ArrayBuffer(32),
  new DataView(new ArrayBuffer(32)),
  new Uint16Array(16),
  new Int8Array(32),
  new Float64Array(12),
  new Float32Array(12),
  new Uint8ClampedArray(32),
  new Uint8Array(new SharedArrayBuffer(64)),
  new Float64Array(new SharedArrayBuffer(96)),
  detached((ab) => new Uint8Array(ab)),
  detached((ab) => new Float64Array(ab)),
];

/** Byte arguments are also tried at every length up to this. */
const MAX_BYTES = 2000;

export interface JunkSpec {
  name: string;
  /** The argument names, one of which a TypeError/RangeError message must name. */
  params: string[];
  valid: () => unknown[];
  call: (args: unknown[]) => unknown;
}

export function label(v: unknown): string {
  try {
    return `${Object.prototype.toString.call(v)} ${String(v).slice(0, 20)}`;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/**
 * Calls `spec` with `args`: a normal return, a TypeError/RangeError whose message names one of
 * the spec's arguments, or an error `tolerated` accepts passes; anything else fails the test.
 */
export function expectNamedError(
  spec: JunkSpec,
  args: unknown[],
  what: string,
  tolerated?: (err: Error) => boolean,
): void {
  try {
    spec.call(args);
  } catch (e) {
    const err = e as Error;
    const ok =
      ((err instanceof TypeError || err instanceof RangeError) &&
        spec.params.some((p) => err.message.includes(p))) ||
      tolerated?.(err) === true;
    if (!ok) expect.fail(`${spec.name}(${what}) threw ${err?.constructor?.name}: ${err?.message}`);
  }
}

/**
 * Junk in each argument in turn (the others valid): every `junk` value, every byte length (as a
 * Buffer and as an unaligned view) where the valid value is bytes, the `more(valid)` values;
 * then the call with too few arguments. `check(args, what)` judges each call.
 */
export function junkEachArgument(
  spec: JunkSpec,
  junk: readonly unknown[],
  check: (args: unknown[], what: string) => void,
  more?: (valid: unknown) => Array<[value: unknown, what: string]>,
): void {
  const with_ = (i: number, v: unknown): unknown[] => {
    const args = spec.valid();
    args[i] = v;
    return args;
  };
  for (let i = 0; i < spec.params.length; i++) {
    const name = spec.params[i]!;
    for (const j of junk) check(with_(i, j), `${name}=${label(j)}`);
    const v = spec.valid()[i];
    if (v instanceof Uint8Array) {
      for (let n = 0; n <= MAX_BYTES; n++) {
        check(with_(i, Buffer.alloc(n, n & 255)), `${name}.length=${n}`);
        const view = new Uint8Array(new ArrayBuffer(n + 8), 8 - (n % 8), n);
        check(with_(i, view), `${name}=offset view of ${n}`);
      }
    }
    for (const [m, what] of more?.(v) ?? []) check(with_(i, m), `${name}=${what}`);
  }
  for (let n = 0; n < spec.params.length; n++) check(spec.valid().slice(0, n), `${n} arguments`);
}
