// A binary min-heap of items keyed by deadline, with O(log n) update and removal by the index
// each item carries: the endpoint arms one timer at the top's deadline for all connections.

export interface HeapItem {
  deadline: number;
  /** Position in the heap, -1 when not in it (maintained by TimerHeap). */
  heapIndex: number;
}

export class TimerHeap<T extends HeapItem> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  /** Inserts `item` or moves it to its new deadline; Infinity removes it. */
  set(item: T, deadline: number): void {
    if (deadline === Infinity || Number.isNaN(deadline)) {
      this.remove(item);
      item.deadline = Infinity;
      return;
    }
    const old = item.deadline;
    item.deadline = deadline;
    if (item.heapIndex < 0) {
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.up(item.heapIndex);
    } else if (deadline < old) this.up(item.heapIndex);
    else if (deadline > old) this.down(item.heapIndex);
  }

  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    item.heapIndex = -1;
    const last = this.items.pop()!;
    if (i < this.items.length) {
      this.items[i] = last;
      last.heapIndex = i;
      this.up(i);
      this.down(last.heapIndex);
    }
  }

  /** Removes and returns the top item if its deadline is <= now (its deadline is kept). */
  popDue(now: number): T | undefined {
    const top = this.items[0];
    if (!top || top.deadline > now) return undefined;
    this.remove(top);
    return top;
  }

  private up(i: number): void {
    const a = this.items;
    const item = a[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.deadline <= item.deadline) break;
      a[i] = a[p]!;
      a[i]!.heapIndex = i;
      i = p;
    }
    a[i] = item;
    item.heapIndex = i;
  }

  private down(i: number): void {
    const a = this.items;
    const n = a.length;
    const item = a[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && a[c + 1]!.deadline < a[c]!.deadline) c++;
      if (a[c]!.deadline >= item.deadline) break;
      a[i] = a[c]!;
      a[i]!.heapIndex = i;
      i = c;
    }
    a[i] = item;
    item.heapIndex = i;
  }
}
