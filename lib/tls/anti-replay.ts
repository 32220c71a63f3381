// 0-RTT anti-replay (RFC 8446 §8): a bounded cache of PSK identities already used for early
// data. An identity is remembered until its ticket can no longer be accepted (its expiry), so
// a replay within the ticket's life is refused. When the cache is full, early data is refused
// (the handshake itself still proceeds as 1-RTT): memory stays bounded and replays stay out.

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
