import { expect } from 'chai';
import { CSS_ROUNDS, HyStart } from '../lib/quic/recovery/hystart.js';
import { NewReno } from '../lib/quic/recovery/newreno.js';
import { Cubic } from '../lib/quic/recovery/cubic.js';

/** Feeds one round of 8 samples at `rtt` (round r: samples at 100 r + i, sent 20 ms earlier). */
function round(
  sample: (rtt: number, timeSent: number, now: number) => void,
  r: number,
  rtt: number,
) {
  for (let i = 0; i < 8; i++) sample(rtt, 100 * r + i - 20, 100 * r + i);
}

describe('quic/recovery/hystart (RFC 9406)', () => {
  it('enters CSS when the round minimum RTT rises by RttThresh', () => {
    const hs = new HyStart();
    const f = hs.onRttSample.bind(hs);
    round(f, 0, 20);
    round(f, 1, 20);
    expect(hs.inCss).to.equal(false);
    // RttThresh = max(4, min(20 / 8, 16)) = 4: 23.9 is not enough ...
    round(f, 2, 23.9);
    expect(hs.inCss).to.equal(false);
    // ... 27.9 >= 23.9 + 4 is.
    round(f, 3, 27.9);
    expect(hs.inCss).to.equal(true);
    expect(hs.cssBaseline).to.equal(27.9);
    expect(hs.growth(1200)).to.equal(300); // CSS_GROWTH_DIVISOR 4
  });

  it('needs N_RTT_SAMPLE samples in the round', () => {
    const hs = new HyStart();
    round(hs.onRttSample.bind(hs), 0, 20);
    for (let i = 0; i < 7; i++) hs.onRttSample(40, 100 + i - 20, 100 + i);
    expect(hs.inCss).to.equal(false);
    hs.onRttSample(40, 87, 107);
    expect(hs.inCss).to.equal(true);
  });

  it('uses a 16 ms cap on RttThresh for long RTTs', () => {
    const hs = new HyStart();
    const f = hs.onRttSample.bind(hs);
    round(f, 0, 200);
    round(f, 1, 215.9); // 200 / 8 = 25, capped at 16
    expect(hs.inCss).to.equal(false);
    round(f, 2, 232);
    expect(hs.inCss).to.equal(true);
  });

  it('returns to slow start if the RTT falls below the CSS baseline', () => {
    const hs = new HyStart();
    const f = hs.onRttSample.bind(hs);
    round(f, 0, 20);
    round(f, 1, 30);
    expect(hs.inCss).to.equal(true);
    round(f, 2, 29);
    expect(hs.inCss).to.equal(false);
    expect(hs.growth(1200)).to.equal(1200);
  });

  it('ends slow start after CSS_ROUNDS rounds: ssthresh = cwnd', () => {
    const cc = new NewReno();
    const f = cc.onRttSample.bind(cc);
    round(f, 0, 20);
    round(f, 1, 30); // CSS
    cc.onPacketSent(1200, 150);
    cc.onPacketAcked({ timeSent: 150, size: 1200, inFlight: true }, 160, 30);
    expect(cc.cwnd).to.equal(12000 + 300);
    for (let r = 2; r < 2 + CSS_ROUNDS - 1; r++) round(f, r, 30);
    expect(cc.ssthresh).to.equal(Infinity);
    round(f, 2 + CSS_ROUNDS - 1, 30);
    expect(cc.ssthresh).to.equal(12300);
    expect(cc.hystart).to.equal(null);
    // Congestion avoidance now: +1 mds per window acknowledged.
    for (let i = 0; i < 10; i++) {
      cc.onPacketSent(1230, 1000);
      cc.onPacketAcked({ timeSent: 1000, size: 1230, inFlight: true }, 1010, 30);
    }
    expect(cc.cwnd).to.equal(12300 + 1200);
  });

  it('a loss ends HyStart++; it can be disabled', () => {
    const cc = new Cubic();
    cc.onPacketSent(1200, 0);
    cc.onPacketsLost([{ timeSent: 0, size: 1200, inFlight: true }], 10);
    expect(cc.hystart).to.equal(null);
    const plain = new NewReno({ hystart: false });
    round(plain.onRttSample.bind(plain), 0, 20);
    round(plain.onRttSample.bind(plain), 1, 40);
    plain.onPacketSent(1200, 150);
    plain.onPacketAcked({ timeSent: 150, size: 1200, inFlight: true }, 160, 30);
    expect(plain.cwnd).to.equal(13200);
  });
});
