import { expect } from 'chai';
import { RttEstimator } from '../lib/quic/recovery/rtt.js';

describe('quic/recovery/rtt (RFC 9002 §5)', () => {
  it('starts from kInitialRtt = 333 ms, rttvar = 166.5 ms (§5.3)', () => {
    const r = new RttEstimator();
    expect(r.smoothedRtt).to.equal(333);
    expect(r.rttVar).to.equal(166.5);
    expect(r.hasSample).to.equal(false);
    // PTO base: 333 + 4 * 166.5 = 999
    expect(r.ptoBase()).to.equal(999);
  });

  it('first sample initialises, ack delay ignored (§5.3)', () => {
    const r = new RttEstimator();
    r.update(100, 10, false, 25, 1000);
    expect(r.minRtt).to.equal(100);
    expect(r.smoothedRtt).to.equal(100);
    expect(r.rttVar).to.equal(50);
    expect(r.firstSampleTime).to.equal(1000);
  });

  it('follows the EWMA formulas with ack delay adjustment (hand-computed)', () => {
    const r = new RttEstimator();
    r.update(100, 10, false, 25, 0);
    // 120 >= 100 + 10 -> adjusted 110; rttvar = 0.75*50 + 0.25*10 = 40;
    // srtt = 0.875*100 + 0.125*110 = 101.25
    r.update(120, 10, false, 25, 1);
    expect(r.rttVar).to.equal(40);
    expect(r.smoothedRtt).to.equal(101.25);
    // 105 < 100 + 10 -> ack delay not subtracted; rttvar = 30 + 0.25*3.75 = 30.9375;
    // srtt = 0.875*101.25 + 0.125*105 = 101.71875
    r.update(105, 10, false, 25, 2);
    expect(r.rttVar).to.equal(30.9375);
    expect(r.smoothedRtt).to.equal(101.71875);
    expect(r.latestRtt).to.equal(105);
    // Confirmed: ack delay 50 capped at max_ack_delay 25 -> adjusted 175;
    // rttvar = 0.75*30.9375 + 0.25*73.28125 = 41.5234375;
    // srtt = 0.875*101.71875 + 0.125*175 = 110.87890625
    r.update(200, 50, true, 25, 3);
    expect(r.rttVar).to.equal(41.5234375);
    expect(r.smoothedRtt).to.equal(110.87890625);
    expect(r.minRtt).to.equal(100);
  });

  it('does not cap ack delay before handshake confirmation (§5.3)', () => {
    const r = new RttEstimator();
    r.update(100, 0, false, 25, 0);
    // 200 >= 100 + 50 -> adjusted 150 (not capped at 25)
    r.update(200, 50, false, 25, 1);
    expect(r.smoothedRtt).to.equal(0.875 * 100 + 0.125 * 150);
  });

  it('min_rtt ignores ack delay and tracks the minimum (§5.2)', () => {
    const r = new RttEstimator();
    r.update(100, 0, false, 25, 0);
    r.update(80, 30, false, 25, 1);
    expect(r.minRtt).to.equal(80);
    // 80 < 80 + 30: ack delay not subtracted
    expect(r.smoothedRtt).to.equal(0.875 * 100 + 0.125 * 80);
  });

  it('loss delay is 9/8 max(smoothed, latest), at least 1 ms (§6.1.2)', () => {
    const r = new RttEstimator();
    r.update(80, 0, false, 25, 0);
    expect(r.lossDelay()).to.equal(90);
    r.update(160, 0, false, 25, 1);
    // smoothed = 90, latest = 160 -> 180
    expect(r.lossDelay()).to.equal(180);
    const tiny = new RttEstimator();
    tiny.update(0.1, 0, false, 25, 0);
    expect(tiny.lossDelay()).to.equal(1);
  });
});
