// 0-RTT anti-replay (RFC 8446 §8): a bounded cache of PSK identities already used for early
// data. An identity is remembered until its ticket can no longer be accepted (its expiry), so
// a replay within the ticket's life is refused. When the cache is full, early data is refused
// (the handshake itself still proceeds as 1-RTT): memory stays bounded and replays stay out.

import { createHash } from 'node:crypto';

export class AntiReplay {
  private seen = new Map<string, number>(); // key -> expiry (ms)

  constructor(readonly maxEntries = 100_000) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError('maxEntries must be a positive integer');
  }

  get size(): number {
    return this.seen.size;
  }

  /** True the first time `identity` is presented (and records it); false for a replay. */
  accept(identity: Uint8Array, expiresAt: number, now: number): boolean {
    this.prune(now);
    const key = Buffer.from(identity).toString('base64');
    if (this.seen.has(key)) return false;
    if (this.seen.size >= this.maxEntries) return false;
    this.seen.set(key, expiresAt);
    return true;
  }

  private prune(now: number): void {
    // Entries are inserted in time order of arrival, not expiry; a full scan is bounded by maxEntries
    // and only happens when the oldest entry has expired.
    for (const [k, exp] of this.seen) {
      if (exp > now) break;
      this.seen.delete(k);
    }
  }
}

/** Slots probed per identity: with the table at most half full, a longer run is rare (a full
 * window refuses early data, which is safe). */
const WINDOW = 32;
/** Header words: the lock, the number of slots in use, the capacity, maxEntries. */
const HEADER = 4;
/** A full table is swept of expired entries at most this often (ms): a sweep reads it all. */
const SWEEP_INTERVAL = 1000;

/** The memory of a table of `capacity` slots: header, fingerprints, expiries, last sweep. */
const bytes = (capacity: number): number => 4 * HEADER + 16 * capacity + 8;

/**
 * The same cache in a SharedArrayBuffer, shared by the worker threads of one server
 * (lib/net/workers.ts), so that a ticket's early data is accepted once across all of them:
 * an open-addressed table of identity fingerprints (the first 8 bytes of their SHA-256) and
 * expiry times, behind a lock word (Atomics). Each thread makes its own instance over the
 * same memory.
 */
export class SharedAntiReplay extends AntiReplay {
  private readonly words: Int32Array;
  private readonly expiry: Float64Array;
  private readonly mask: number;

  /** Memory for a cache of `maxEntries` identities, to hand to every thread. */
  static memory(maxEntries = 100_000): SharedArrayBuffer {
    if (!Number.isInteger(maxEntries) || maxEntries < 1 || maxEntries > 2 ** 24)
      throw new RangeError('maxEntries must be an integer in 1..2^24');
    let capacity = WINDOW;
    while (capacity < 2 * maxEntries) capacity *= 2;
    const sab = new SharedArrayBuffer(bytes(capacity));
    const header = new Int32Array(sab, 0, HEADER);
    header[2] = capacity;
    header[3] = maxEntries;
    return sab;
  }

  constructor(memory: SharedArrayBuffer) {
    if (!(memory instanceof SharedArrayBuffer))
      throw new TypeError('memory must be a SharedArrayBuffer from SharedAntiReplay.memory()');
    const header = new Int32Array(memory, 0, HEADER);
    const capacity = header[2]!;
    if (
      capacity < WINDOW ||
      (capacity & (capacity - 1)) !== 0 ||
      memory.byteLength !== bytes(capacity)
    )
      throw new RangeError('memory is not a SharedAntiReplay table');
    super(header[3]!);
    this.words = new Int32Array(memory, 0, HEADER + 2 * capacity);
    // One expiry per slot, then the time of the last sweep.
    this.expiry = new Float64Array(memory, 4 * HEADER + 8 * capacity, capacity + 1);
    this.mask = capacity - 1;
  }

  override get size(): number {
    return Atomics.load(this.words, 1);
  }

  override accept(identity: Uint8Array, expiresAt: number, now: number): boolean {
    const digest = createHash('sha256').update(identity).digest();
    const lo = digest.readInt32LE(0) | 1; // never 0: 0 marks an empty slot
    const hi = digest.readInt32LE(4);
    const w = this.words;
    // Plain reads and writes between the Atomics of the lock are ordered by them.
    while (Atomics.compareExchange(w, 0, 0, 1) !== 0) Atomics.wait(w, 0, 1, 1);
    try {
      let free = -1;
      for (let i = 0; i < WINDOW; i++) {
        const slot = (lo + i) & this.mask;
        const at = HEADER + 2 * slot;
        if (w[at] === lo && w[at + 1] === hi) return false; // used before (expired or not)
        if (free < 0 && (w[at] === 0 || this.expiry[slot]! <= now)) free = slot;
      }
      if (free < 0) return false;
      const at = HEADER + 2 * free;
      if (w[at] === 0) {
        if (w[1]! >= this.maxEntries && !this.sweep(now)) return false;
        w[1]!++;
      }
      w[at] = lo;
      w[at + 1] = hi;
      this.expiry[free] = expiresAt;
      return true;
    } finally {
      Atomics.store(w, 0, 0);
      Atomics.notify(w, 0, 1);
    }
  }

  /** Empties the slots of expired entries (with the lock held); false if none was. */
  private sweep(now: number): boolean {
    const capacity = this.mask + 1;
    if (now - this.expiry[capacity]! < SWEEP_INTERVAL) return false;
    this.expiry[capacity] = now;
    const w = this.words;
    let freed = 0;
    for (let slot = 0; slot < capacity; slot++) {
      const at = HEADER + 2 * slot;
      if (w[at] === 0 || this.expiry[slot]! > now) continue;
      w[at] = w[at + 1] = 0;
      freed++;
    }
    w[1]! -= freed;
    return freed > 0;
  }
}
