/**
 * Shared empty arrays, Sets and Maps for containers most connections never fill (memory per
 * idle connection: an empty Set or Map still allocates its hash table, an empty array its
 * object). A holder starts with the
 * shared one and gets its own with its first entry (`appended()`, `added()`, `withEntry()`); reads of the
 * shared one see an empty container, and a write to it throws (a bug, not another connection's
 * state).
 */

class EmptySet<T> extends Set<T> {
  override add(): this {
    throw new TypeError('the shared empty set is read-only');
  }
  override clear(): void {}
}

class EmptyMap<K, V> extends Map<K, V> {
  override set(): this {
    throw new TypeError('the shared empty map is read-only');
  }
  override clear(): void {}
}

const EMPTY_ARRAY: readonly never[] = Object.freeze([]);
const EMPTY_SET: Set<never> = Object.freeze(new EmptySet<never>());
const EMPTY_MAP: Map<never, never> = Object.freeze(new EmptyMap<never, never>());

/** The shared empty Set. */
export function emptySet<T>(): Set<T> {
  return EMPTY_SET;
}

/** The shared empty Map. */
export function emptyMap<K, V>(): Map<K, V> {
  return EMPTY_MAP;
}

/** The shared empty array (frozen: push() throws; drain it with length checks first). */
export function emptyArray<T>(): T[] {
  return EMPTY_ARRAY as never[];
}

/** `array` with `value` pushed: an array of its own if `array` was the shared empty one. */
export function appended<T>(array: T[], value: T): T[] {
  const own = (array as readonly unknown[]) === EMPTY_ARRAY ? [] : array;
  own.push(value);
  return own;
}

/** `set` with `value` added: a Set of its own if `set` was the shared empty one. */
export function added<T>(set: Set<T>, value: T): Set<T> {
  return (set === EMPTY_SET ? new Set<T>() : set).add(value);
}

/** `map` with `key` set to `value`: a Map of its own if `map` was the shared empty one. */
export function withEntry<K, V>(map: Map<K, V>, key: K, value: V): Map<K, V> {
  return (map === EMPTY_MAP ? new Map<K, V>() : map).set(key, value);
}
