import { expect } from 'chai';
import fc from 'fast-check';
import { RangeSet } from '../lib/quic/range-set.js';

/** Naive model: a set of integers. */
function modelRanges(s: Set<number>): Array<{ start: number; end: number }> {
  const vals = [...s].sort((a, b) => b - a);
  const out: Array<{ start: number; end: number }> = [];
  for (const v of vals) {
    const last = out[out.length - 1];
    if (last && last.start === v + 1) last.start = v;
    else out.push({ start: v, end: v });
  }
  return out;
}

type Op =
  | { k: 'add'; a: number; len: number }
  | { k: 'sub'; a: number; len: number }
  | { k: 'below'; a: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ k: fc.constant('add' as const), a: fc.nat(200), len: fc.nat(12) }),
  fc.record({ k: fc.constant('sub' as const), a: fc.nat(200), len: fc.nat(12) }),
  fc.record({ k: fc.constant('below' as const), a: fc.nat(200) }),
);

describe('quic/range-set', () => {
  it('merges adjacent and overlapping ranges', () => {
    const s = new RangeSet();
    expect(s.add(5, 7)).to.equal(true);
    expect(s.add(1, 2)).to.equal(true);
    expect(s.add(3, 4)).to.equal(true); // bridges 1-2 and 5-7
    expect(s.toAckRanges()).to.deep.equal([{ start: 1, end: 7 }]);
    expect(s.add(2, 6)).to.equal(false);
    s.add(10, 10);
    expect(s.toAckRanges()).to.deep.equal([
      { start: 10, end: 10 },
      { start: 1, end: 7 },
    ]);
    expect(s.contains(8)).to.equal(false);
    expect(s.contains(7)).to.equal(true);
    expect(s.min).to.equal(1);
    expect(s.max).to.equal(10);
  });

  it('subtract splits a range', () => {
    const s = RangeSet.fromAckRanges([{ start: 0, end: 9 }]);
    s.subtract(3, 5);
    expect([...s.ascending()]).to.deep.equal([
      { start: 0, end: 2 },
      { start: 6, end: 9 },
    ]);
  });

  it('drops the lowest ranges beyond the cap and records where', () => {
    const s = new RangeSet(3);
    for (let i = 0; i < 10; i++) s.addOne(i * 2);
    expect(s.size).to.equal(3);
    expect(s.toAckRanges().map((r) => r.start)).to.deep.equal([18, 16, 14]);
    expect(s.droppedBelow).to.equal(14);
  });

  it('toAckRanges limit keeps the highest ranges', () => {
    const s = new RangeSet();
    for (let i = 0; i < 5; i++) s.addOne(i * 3);
    expect(s.toAckRanges(2)).to.deep.equal([
      { start: 12, end: 12 },
      { start: 9, end: 9 },
    ]);
  });

  it('rejects an inverted range', () => {
    expect(() => new RangeSet().add(3, 2)).to.throw(RangeError);
  });

  it('matches a naive set model under random operations', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const s = new RangeSet();
        const m = new Set<number>();
        for (const o of ops) {
          if (o.k === 'add') {
            let fresh = false;
            for (let v = o.a; v <= o.a + o.len; v++) if (!m.has(v)) fresh = true;
            for (let v = o.a; v <= o.a + o.len; v++) m.add(v);
            expect(s.add(o.a, o.a + o.len)).to.equal(fresh);
          } else if (o.k === 'sub') {
            for (let v = o.a; v <= o.a + o.len; v++) m.delete(v);
            s.subtract(o.a, o.a + o.len);
          } else {
            for (const v of [...m]) if (v < o.a) m.delete(v);
            s.removeBelow(o.a);
          }
          expect(s.toAckRanges()).to.deep.equal(modelRanges(m));
        }
        for (let v = 0; v < 215; v++) expect(s.contains(v)).to.equal(m.has(v));
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips through ACK frame ranges', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(1000), { maxLength: 60 }), (vals) => {
        const s = new RangeSet();
        for (const v of vals) s.addOne(v);
        const ranges = s.toAckRanges();
        // Descending, disjoint, non-adjacent, first holds the largest.
        for (let i = 1; i < ranges.length; i++) {
          expect(ranges[i].end).to.be.lessThan(ranges[i - 1].start - 1);
        }
        if (vals.length) expect(ranges[0].end).to.equal(Math.max(...vals));
        expect(RangeSet.fromAckRanges(ranges).toAckRanges()).to.deep.equal(ranges);
      }),
    );
  });
});
