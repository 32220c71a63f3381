import { expect } from 'chai';
import { AckTracker, decodeAckDelay, Ecn, PacketSpace } from '../lib/quic/ack-tracker.js';

describe('quic/ack-tracker', () => {
  it('detects duplicates', () => {
    const t = new AckTracker(PacketSpace.ApplicationData);
    expect(t.onPacketReceived(0, true, 0)).to.equal(true);
    expect(t.onPacketReceived(0, true, 1)).to.equal(false);
    expect(t.isDuplicate(0)).to.equal(true);
    expect(t.isDuplicate(1)).to.equal(false);
  });

  it('a refused packet is a duplicate when replayed but never acknowledged', () => {
    const t = new AckTracker(PacketSpace.ApplicationData);
    t.onPacketReceived(0, true, 0);
    t.onPacketRefused(1);
    expect(t.isDuplicate(1)).to.equal(true);
    expect(t.onPacketReceived(1, true, 0)).to.equal(false);
    t.onPacketReceived(2, true, 0);
    expect(t.buildAck(10, 32)!.ranges).to.deep.equal([
      { start: 2, end: 2 },
      { start: 0, end: 0 },
    ]);
  });

  it('acks every second ack-eliciting packet, else within max_ack_delay (RFC 9000 §13.2.2)', () => {
    const t = new AckTracker(PacketSpace.ApplicationData, { maxAckDelay: 25 });
    t.onPacketReceived(0, true, 100);
    expect(t.ackImmediately).to.equal(false);
    expect(t.nextTimeout()).to.equal(125);
    expect(t.ackDue(124)).to.equal(false);
    expect(t.ackDue(125)).to.equal(true);
    t.onPacketReceived(1, true, 110);
    expect(t.ackImmediately).to.equal(true);
    expect(t.ackDue(110)).to.equal(true);
    const ack = t.buildAck(110)!;
    expect(ack.ranges).to.deep.equal([{ start: 0, end: 1 }]);
    expect(ack.largest).to.equal(1);
    t.onAckSent();
    expect(t.nextTimeout()).to.equal(Infinity);
    expect(t.ackImmediately).to.equal(false);
  });

  it('does not ack only non-ack-eliciting packets, but reports them', () => {
    const t = new AckTracker(PacketSpace.ApplicationData);
    t.onPacketReceived(0, false, 0);
    t.onPacketReceived(1, false, 0);
    expect(t.ackDue(1000)).to.equal(false);
    expect(t.nextTimeout()).to.equal(Infinity);
    expect(t.hasNewAcks).to.equal(true);
    expect(t.buildAck(0)!.ranges).to.deep.equal([{ start: 0, end: 1 }]);
  });

  it('acks Initial and Handshake ack-eliciting packets immediately (RFC 9000 §13.2.1)', () => {
    for (const space of [PacketSpace.Initial, PacketSpace.Handshake]) {
      const t = new AckTracker(space);
      t.onPacketReceived(0, true, 5);
      expect(t.ackImmediately).to.equal(true);
      expect(t.ackDue(5)).to.equal(true);
    }
  });

  it('acks immediately on a gap and on reordering (RFC 9000 §13.2.1)', () => {
    const t = new AckTracker(PacketSpace.ApplicationData);
    t.onPacketReceived(0, true, 0);
    t.onAckSent();
    t.onPacketReceived(2, true, 1); // 1 missing
    expect(t.ackImmediately).to.equal(true);
    const ack = t.buildAck(1)!;
    expect(ack.ranges).to.deep.equal([
      { start: 2, end: 2 },
      { start: 0, end: 0 },
    ]);
    t.onAckSent();
    t.onPacketReceived(1, true, 2); // reordered
    expect(t.ackImmediately).to.equal(true);
    expect(t.buildAck(2)!.ranges).to.deep.equal([{ start: 0, end: 2 }]);
  });

  it('acks immediately on ECN-CE and counts ECN marks', () => {
    const t = new AckTracker(PacketSpace.ApplicationData);
    t.onPacketReceived(0, true, 0, Ecn.Ect0);
    expect(t.ackImmediately).to.equal(false);
    t.onAckSent();
    t.onPacketReceived(1, true, 0, Ecn.Ce);
    expect(t.ackImmediately).to.equal(true);
    t.onPacketReceived(2, false, 0, Ecn.Ect1);
    expect(t.buildAck(0)!.ecn).to.deep.equal({ ect0: 1, ect1: 1, ce: 1 });
  });

  it('encodes the ack delay with the exponent (RFC 9000 §19.3)', () => {
    const t = new AckTracker(PacketSpace.ApplicationData, { ackDelayExponent: 3 });
    t.onPacketReceived(7, true, 1000);
    // 10 ms = 10000 us; 10000 >> 3 = 1250
    expect(t.buildAck(1010)!.ackDelay).to.equal(1250);
    // 2.5 ms = 2500 us; floor(2500 / 8) = 312
    expect(t.buildAck(1002.5)!.ackDelay).to.equal(312);
    const t0 = new AckTracker(PacketSpace.ApplicationData, { ackDelayExponent: 0 });
    t0.onPacketReceived(0, true, 0);
    expect(t0.buildAck(3)!.ackDelay).to.equal(3000);
    const hs = new AckTracker(PacketSpace.Handshake);
    hs.onPacketReceived(0, true, 0);
    expect(hs.buildAck(5)!.ackDelay).to.equal(0);
  });

  it('decodes a peer ACK Delay field to ms', () => {
    expect(decodeAckDelay(1250)).to.equal(10); // 1250 << 3 = 10000 us
    expect(decodeAckDelay(1000, 0)).to.equal(1);
    expect(decodeAckDelay(1, 20)).to.equal(1048.576);
  });

  it('stops reporting packets once an ACK covering them is acknowledged (§13.2.4)', () => {
    const t = new AckTracker(PacketSpace.ApplicationData);
    for (let pn = 0; pn < 10; pn++) t.onPacketReceived(pn, true, pn);
    t.onAckAcknowledged(6);
    expect(t.ranges()).to.deep.equal([{ start: 7, end: 9 }]);
    // Still recognised as duplicates.
    expect(t.isDuplicate(3)).to.equal(true);
  });

  it('bounds memory: old ranges dropped, packets below them treated as duplicates', () => {
    const t = new AckTracker(PacketSpace.ApplicationData, { maxRanges: 4 });
    for (let pn = 0; pn < 400; pn += 2) t.onPacketReceived(pn, true, pn);
    expect(t.ranges().length).to.equal(4);
    expect(t.ranges()[0]).to.deep.equal({ start: 398, end: 398 });
    // pn 1 was never received but is now below the memory floor: dropped as duplicate.
    expect(t.isDuplicate(1)).to.equal(true);
    expect(t.isDuplicate(397)).to.equal(false);
  });

  it('keeps late packets acceptable when nothing was dropped', () => {
    const t = new AckTracker(PacketSpace.ApplicationData);
    t.onPacketReceived(5, true, 0);
    expect(t.onPacketReceived(2, true, 1)).to.equal(true);
    expect(t.ranges()).to.deep.equal([
      { start: 5, end: 5 },
      { start: 2, end: 2 },
    ]);
  });

  describe('ACK decimation', () => {
    /** A tracker past its handshake that received `n` packets, all acknowledged. */
    function decimating(n = 100, rtt = { smoothedRtt: 40 }) {
      const t = new AckTracker(PacketSpace.ApplicationData, { maxAckDelay: 25 });
      t.startDecimation(rtt);
      for (let pn = 0; pn < n; pn++) {
        t.onPacketReceived(pn, true, 0);
        if (t.ackDue(0)) t.onAckSent();
      }
      t.onAckSent();
      return t;
    }

    /** How many more in-order ack-eliciting packets until an ACK is due at once. */
    function packetsPerAck(t: AckTracker, first: number): number {
      for (let pn = first; ; pn++) {
        t.onPacketReceived(pn, true, 1000);
        if (t.ackImmediately) {
          t.onAckSent();
          return pn - first + 1;
        }
      }
    }

    it('every 2nd packet until the handshake is confirmed and 100 packets arrived', () => {
      const early = new AckTracker(PacketSpace.ApplicationData);
      for (let pn = 0; pn < 200; pn += 2) expect(packetsPerAck(early, pn)).to.equal(2);
      expect(early.decimating).to.equal(false);
      const t = decimating(98);
      expect(t.decimating).to.equal(false);
      expect(packetsPerAck(t, 98)).to.equal(10); // the 100th packet starts decimation
      expect(t.decimating).to.equal(true);
      expect(packetsPerAck(t, 108)).to.equal(10);
    });

    it('a delayed ACK waits min(max_ack_delay, smoothed RTT / 4)', () => {
      const rtt = { smoothedRtt: 40 };
      const t = decimating(100, rtt);
      t.onPacketReceived(100, true, 1000);
      expect(t.nextTimeout()).to.equal(1010);
      t.onAckSent();
      rtt.smoothedRtt = 400;
      t.onPacketReceived(101, true, 2000);
      expect(t.nextTimeout()).to.equal(2025);
    });

    it('still ACKs at once on a gap, on reordering and on ECN-CE (RFC 9000 §13.2.1)', () => {
      const t = decimating();
      t.onPacketReceived(100, true, 1000);
      expect(t.ackImmediately).to.equal(false);
      t.onPacketReceived(102, true, 1000); // 101 missing
      expect(t.ackImmediately).to.equal(true);
      t.onAckSent();
      t.onPacketReceived(101, true, 1000); // arrives late
      expect(t.ackImmediately).to.equal(true);
      t.onAckSent();
      t.onPacketReceived(103, true, 1000, Ecn.Ce);
      expect(t.ackImmediately).to.equal(true);
    });

    it('Initial and Handshake spaces never decimate', () => {
      const t = new AckTracker(PacketSpace.Handshake);
      t.startDecimation({ smoothedRtt: 40 });
      for (let pn = 0; pn < 150; pn++) {
        t.onPacketReceived(pn, true, 0);
        expect(t.ackImmediately).to.equal(true);
        t.onAckSent();
      }
    });

    it('checks its options', () => {
      const App = PacketSpace.ApplicationData;
      expect(() => new AckTracker(App, { decimationThreshold: 1 })).to.throw(
        RangeError,
        /decimationThreshold/,
      );
      expect(() => new AckTracker(App, { decimationAfter: -1 })).to.throw(
        RangeError,
        /decimationAfter/,
      );
    });
  });
});
