import { expect } from 'chai';
import fc from 'fast-check';

import { TimerHeap, type HeapItem } from '../lib/net/timer-heap.js';

describe('net/timer-heap', () => {
  it('pops items in deadline order after arbitrary sets, updates and removals (model check)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.nat(19), fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(Infinity))),
          { maxLength: 200 },
        ),
        (ops) => {
          const heap = new TimerHeap<HeapItem & { id: number }>();
          const items = Array.from({ length: 20 }, (_, id) => ({
            id,
            deadline: Infinity,
            heapIndex: -1,
          }));
          const model = new Map<number, number>();
          for (const [id, d] of ops) {
            heap.set(items[id]!, d);
            if (d === Infinity) model.delete(id);
            else model.set(id, d);
          }
          expect(heap.size).to.equal(model.size);
          const popped: number[] = [];
          for (let it; (it = heap.popDue(Infinity));) popped.push(it.deadline);
          expect(popped).to.deep.equal([...model.values()].sort((a, b) => a - b));
          expect(items.every((i) => i.heapIndex === -1)).to.equal(true);
        },
      ),
    );
  });

  it('popDue returns only due items', () => {
    const heap = new TimerHeap<HeapItem>();
    const a = { deadline: Infinity, heapIndex: -1 };
    const b = { deadline: Infinity, heapIndex: -1 };
    heap.set(a, 10);
    heap.set(b, 5);
    expect(heap.popDue(4)).to.equal(undefined);
    expect(heap.popDue(5)).to.equal(b);
    expect(heap.peek()).to.equal(a);
    heap.remove(a);
    expect(heap.size).to.equal(0);
  });
});
