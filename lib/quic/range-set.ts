/**
 * Sorted set of disjoint, non-adjacent inclusive integer ranges.
 *
 * Used for received packet numbers (ACK generation, RFC 9000 §13.2.3) and for stream byte
 * ranges (acknowledged / lost data). Ranges are kept ascending in two parallel number arrays,
 * so the common cases (append at the top, remove at the bottom) are O(1) amortised and lookups
 * are O(log n). An optional cap bounds memory: beyond `maxRanges` the lowest (oldest) ranges are
 * dropped, which is what a receiver wants for packet numbers a peer could fragment at will.
 */

/** One ACK range as the ACK frame carries it: inclusive, `start <= end`. */
import { emptyArray } from './empty.js';

export interface AckRange {
  start: number;
  end: number;
}

export class RangeSet {
  /** Ascending range starts; `ends[i]` is the inclusive end of the range starting at `starts[i]`. */
  // Empty sets share one frozen array (sets get their own arrays with their first range).
  private starts: number[] = emptyArray();
  private ends: number[] = emptyArray();
  /** Index of the first live range (ranges below were removed; compacted lazily). */
  private head = 0;
  /** Values below this are unknown because the cap dropped their ranges (0 if never). */
  droppedBelow = 0;

  /** @param maxRanges ranges kept at most; the lowest ranges are dropped beyond it. */
  constructor(readonly maxRanges: number = Infinity) {
    if (!(maxRanges >= 1)) throw new RangeError('maxRanges must be >= 1');
  }

  /** Number of disjoint ranges. */
  get size(): number {
    return this.starts.length - this.head;
  }

  get isEmpty(): boolean {
    return this.size === 0;
  }

  /** Smallest value in the set, or -1 when empty. */
  get min(): number {
    return this.size === 0 ? -1 : this.starts[this.head];
  }

  /** Largest value in the set, or -1 when empty. */
  get max(): number {
    return this.size === 0 ? -1 : this.ends[this.ends.length - 1];
  }

  /** Start of the i-th range, ascending (0 = lowest). */
  startAt(i: number): number {
    return this.starts[this.head + i];
  }

  /** Inclusive end of the i-th range, ascending (0 = lowest). */
  endAt(i: number): number {
    return this.ends[this.head + i];
  }

  clear(): void {
    this.starts = this.ends = emptyArray();
    this.head = 0;
    this.droppedBelow = 0;
  }

  /** Index (absolute) of the last range whose start is <= v, or head - 1 if none. */
  private floorIndex(v: number): number {
    let lo = this.head;
    let hi = this.starts.length - 1;
    if (hi < lo || this.starts[lo] > v) return this.head - 1;
    if (this.starts[hi] <= v) return hi;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid] <= v) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  contains(v: number): boolean {
    const i = this.floorIndex(v);
    return i >= this.head && this.ends[i] >= v;
  }

  /** True when every value of [start, end] is in the set. */
  containsRange(start: number, end: number): boolean {
    const i = this.floorIndex(start);
    return i >= this.head && this.ends[i] >= end;
  }

  /** Adds one value. Returns true if it was not present. */
  addOne(v: number): boolean {
    return this.add(v, v);
  }

  /**
   * Adds [start, end] (inclusive), merging with overlapping or adjacent ranges.
   * Returns true if at least one value was new.
   */
  add(start: number, end: number): boolean {
    if (!(start <= end)) throw new RangeError('start must be <= end');
    const n = this.starts.length;
    // Fast path: at or above the top range (in-order packet numbers / stream bytes).
    if (n === 0) {
      // Exact-size arrays for the first range: a set that stays one range (in-order packet
      // numbers) keeps no spare capacity, an empty one none at all (memory per idle connection).
      this.starts = [start];
      this.ends = [end];
      return true;
    }
    if (n === this.head || start > this.ends[n - 1] + 1) {
      this.starts.push(start);
      this.ends.push(end);
      this.enforceCap();
      return true;
    }
    if (start >= this.starts[n - 1]) {
      if (end <= this.ends[n - 1]) return false;
      this.ends[n - 1] = end;
      return true;
    }
    // General case: find ranges touching [start - 1, end + 1].
    let first = this.floorIndex(start - 1);
    if (first < this.head || this.ends[first] < start - 1) first++;
    let last = this.floorIndex(end + 1);
    if (last < first) {
      // No overlap/adjacency: insert a new range at `first`.
      this.starts.splice(first, 0, start);
      this.ends.splice(first, 0, end);
      this.enforceCap();
      return true;
    }
    const newStart = Math.min(start, this.starts[first]);
    const newEnd = Math.max(end, this.ends[last]);
    if (first === last && newStart === this.starts[first] && newEnd === this.ends[first]) {
      return false;
    }
    this.starts[first] = newStart;
    this.ends[first] = newEnd;
    if (last > first) {
      this.starts.splice(first + 1, last - first);
      this.ends.splice(first + 1, last - first);
    }
    return true;
  }

  /** Removes every value of [start, end] (inclusive). */
  subtract(start: number, end: number): void {
    if (!(start <= end) || this.size === 0) return;
    let i = this.floorIndex(start);
    if (i < this.head || this.ends[i] < start) i++;
    const n = this.starts.length;
    if (i >= n || this.starts[i] > end) return;
    // Split a range that straddles both ends.
    if (this.starts[i] < start && this.ends[i] > end) {
      this.starts.splice(i + 1, 0, end + 1);
      this.ends.splice(i + 1, 0, this.ends[i]);
      this.ends[i] = start - 1;
      this.enforceCap();
      return;
    }
    if (this.starts[i] < start) {
      this.ends[i] = start - 1;
      i++;
    }
    let j = i;
    while (j < this.starts.length && this.ends[j] <= end) j++;
    if (j < this.starts.length && this.starts[j] <= end) this.starts[j] = end + 1;
    if (j > i) {
      if (i === this.head) {
        this.head = j;
        this.compact();
      } else {
        this.starts.splice(i, j - i);
        this.ends.splice(i, j - i);
      }
    }
  }

  /** Removes every value < v (e.g. packet numbers no longer acknowledged, RFC 9000 §13.2.4). */
  removeBelow(v: number): void {
    while (this.head < this.starts.length && this.ends[this.head] < v) this.head++;
    if (this.head < this.starts.length && this.starts[this.head] < v) this.starts[this.head] = v;
    this.compact();
  }

  private enforceCap(): void {
    if (this.size > this.maxRanges) {
      this.head += this.size - this.maxRanges;
      this.droppedBelow = this.starts[this.head];
      this.compact();
    }
  }

  /** Drops removed slots once they are at least half of the array (amortised O(1)). */
  private compact(): void {
    const h = this.head;
    if (h === this.starts.length) {
      this.starts = this.ends = emptyArray();
      this.head = 0;
    } else if (h > 32 && h * 2 > this.starts.length) {
      this.starts.splice(0, h);
      this.ends.splice(0, h);
      this.head = 0;
    }
  }

  /** Iterates ranges from the highest to the lowest. */
  *descending(): IterableIterator<AckRange> {
    for (let i = this.starts.length - 1; i >= this.head; i--) {
      yield { start: this.starts[i], end: this.ends[i] };
    }
  }

  /** Iterates ranges from the lowest to the highest. */
  *ascending(): IterableIterator<AckRange> {
    for (let i = this.head; i < this.starts.length; i++) {
      yield { start: this.starts[i], end: this.ends[i] };
    }
  }

  /**
   * ACK frame ranges (RFC 9000 §19.3): descending, the first one containing the largest value.
   * At most `limit` ranges (the highest ones) are returned.
   */
  toAckRanges(limit: number = Infinity): AckRange[] {
    const out: AckRange[] = [];
    for (let i = this.starts.length - 1; i >= this.head && out.length < limit; i--) {
      out.push({ start: this.starts[i], end: this.ends[i] });
    }
    return out;
  }

  /** Builds a set from ACK frame ranges (any order; overlaps are merged). */
  static fromAckRanges(ranges: Iterable<AckRange>, maxRanges?: number): RangeSet {
    const set = new RangeSet(maxRanges);
    for (const r of ranges) set.add(r.start, r.end);
    return set;
  }
}
