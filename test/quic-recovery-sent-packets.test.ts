import { expect } from 'chai';
import fc from 'fast-check';
import { AckTracker, PacketSpace } from '../lib/quic/ack-tracker.js';
import { LossDetection } from '../lib/quic/recovery/loss-detection.js';
import { NewReno } from '../lib/quic/recovery/newreno.js';
import { SentPackets, type SentPacket } from '../lib/quic/recovery/sent-packets.js';
import { RangeSet } from '../lib/quic/range-set.js';

const pkt = (pn: number, ackEliciting = true): SentPacket<number> => ({
  pn,
  timeSent: pn,
  size: 100 + (pn % 7),
  ackEliciting,
  inFlight: ackEliciting || pn % 3 === 0,
  frames: pn,
});

describe('quic/recovery/sent-packets', () => {
  it('rejects non-increasing packet numbers', () => {
    const s = new SentPackets();
    s.add(pkt(5));
    expect(() => s.add(pkt(5))).to.throw(RangeError);
    expect(() => s.add(pkt(4))).to.throw(RangeError);
  });

  it('matches a Map model under random sends, range removals and scans', () => {
    type Op = { k: 'send'; gap: number; el: boolean } | { k: 'rm'; a: number; len: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({ k: fc.constant('send' as const), gap: fc.nat(2), el: fc.boolean() }),
      },
      fc.record({ k: fc.constant('rm' as const), a: fc.nat(300), len: fc.nat(30) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), fc.nat(300), (ops, scanTo) => {
        const s = new SentPackets<number>();
        const m = new Map<number, SentPacket<number>>();
        let pn = -1;
        for (const o of ops) {
          if (o.k === 'send') {
            pn += 1 + o.gap;
            const p = pkt(pn, o.el);
            s.add(p);
            m.set(pn, p);
          } else {
            const out: SentPacket<number>[] = [];
            s.removeRange(o.a, o.a + o.len, out);
            const expected = [...m.keys()].filter((k) => k >= o.a && k <= o.a + o.len);
            expect(out.map((p) => p.pn)).to.deep.equal(expected.sort((a, b) => a - b));
            for (const k of expected) m.delete(k);
          }
          const live = [...m.values()];
          expect(s.size).to.equal(live.length);
          expect(s.bytesInFlight).to.equal(
            live.filter((p) => p.inFlight).reduce((a, p) => a + p.size, 0),
          );
          expect(s.notInFlight).to.equal(live.filter((p) => !p.inFlight).length);
          expect(s.ackElicitingInFlight).to.equal(
            live.filter((p) => p.inFlight && p.ackEliciting).length,
          );
        }
        // scanUpTo visits exactly the remaining packets <= scanTo, ascending; remove evens.
        const seen: number[] = [];
        s.scanUpTo(scanTo, (p) => {
          seen.push(p.pn);
          return p.pn % 2 === 0;
        });
        const expected = [...m.keys()].filter((k) => k <= scanTo).sort((a, b) => a - b);
        expect(seen).to.deep.equal(expected);
        for (const k of expected) if (k % 2 === 0) m.delete(k);
        expect([...s].map((p) => p.pn)).to.deep.equal([...m.keys()].sort((a, b) => a - b));
        for (const k of m.keys()) expect(s.get(k)?.pn).to.equal(k);
      }),
      { numRuns: 150 },
    );
  });

  it('loss detection accounts every packet once: acked, lost or outstanding', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.integer({ min: 1, max: 20 }), fc.array(fc.nat(40), { maxLength: 8 })),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        (rounds) => {
          const cc = new NewReno();
          const ld = new LossDetection<number>({ isServer: true, cc });
          ld.onHandshakeConfirmed(0);
          const App = PacketSpace.ApplicationData;
          let next = 0;
          let now = 0;
          const acked = new Set<number>();
          const lost = new Set<number>();
          for (const [sends, ackPicks] of rounds) {
            for (let i = 0; i < sends; i++) {
              now += 1;
              ld.onPacketSent(
                App,
                {
                  pn: next,
                  timeSent: now,
                  size: 1200,
                  ackEliciting: true,
                  inFlight: true,
                  frames: next,
                },
                now,
              );
              next++;
            }
            now += 5;
            const set = new RangeSet();
            for (const a of ackPicks) set.addOne(Math.min(a, next - 1));
            const r = ld.onAckReceived(App, set.toAckRanges(), 0, now);
            expect(r.error).to.equal(0);
            for (const p of r.acked) {
              expect(acked.has(p.pn) || lost.has(p.pn)).to.equal(false);
              acked.add(p.pn);
            }
            for (const p of r.lost) {
              expect(acked.has(p.pn) || lost.has(p.pn)).to.equal(false);
              lost.add(p.pn);
            }
            if (ld.nextTimeout() <= now + 1000) {
              const t = ld.nextTimeout();
              now = Math.max(now, t);
              const a = ld.onTimeout(now);
              if (a.kind === 'lost') for (const p of a.lost) lost.add(p.pn);
            }
            const outstanding = next - acked.size - lost.size;
            expect(ld.spaces[App].size).to.equal(outstanding);
            expect(cc.bytesInFlight).to.equal(outstanding * 1200);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('quic/recovery/loss-detection (hostile ACK ranges)', () => {
  it('never throws and keeps its accounting on malformed ranges', () => {
    const range = fc.record({
      start: fc.integer({ min: -5, max: 400 }),
      end: fc.integer({ min: -5, max: 400 }),
    });
    fc.assert(
      fc.property(fc.array(fc.array(range, { maxLength: 10 }), { maxLength: 20 }), (acks) => {
        const cc = new NewReno();
        const ld = new LossDetection<number>({ isServer: false, cc });
        const App = PacketSpace.ApplicationData;
        for (let pn = 0; pn < 300; pn++) ld.onPacketSent(App, pkt(pn), pn);
        let now = 300;
        const gone = new Set<number>();
        for (const ranges of acks) {
          now += 10;
          const r = ld.onAckReceived(App, ranges, 1, now);
          expect([0, 0x0a]).to.include(r.error);
          for (const p of [...r.acked, ...r.lost]) {
            expect(gone.has(p.pn)).to.equal(false);
            gone.add(p.pn);
          }
          const t = ld.nextTimeout();
          if (t !== Infinity) {
            now = Math.max(now, t);
            const a = ld.onTimeout(now);
            if (a.kind === 'lost') for (const p of a.lost) gone.add(p.pn);
          }
          const sp = ld.spaces[App];
          expect(cc.bytesInFlight).to.equal(sp.bytesInFlight);
          expect(sp.size).to.equal(300 - gone.size);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('quic/ack-tracker (model)', () => {
  it('reports exactly the packets received, each accepted once', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(200), { maxLength: 300 }), (pns) => {
        const t = new AckTracker(PacketSpace.ApplicationData, { maxRanges: 1000 });
        const model = new Set<number>();
        for (const pn of pns) {
          expect(t.onPacketReceived(pn, true, 0)).to.equal(!model.has(pn));
          model.add(pn);
        }
        const expected = RangeSet.fromAckRanges([...model].map((v) => ({ start: v, end: v })));
        expect(t.ranges()).to.deep.equal(expected.toAckRanges());
      }),
    );
  });
});
