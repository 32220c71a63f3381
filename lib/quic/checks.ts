/**
 * Checks of the arguments the sans-IO API takes (TypeError / RangeError naming the argument).
 */
import type { Address } from './path.js';

export function checkAddress(a: unknown, name: string): Address {
  const x = a as Address;
  if (x === null || typeof x !== 'object' || typeof x.address !== 'string')
    throw new TypeError(`${name} must be an address object`);
  if (!Number.isInteger(x.port) || x.port < 0 || x.port > 65535)
    throw new RangeError(`${name}.port must be 0..65535`);
  return x;
}

export function checkNow(now: unknown): number {
  if (typeof now !== 'number' || !Number.isFinite(now))
    throw new TypeError('now must be a finite number');
  return now;
}

/** An error code (RFC 9000 §20: a varint, < 2^62). */
export function checkCode(code: unknown): void {
  if (typeof code !== 'number' || !Number.isSafeInteger(code) || code < 0 || code >= 2 ** 62)
    throw new RangeError('code must be an integer in [0, 2^62)');
}
