import { expect } from 'chai';
import fc from 'fast-check';
import { TransportError } from '../lib/quic/errors.js';
import {
  LocalStreamLimit,
  PeerStreamLimit,
  RecvWindow,
  SendCredit,
  WindowPool,
} from '../lib/quic/flow-control.js';

const { FLOW_CONTROL_ERROR, FRAME_ENCODING_ERROR, STREAM_LIMIT_ERROR } = TransportError;

describe('quic/flow-control (RFC 9000 §4)', () => {
  describe('SendCredit', () => {
    it('tracks credit, ignores non-increasing updates (§4.1)', () => {
      const c = new SendCredit(1000);
      c.consume(600);
      expect(c.available).to.equal(400);
      expect(c.update(900)).to.equal(false);
      expect(c.limit).to.equal(1000);
      expect(c.update(1500)).to.equal(true);
      expect(c.available).to.equal(900);
      expect(() => c.consume(901)).to.throw(RangeError);
    });

    it('queues one *_BLOCKED per limit, again after a lost frame', () => {
      const c = new SendCredit(100);
      expect(c.onBlocked()).to.equal(false); // credit left: not blocked
      c.consume(100);
      expect(c.onBlocked()).to.equal(true);
      expect(c.onBlocked()).to.equal(false);
      expect(c.takeBlocked()).to.equal(100);
      expect(c.takeBlocked()).to.equal(-1);
      c.onBlockedLost(100);
      expect(c.takeBlocked()).to.equal(100);
      c.update(200);
      c.onBlockedLost(100); // stale
      expect(c.takeBlocked()).to.equal(-1);
      c.consume(100);
      expect(c.onBlocked()).to.equal(true);
      expect(c.takeBlocked()).to.equal(200);
    });
  });

  describe('RecvWindow', () => {
    it('rejects data beyond the limit with FLOW_CONTROL_ERROR', () => {
      const w = new RecvWindow({ window: 1000 });
      expect(w.onReceivedOffset(600)).to.equal(600);
      expect(w.onReceivedOffset(500)).to.equal(0); // retransmission below the highest offset
      expect(w.onReceivedOffset(1000)).to.equal(400);
      expect(w.onReceivedOffset(1001)).to.equal(-FLOW_CONTROL_ERROR);
      const conn = new RecvWindow({ window: 1000 });
      expect(conn.onReceivedBytes(1000)).to.equal(0);
      expect(conn.onReceivedBytes(1)).to.equal(FLOW_CONTROL_ERROR);
      expect(w.onReceivedOffset(NaN)).to.equal(-FLOW_CONTROL_ERROR);
      expect(conn.onReceivedBytes(-1)).to.equal(FLOW_CONTROL_ERROR);
      expect(w.received).to.equal(1000);
    });

    it('sends an update once half the window is consumed', () => {
      const w = new RecvWindow({ window: 1000 });
      w.onReceivedOffset(1000);
      w.onConsumed(500);
      expect(w.updateNeeded).to.equal(false);
      expect(w.takeUpdate(0, 100)).to.equal(-1);
      w.onConsumed(1);
      expect(w.updateNeeded).to.equal(true);
      expect(w.takeUpdate(0, 100)).to.equal(1501);
      expect(w.updateNeeded).to.equal(false);
      expect(w.onUpdateLost(1501)).to.equal(1501);
      expect(w.onUpdateLost(1000)).to.equal(-1);
      expect(() => w.onConsumed(1000)).to.throw(RangeError);
    });

    it('auto-tunes: doubles the window (up to the cap) when updates come within 2 RTTs', () => {
      const w = new RecvWindow({ window: 1000, maxWindow: 3000 });
      // The peer keeps 1 byte of credit unused (not blocked): only the RTT rule applies.
      const cycle = (now: number, rtt: number) => {
        w.onReceivedOffset(w.limit - 1);
        w.onConsumed(w.received - w.consumed);
        return w.takeUpdate(now, rtt);
      };
      expect(cycle(0, 100)).to.equal(1999); // first update: no history, window 1000
      expect(w.window).to.equal(1000);
      expect(cycle(150, 100)).to.equal(3998); // 150 ms < 2 RTT: window 2000
      expect(w.window).to.equal(2000);
      expect(cycle(250, 100)).to.equal(6997); // capped at 3000
      expect(w.window).to.equal(3000);
      expect(cycle(260, 100)).to.equal(9996);
      const slow = new RecvWindow({ window: 1000, maxWindow: 3000 });
      slow.onReceivedOffset(999);
      slow.onConsumed(999);
      slow.takeUpdate(0, 100);
      slow.onReceivedOffset(1998);
      slow.onConsumed(999);
      slow.takeUpdate(500, 100); // 500 ms >= 2 RTT: no growth
      expect(slow.window).to.equal(1000);
    });

    it('auto-tunes when the peer used all the credit, whatever the RTT says', () => {
      const w = new RecvWindow({ window: 1000, maxWindow: 4000 });
      // The peer sent up to the limit (it is blocked); the reader took 10 s, RTT 1 ms.
      const blocked = (now: number) => {
        w.onReceivedOffset(w.limit);
        w.onConsumed(w.limit - w.window / 2 + 1 - w.consumed);
        return w.takeUpdate(now, 1);
      };
      expect(blocked(0)).to.equal(501 + 2000);
      expect(w.window).to.equal(2000);
      expect(blocked(10_000)).to.equal(1502 + 4000);
      expect(w.window).to.equal(4000);
      expect(blocked(20_000)).to.equal(3503 + 4000); // capped
      expect(w.window).to.equal(4000);
    });

    it('an RTT inflated by a busy event loop stops growth but never shrinks the window', () => {
      const w = new RecvWindow({ window: 1000, maxWindow: 8000 });
      let now = 0;
      const step = (rtt: number) => {
        now += 10;
        w.onReceivedOffset(w.limit - 1);
        w.onConsumed(w.received - w.consumed);
        return w.takeUpdate(now, rtt);
      };
      step(100);
      step(100);
      expect(w.window).to.equal(2000);
      let prev = w.limit;
      for (const rtt of [1, 0.5, 0.1, 0]) {
        // Updates 10 ms apart now look slow: no growth, and no smaller grant either.
        const u = step(rtt);
        expect(w.window).to.equal(2000);
        expect(u - prev).to.be.at.least(1000);
        prev = u;
      }
    });

    it('never lowers the advertised limit nor grants more than maxWindow ahead', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(3000), fc.nat(3000), fc.integer({ min: 1, max: 500 })), {
            maxLength: 60,
          }),
          (steps) => {
            const w = new RecvWindow({ window: 1000, maxWindow: 8000 });
            let now = 0;
            let prev = w.limit;
            for (const [recv, consume, dt] of steps) {
              now += dt;
              const end = Math.min(w.limit, w.received + recv);
              expect(w.onReceivedOffset(end)).to.be.at.least(0);
              w.onConsumed(Math.min(consume, w.received - w.consumed));
              const u = w.takeUpdate(now, 100);
              // Updates come in steps of at least half the window, not byte by byte.
              if (u >= 0) expect(u - prev).to.be.at.least(w.window / 2);
              expect(w.limit).to.be.at.least(prev);
              expect(w.limit - w.consumed).to.be.at.most(8000);
              expect(w.window).to.be.oneOf([1000, 2000, 4000, 8000]);
              expect(w.onReceivedOffset(w.limit + 1)).to.equal(-FLOW_CONTROL_ERROR);
              prev = w.limit;
            }
          },
        ),
      );
    });

    it('with a pool: growth is borrowed, cut short when the pool runs dry, given back by release()', () => {
      const counters = { windowPoolInUse: 0, windowPoolRefused: 0 };
      const pool = new WindowPool(2500, counters);
      const a = new RecvWindow({ window: 1000, maxWindow: 8000, pool });
      const b = new RecvWindow({ window: 1000, maxWindow: 8000, pool });
      // The peer is blocked at every update: each update asks to double the window.
      const blocked = (w: RecvWindow, now: number) => {
        w.onReceivedOffset(w.limit);
        w.onConsumed(w.limit - w.consumed);
        return w.takeUpdate(now, 1);
      };
      const state = (w: RecvWindow) => [w.window, w.pooled, counters.windowPoolInUse];
      blocked(a, 0);
      expect(state(a)).to.deep.equal([2000, 1000, 1000]);
      blocked(a, 1); // asks for 2000 more, gets the 1500 left
      expect(state(a)).to.deep.equal([3500, 2500, 2500]);
      expect(counters.windowPoolRefused).to.equal(1);
      // The pool is dry: b keeps its initial window, and its updates still come (§4.1).
      const before = b.limit;
      expect(blocked(b, 2)).to.equal(before + 1000);
      expect(state(b)).to.deep.equal([1000, 0, 2500]);
      expect(counters.windowPoolRefused).to.equal(2);
      a.release();
      a.release();
      expect([a.pooled, a.maxWindow, counters.windowPoolInUse]).to.deep.equal([0, 3500, 0]);
      blocked(b, 3);
      expect(state(b)).to.deep.equal([2000, 1000, 1000]);
      // A released window no longer grows nor borrows, but keeps granting what it had.
      expect(blocked(a, 4)).to.equal(a.consumed + 3500);
      expect(counters.windowPoolInUse).to.equal(1000);
      expect(() => new RecvWindow({ window: 1, pool: {} as WindowPool })).to.throw(TypeError);
      expect(() => new WindowPool(-1, counters)).to.throw(RangeError);
    });

    it('with a pool: what windows borrow never exceeds its size; limits never go back', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 20_000 }),
          fc.array(
            fc.tuple(fc.nat(3), fc.nat(3000), fc.boolean(), fc.integer({ min: 1, max: 500 })),
            {
              maxLength: 80,
            },
          ),
          (size, steps) => {
            const counters = { windowPoolInUse: 0, windowPoolRefused: 0 };
            const pool = new WindowPool(size, counters);
            const ws = [0, 1, 2, 3].map(
              () => new RecvWindow({ window: 1000, maxWindow: 16_000, pool }),
            );
            const released = new Set<RecvWindow>();
            let now = 0;
            for (const [i, recv, release, dt] of steps) {
              const w = ws[i]!;
              now += dt;
              const prev = w.limit;
              w.onReceivedOffset(Math.min(w.limit, w.received + recv));
              w.onConsumed(w.received - w.consumed);
              if (release) released.add(w);
              if (release) w.release();
              w.takeUpdate(now, 100);
              expect(w.limit).to.be.at.least(prev);
              // Beyond its initial window a window holds only what it borrowed (until released).
              if (!released.has(w)) expect(w.window).to.equal(1000 + w.pooled);
              expect(w.limit - w.consumed).to.be.at.most(w.window);
              const lent = ws.reduce((n, x) => n + x.pooled, 0);
              expect(counters.windowPoolInUse).to.equal(lent);
              expect(lent).to.be.at.most(size);
            }
            for (const w of ws) w.release();
            expect(counters.windowPoolInUse).to.equal(0);
          },
        ),
      );
    });

    it('stops updating once stopped (final size known)', () => {
      const w = new RecvWindow({ window: 100 });
      w.onReceivedOffset(100);
      w.onConsumed(100);
      w.stop();
      expect(w.takeUpdate(0, 1)).to.equal(-1);
    });
  });

  describe('stream count limits (§4.6)', () => {
    it('peer streams: implicit opening, STREAM_LIMIT_ERROR, MAX_STREAMS as streams close', () => {
      const l = new PeerStreamLimit(4);
      expect(l.onStreamReferenced(2)).to.equal(3); // 0, 1, 2 opened
      expect(l.onStreamReferenced(1)).to.equal(0);
      expect(l.onStreamReferenced(3)).to.equal(1);
      expect(l.onStreamReferenced(4)).to.equal(-STREAM_LIMIT_ERROR);
      l.onStreamClosed();
      expect(l.takeUpdate()).to.equal(-1); // only 1 of 4 freed
      l.onStreamClosed();
      expect(l.takeUpdate()).to.equal(6);
      expect(l.onStreamReferenced(5)).to.equal(2);
      expect(l.onStreamReferenced(6)).to.equal(-STREAM_LIMIT_ERROR);
      expect(l.onUpdateLost(6)).to.equal(6);
      expect(() => new PeerStreamLimit(2 ** 61)).to.throw(RangeError);
    });

    it('local streams: blocked once per limit, MAX_STREAMS above 2^60 is an error', () => {
      const l = new LocalStreamLimit(2);
      expect(l.open()).to.equal(0);
      expect(l.open()).to.equal(1);
      expect(l.canOpen).to.equal(false);
      expect(l.open()).to.equal(-1);
      expect(l.open()).to.equal(-1);
      expect(l.takeBlocked()).to.equal(2);
      expect(l.takeBlocked()).to.equal(-1);
      l.onBlockedLost(2);
      expect(l.takeBlocked()).to.equal(2);
      expect(l.update(1)).to.equal(0);
      expect(l.limit).to.equal(2);
      expect(l.update(3)).to.equal(0);
      expect(l.open()).to.equal(2);
      expect(l.update(2 ** 61)).to.equal(FRAME_ENCODING_ERROR);
      expect(l.update(2 ** 60)).to.equal(0);
    });
  });
});
