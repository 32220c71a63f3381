import { expect } from 'chai';
import { CUBIC_ALPHA, Cubic, cubicK, wCubic } from '../lib/quic/recovery/cubic.js';
import { NewReno } from '../lib/quic/recovery/newreno.js';
import { Pacer } from '../lib/quic/recovery/pacer.js';
import { initialWindow } from '../lib/quic/recovery/congestion.js';
import { createCongestionController } from '../lib/quic/recovery/index.js';

const MDS = 1200;
const p = (timeSent: number, size = MDS) => ({ timeSent, size, inFlight: true });

describe('quic/recovery/congestion', () => {
  it('creates the controller named by the cc option', () => {
    expect(createCongestionController('newreno').name).to.equal('newreno');
    expect(createCongestionController('cubic', { maxDatagramSize: 1500 }).cwnd).to.equal(14720);
    expect(createCongestionController().name).to.equal('cubic');
    expect(() => createCongestionController('bbr' as 'cubic')).to.throw(RangeError, /cc/);
  });

  it('initial window is min(10 * mds, max(2 * mds, 14720)) (RFC 9002 §7.2)', () => {
    expect(initialWindow(1200)).to.equal(12000);
    expect(initialWindow(1472)).to.equal(14720);
    expect(initialWindow(9000)).to.equal(18000);
  });

  describe('NewReno (RFC 9002 §7.3)', () => {
    it('slow start grows by the bytes acknowledged', () => {
      const cc = new NewReno();
      expect(cc.cwnd).to.equal(12000);
      for (let i = 0; i < 10; i++) cc.onPacketSent(MDS, 0);
      expect(cc.canSend(MDS)).to.equal(false);
      expect(cc.available).to.equal(0);
      cc.onPacketAcked(p(0), 10, 10);
      cc.onPacketAcked(p(0), 10, 10);
      expect(cc.cwnd).to.equal(14400);
      expect(cc.bytesInFlight).to.equal(8 * MDS);
      expect(cc.canSend(MDS)).to.equal(true);
    });

    it('halves on loss, one reduction per recovery period, then congestion avoidance', () => {
      const cc = new NewReno();
      for (let i = 0; i < 10; i++) cc.onPacketSent(MDS, i);
      cc.onPacketsLost([p(0)], 100);
      expect(cc.ssthresh).to.equal(6000);
      expect(cc.cwnd).to.equal(6000);
      // Another loss of a packet sent before recovery started: no further reduction.
      cc.onPacketsLost([p(5)], 101);
      expect(cc.cwnd).to.equal(6000);
      // Acks of packets sent before recovery began: no growth.
      cc.onPacketAcked(p(9), 102, 50);
      expect(cc.cwnd).to.equal(6000);
      // Packets sent after recovery began: congestion avoidance, +1 mds per cwnd acked.
      for (let i = 0; i < 4; i++) cc.onPacketAcked(p(150), 200, 50);
      expect(cc.cwnd).to.equal(6000);
      cc.onPacketAcked(p(150), 200, 50); // 5 * 1200 = 6000 bytes acked
      expect(cc.cwnd).to.equal(7200);
      // A loss of a packet sent after the recovery start begins a new period.
      cc.onPacketsLost([p(150)], 300);
      expect(cc.cwnd).to.equal(3600);
    });

    it('never goes below the minimum window; persistent congestion collapses to it', () => {
      const cc = new NewReno();
      for (let t = 1; t <= 5; t++) cc.onCongestionEvent(t * 10, t * 10 + 1);
      expect(cc.cwnd).to.equal(2400);
      const cc2 = new NewReno();
      cc2.onPersistentCongestion(5);
      expect(cc2.cwnd).to.equal(2400);
      // Recovery ended: next ack grows the window (slow start, ssthresh still Infinity).
      cc2.onPacketSent(MDS, 1);
      cc2.onPacketAcked(p(1), 6, 5);
      expect(cc2.cwnd).to.equal(3600);
    });

    it('does not grow while app-limited (§7.8)', () => {
      const cc = new NewReno();
      cc.appLimited = true;
      cc.onPacketSent(MDS, 0);
      cc.onPacketAcked(p(0), 10, 10);
      expect(cc.cwnd).to.equal(12000);
      expect(cc.bytesInFlight).to.equal(0);
    });

    it('ignores packets not in flight and discards without congestion signal', () => {
      const cc = new NewReno();
      cc.onPacketSent(MDS, 0);
      cc.onPacketAcked({ timeSent: 0, size: MDS, inFlight: false }, 1, 1);
      expect(cc.cwnd).to.equal(12000);
      cc.onPacketsDiscarded(MDS);
      expect(cc.bytesInFlight).to.equal(0);
      expect(cc.cwnd).to.equal(12000);
    });
  });

  describe('CUBIC (RFC 9438)', () => {
    it('K and W_cubic(t) follow §4.2 (W_max 100, cwnd_epoch 70)', () => {
      const k = cubicK(100, 70);
      // K = cbrt(30 / 0.4) = cbrt(75)
      expect(k).to.be.closeTo(4.217163326508746, 1e-12);
      expect(wCubic(0, k, 100)).to.be.closeTo(70, 1e-9);
      expect(wCubic(1, k, 100)).to.be.closeTo(86.68076383512988, 1e-9);
      expect(wCubic(2, k, 100)).to.be.closeTo(95.64033568663878, 1e-9);
      expect(wCubic(k, k, 100)).to.equal(100);
      expect(wCubic(5, k, 100)).to.be.closeTo(100.1918993394395, 1e-9);
      expect(wCubic(10, k, 100)).to.be.closeTo(177.35399908835427, 1e-9);
      expect(CUBIC_ALPHA).to.be.closeTo(0.9 / 1.7, 1e-15);
    });

    function afterLoss() {
      const cc = new Cubic();
      for (let i = 0; i < 10; i++) cc.onPacketSent(MDS, 0);
      cc.onPacketsLost([p(0)], 100);
      return cc;
    }

    it('multiplicative decrease with beta 0.7 (§4.6)', () => {
      const cc = afterLoss();
      expect(cc.wMax).to.equal(10);
      expect(cc.ssthresh).to.equal(8400);
      expect(cc.cwnd).to.equal(8400);
    });

    it('Reno-friendly region, then the concave region (§4.3, §4.4)', () => {
      const cc = afterLoss();
      cc.onPacketSent(MDS, 101);
      cc.onPacketSent(MDS, 102);
      // First ack in congestion avoidance at 200: epoch starts, t = 0.
      cc.onPacketAcked(p(101), 200, 100);
      expect(cc.epochStart).to.equal(200);
      expect(cc.k).to.be.closeTo(1.9574338205844317, 1e-12); // cbrt((10 - 7) / 0.4)
      // W_est = 7 + alpha * 1 / 7 = 7.07563...; W_cubic(0) = 7 < W_est: cwnd = W_est.
      expect(cc.wEst).to.be.closeTo(7.07563025210084, 1e-12);
      expect(cc.cwnd).to.be.closeTo(7.07563025210084 * MDS, 1e-9);
      // One second later: W_est = 7.15045... < W_cubic(1) = 9.6489...: cubic region,
      // target W_cubic(1.1) = 9.74784..., cwnd += (target - cwnd) / cwnd per segment.
      cc.onPacketAcked(p(102), 1200, 100);
      expect(cc.wEst).to.be.closeTo(7.150452104832431, 1e-12);
      expect(cc.cwnd).to.be.closeTo(7.453295279667056 * MDS, 1e-7);
    });

    it('alpha_cubic becomes 1 once W_est reaches cwnd_prior (§4.3)', () => {
      const cc = afterLoss();
      expect(cc.cwndPrior).to.equal(10);
      cc.onPacketAcked(p(101), 200, 100); // epoch; W_est = 7 + alpha / 7
      // Acks at t = 0 stay in the Reno-friendly region; count the growth per ack.
      let prev = cc.wEst;
      let sawOne = false;
      for (let i = 0; i < 200; i++) {
        const cwnd = cc.cwnd / MDS;
        cc.onPacketAcked(p(101), 200, 100);
        const step = (cc.wEst - prev) * cwnd;
        // Each step is alpha * 1 segment: 0.5294... below cwnd_prior, 1 from then on.
        expect(step).to.be.closeTo(prev >= 10 ? 1 : CUBIC_ALPHA, 1e-9);
        if (prev >= 10) sawOne = true;
        prev = cc.wEst;
      }
      expect(sawOne).to.equal(true);
    });

    it('caps the target at 1.5 cwnd in the convex region (§4.5)', () => {
      const cc = afterLoss();
      cc.onPacketSent(MDS, 101);
      cc.onPacketSent(MDS, 102);
      cc.onPacketAcked(p(101), 200, 100);
      const before = cc.cwnd / MDS;
      // t = 100 s: W_cubic is huge; growth per segment is (1.5 cwnd - cwnd) / cwnd = 0.5.
      cc.onPacketAcked(p(102), 100200, 100);
      expect(cc.cwnd / MDS).to.be.closeTo(before + 0.5, 1e-9);
    });

    it('fast convergence lowers W_max when the window shrank (§4.7)', () => {
      const cc = afterLoss(); // cwnd 7 segments, W_max 10
      cc.onPacketsLost([p(150)], 300);
      expect(cc.wMax).to.be.closeTo(7 * 0.85, 1e-12);
      expect(cc.ssthresh).to.equal(5880);
      expect(cc.cwnd).to.equal(5880);
      const slow = new Cubic({ fastConvergence: false });
      slow.onPacketsLost([p(0)], 100);
      slow.onPacketsLost([p(150)], 300);
      expect(slow.wMax).to.equal(7);
    });

    it('does not grow while app-limited and leaves that time out of t (§5.8)', () => {
      const cc = afterLoss();
      cc.onPacketAcked(p(101), 200, 100); // epoch 200
      const w = cc.cwnd;
      cc.appLimited = true;
      cc.onPacketAcked(p(102), 5200, 100);
      expect(cc.cwnd).to.equal(w);
      expect(cc.epochStart).to.equal(5200);
    });

    it('after persistent congestion: minimum window, slow start, then W_max = cwnd, K = 0', () => {
      const cc = afterLoss();
      cc.onPersistentCongestion(150);
      expect(cc.cwnd).to.equal(2400);
      // Slow start up to ssthresh 8400.
      for (let i = 0; i < 5; i++) cc.onPacketAcked(p(160), 170, 10);
      expect(cc.cwnd).to.equal(8400);
      cc.onPacketAcked(p(160), 180, 10); // first CA ack: epoch
      expect(cc.k).to.equal(0);
      expect(cc.wMax).to.equal(7);
    });
  });

  describe('pacer (RFC 9002 §7.7)', () => {
    it('paces at 1.25 * cwnd / srtt after a burst of the bucket size', () => {
      expect(Pacer.rate(12000, 100)).to.equal(150); // bytes per ms
      const pacer = new Pacer();
      // 150 B/ms * 2 ms = 300 B: the bucket is the 12000-byte minimum (initial window).
      expect(pacer.capacity(12000, 100)).to.equal(12000);
      for (let i = 0; i < 10; i++) {
        expect(pacer.nextSendTime(0, MDS, 12000, 100)).to.equal(0);
        pacer.onPacketSent(0, MDS, 12000, 100);
      }
      // Bucket empty: the next quantum (the 12000-byte minimum) needs 12000 / 150 = 80 ms.
      expect(pacer.quantum(12000, 100)).to.equal(12000);
      expect(pacer.nextSendTime(0, MDS, 12000, 100)).to.equal(80);
      expect(pacer.nextSendTime(8, MDS, 12000, 100)).to.equal(80); // one packet's worth: wait
      expect(pacer.nextSendTime(80, MDS, 12000, 100)).to.equal(80);
      pacer.onPacketSent(80, MDS, 12000, 100);
      // Doubling cwnd doubles the rate: the rest of the quantum goes, then 40 ms per quantum.
      for (let i = 0; i < 9; i++) {
        expect(pacer.nextSendTime(80, MDS, 24000, 100)).to.equal(80);
        pacer.onPacketSent(80, MDS, 24000, 100);
      }
      expect(pacer.nextSendTime(80, MDS, 24000, 100)).to.equal(120);
    });

    it('lets a quantum out at once, then spaces quanta at the pacing rate', () => {
      const pacer = new Pacer();
      // cwnd 1 MB, srtt 10 ms: 125 000 B/ms; quantum = 0.25 ms of that (26 packets).
      const cwnd = 1_000_000;
      expect(pacer.quantum(cwnd, 10)).to.equal(31_250);
      expect(pacer.quantum(200_000, 10)).to.equal(12_000); // at least 10 packets
      expect(pacer.quantum(10_000_000, 10)).to.equal(64 * MDS); // at most 64
      let now = 0;
      let sent = 0;
      const bursts: number[] = [];
      while (now < 100) {
        let burst = 0;
        while (pacer.nextSendTime(now, MDS, cwnd, 10) <= now) {
          pacer.onPacketSent(now, MDS, cwnd, 10);
          burst++;
        }
        bursts.push(burst);
        sent += burst * MDS;
        now = pacer.nextSendTime(now, MDS, cwnd, 10);
      }
      // The first burst empties the full bucket (2 ms at the rate: 250 000 B, 208 packets);
      // then every burst is one whole quantum of 26 packets (27 once the bytes left over from
      // earlier bursts add up to a packet), never one at a time.
      expect(bursts[0]).to.equal(Math.floor(250_000 / MDS));
      for (const b of bursts.slice(1)) expect(b).to.be.within(26, 27);
      expect(bursts.length).to.be.greaterThan(100);
      // On average the rate: what the bucket held plus 125 000 B/ms.
      expect(sent).to.be.within(125_000 * now, 125_000 * now + 250_000 + 31_250);
    });

    it('refills no further than its capacity', () => {
      const pacer = new Pacer({ minBurst: 2400 });
      pacer.onPacketSent(0, 2400, 12000, 100);
      // After a long idle period only 2 packets go at once.
      expect(pacer.nextSendTime(10000, MDS, 12000, 100)).to.equal(10000);
      pacer.onPacketSent(10000, MDS, 12000, 100);
      pacer.onPacketSent(10000, MDS, 12000, 100);
      // Then a whole quantum (the 2-packet bucket) refills before the next goes: 16 ms.
      expect(pacer.nextSendTime(10000, MDS, 12000, 100)).to.equal(10016);
    });

    it('sizes the bucket to cover the burst interval at high rates, up to maxBurst', () => {
      const pacer = new Pacer();
      // cwnd 200 KB, srtt 10 ms: 25000 B/ms * 2 ms = 50000 B.
      expect(pacer.capacity(200_000, 10)).to.equal(50_000);
      // cwnd 10 MB, srtt 1 ms: capped at 256 * 1200.
      expect(pacer.capacity(10_000_000, 1)).to.equal(307_200);
      expect(() => new Pacer({ minBurst: 1000 })).to.throw(RangeError, /minBurst/);
      expect(() => new Pacer({ maxQuantum: 1200 })).to.throw(RangeError, /maxQuantum/);
    });
  });
});
