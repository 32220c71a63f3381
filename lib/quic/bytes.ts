/** Byte-array helpers the connection layer shares. */

export function equalBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A standalone copy (its own small ArrayBuffer) of bytes kept for a connection's life: a view
 * would keep the whole datagram alive, and Buffer.from() of a small input slices Node's shared
 * 8 KB pool, so one slice kept per connection would pin a whole pool chunk.
 */
export function ownCopy(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}
