import { expect } from 'chai';
import { PacketSpace } from '../lib/quic/ack-tracker.js';
import { LossDetection } from '../lib/quic/recovery/loss-detection.js';
import { NewReno } from '../lib/quic/recovery/newreno.js';
import type { SentPacket } from '../lib/quic/recovery/sent-packets.js';

const App = PacketSpace.ApplicationData;
const Initial = PacketSpace.Initial;
const Handshake = PacketSpace.Handshake;

function pkt(pn: number, timeSent: number, ackEliciting = true, size = 1200): SentPacket<string> {
  return { pn, timeSent, size, ackEliciting, inFlight: true, frames: `p${pn}` };
}

function setup(isServer = true) {
  const cc = new NewReno();
  const ld = new LossDetection<string>({ isServer, cc });
  return { cc, ld };
}

function sendAll(ld: LossDetection<string>, space: PacketSpace, pns: number[], times: number[]) {
  pns.forEach((pn, i) => ld.onPacketSent(space, pkt(pn, times[i]), times[i]));
}

describe('quic/recovery/loss-detection (RFC 9002 §6)', () => {
  it('acknowledges packets, takes an RTT sample, updates bytes in flight', () => {
    const { cc, ld } = setup();
    ld.onHandshakeConfirmed(0);
    sendAll(ld, App, [0, 1, 2], [0, 1, 2]);
    expect(cc.bytesInFlight).to.equal(3600);
    const r = ld.onAckReceived(App, [{ start: 0, end: 2 }], 0, 52);
    expect(r.error).to.equal(0);
    expect(r.acked.map((p) => p.frames)).to.deep.equal(['p0', 'p1', 'p2']);
    expect(r.lost).to.deep.equal([]);
    expect(r.rttUpdated).to.equal(true);
    expect(ld.rtt.latestRtt).to.equal(50);
    expect(cc.bytesInFlight).to.equal(0);
    expect(ld.bytesInFlight).to.equal(0);
    expect(ld.nextTimeout()).to.equal(Infinity);
  });

  it('samples RTT only when the largest acknowledged is newly acked and ack-eliciting (§5.1)', () => {
    const { ld } = setup();
    sendAll(ld, App, [0, 1], [0, 1]);
    expect(ld.onAckReceived(App, [{ start: 1, end: 1 }], 0, 31).rttUpdated).to.equal(true);
    expect(ld.rtt.latestRtt).to.equal(30);
    // pn 0 newly acked, but largest (1) is not: no sample.
    const r = ld.onAckReceived(App, [{ start: 0, end: 1 }], 0, 32);
    expect(r.acked.map((p) => p.pn)).to.deep.equal([0]);
    expect(r.rttUpdated).to.equal(false);
    expect(ld.rtt.latestRtt).to.equal(30);
    // A non-ack-eliciting largest alone gives no sample.
    ld.onPacketSent(App, pkt(2, 90, false), 90);
    expect(ld.onAckReceived(App, [{ start: 2, end: 2 }], 0, 200).rttUpdated).to.equal(false);
  });

  it('ignores the ack delay for Initial packets (§5.3)', () => {
    const { ld } = setup();
    sendAll(ld, Initial, [0, 1], [0, 100]);
    ld.onAckReceived(Initial, [{ start: 0, end: 0 }], 0, 100);
    ld.onAckReceived(Initial, [{ start: 1, end: 1 }], 50, 300);
    // Not subtracted: adjusted = 200 -> srtt = 0.875*100 + 0.125*200
    expect(ld.rtt.smoothedRtt).to.equal(112.5);
  });

  it('treats an ACK of an unsent packet as PROTOCOL_VIOLATION (RFC 9000 §13.1)', () => {
    const { ld } = setup();
    sendAll(ld, App, [0], [0]);
    const r = ld.onAckReceived(App, [{ start: 0, end: 5 }], 0, 10);
    expect(r.error).to.equal(0x0a);
    expect(r.acked).to.deep.equal([]);
  });

  it('detects an optimistic ACK of a skipped packet number (RFC 9000 §21.4)', () => {
    const { ld } = setup();
    sendAll(ld, App, [0], [0]);
    ld.skipPacketNumber(App, 1);
    expect(() => ld.onPacketSent(App, pkt(1, 1), 1)).to.throw(RangeError);
    sendAll(ld, App, [2], [2]);
    expect(ld.onAckReceived(App, [{ start: 0, end: 2 }], 0, 10).error).to.equal(0x0a);
    expect(ld.stats.optimisticAcks).to.equal(1);
    // Beyond anything sent: a violation too, but not counted as optimistic.
    expect(ld.onAckReceived(App, [{ start: 0, end: 9 }], 0, 10).error).to.equal(0x0a);
    expect(ld.stats.optimisticAcks).to.equal(1);
    const r = ld.onAckReceived(
      App,
      [
        { start: 2, end: 2 },
        { start: 0, end: 0 },
      ],
      0,
      10,
    );
    expect(r.error).to.equal(0);
    expect(r.acked.map((p) => p.pn)).to.deep.equal([0, 2]);
  });

  it('bounds the record of ACK-only packets a silent peer never acknowledges', () => {
    const { ld } = setup();
    for (let pn = 0; pn < 5000; pn++) {
      ld.onPacketSent(App, { ...pkt(pn, pn), ackEliciting: false, inFlight: false }, pn);
    }
    expect(ld.spaces[App].size).to.equal(1024);
    expect(ld.spaces[App].largestSent).to.equal(4999);
    // In-flight packets are always recorded.
    ld.onPacketSent(App, pkt(5000, 5000), 5000);
    expect(ld.spaces[App].size).to.equal(1025);
    expect(ld.onAckReceived(App, [{ start: 5000, end: 5000 }], 0, 5010).acked.length).to.equal(1);
  });

  it('does not declare reordering below the packet threshold lost (§6.1.1)', () => {
    const { ld } = setup();
    ld.onHandshakeConfirmed(0);
    sendAll(ld, App, [0, 1, 2], [0, 1, 2]);
    const r = ld.onAckReceived(App, [{ start: 2, end: 2 }], 0, 20);
    expect(r.lost).to.deep.equal([]);
    // A loss timer is armed instead: time_sent(0) + 9/8 * 18.
    expect(ld.nextTimeout()).to.equal(0 + (9 / 8) * 18);
    // The late packets arrive: nothing lost.
    const r2 = ld.onAckReceived(App, [{ start: 0, end: 2 }], 0, 21);
    expect(r2.acked.map((p) => p.pn)).to.deep.equal([0, 1]);
    expect(r2.lost).to.deep.equal([]);
  });

  it('declares packets lost by the 3-packet threshold and then by time (§6.1)', () => {
    const { cc, ld } = setup();
    ld.onHandshakeConfirmed(0);
    sendAll(ld, App, [0, 1, 2, 3, 4], [0, 1, 2, 3, 4]);
    const r = ld.onAckReceived(App, [{ start: 4, end: 4 }], 0, 50);
    // latest = srtt = 46; loss delay = 51.75; pn <= 4 - 3 are lost by threshold.
    expect(r.lost.map((p) => p.pn)).to.deep.equal([0, 1]);
    expect(cc.bytesInFlight).to.equal(2 * 1200);
    expect(ld.nextTimeout()).to.equal(2 + 51.75);
    expect(ld.onTimeout(53).kind).to.equal('none');
    const a = ld.onTimeout(53.75);
    expect(a.kind).to.equal('lost');
    if (a.kind !== 'lost') return;
    expect(a.space).to.equal(App);
    expect(a.lost.map((p) => p.pn)).to.deep.equal([2]);
    expect(ld.nextTimeout()).to.equal(3 + 51.75);
    const b = ld.onTimeout(54.75);
    expect(b.kind === 'lost' && b.lost.map((p) => p.pn)).to.deep.equal([3]);
    expect(cc.bytesInFlight).to.equal(0);
    expect(ld.stats).to.deep.equal({
      packetsAcked: 1,
      packetsLost: 4,
      bytesLost: 4800,
      ptoExpirations: 0,
      persistentCongestions: 0,
      optimisticAcks: 0,
    });
  });

  it('enters one recovery period for several losses (§7.3.2)', () => {
    const { cc, ld } = setup();
    sendAll(ld, App, [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]);
    ld.onAckReceived(App, [{ start: 4, end: 5 }], 0, 50);
    expect(cc.cwnd).to.equal(6000); // 12000 halved once (ssthresh 6000)
    expect(cc.ssthresh).to.equal(6000);
  });

  it('PTO: timer per RFC 9002 §6.2.1, backoff doubles, reset on ACK', () => {
    const { ld } = setup();
    ld.onHandshakeConfirmed(0);
    ld.setMaxAckDelay(25, 0);
    sendAll(ld, App, [0], [0]);
    // smoothed 333 + 4 * 166.5 + max_ack_delay 25
    expect(ld.nextTimeout()).to.equal(1024);
    const a = ld.onTimeout(1024);
    expect(a).to.deep.equal({ kind: 'pto', space: App, probes: 2 });
    expect(ld.ptoCount).to.equal(1);
    expect(ld.nextTimeout()).to.equal(2048);
    ld.onTimeout(2048);
    expect(ld.ptoCount).to.equal(2);
    expect(ld.stats.ptoExpirations).to.equal(2);
    expect(ld.nextTimeout()).to.equal(4096);
    // Probe sent at 4096; its ACK resets pto_count, and pn 0 (sent long before) is lost
    // by the time threshold.
    sendAll(ld, App, [1], [4096]);
    const r = ld.onAckReceived(App, [{ start: 1, end: 1 }], 0, 4196);
    expect(ld.ptoCount).to.equal(0);
    expect(r.lost.map((p) => p.pn)).to.deep.equal([0]);
    expect(ld.nextTimeout()).to.equal(Infinity);
  });

  it('no Application Data PTO before handshake confirmation (§6.2.1)', () => {
    const { ld } = setup();
    sendAll(ld, App, [0], [0]);
    expect(ld.nextTimeout()).to.equal(Infinity);
    ld.onPacketSent(Handshake, pkt(0, 10), 10);
    expect(ld.nextTimeout()).to.equal(10 + 999);
    expect(ld.onTimeout(1009)).to.deep.equal({ kind: 'pto', space: Handshake, probes: 2 });
    ld.onHandshakeConfirmed(1010);
    // Handshake: 10 + 999*2; App: 0 + (999 + 0) * 2 -> App is earlier.
    expect(ld.nextTimeout()).to.equal(1998);
    expect(ld.onTimeout(1998)).to.deep.equal({ kind: 'pto', space: App, probes: 2 });
  });

  it('client anti-deadlock PTO until the server validated its address (§6.2.2.1)', () => {
    const { ld } = setup(false);
    ld.onPacketSent(Initial, pkt(0, 0), 0);
    ld.onAckReceived(Initial, [{ start: 0, end: 0 }], 0, 100);
    // Nothing in flight, address not validated: timer from now with srtt 100, rttvar 50.
    expect(ld.nextTimeout()).to.equal(100 + 300);
    expect(ld.onTimeout(400)).to.deep.equal({ kind: 'anti-deadlock', space: Initial });
    // Not reset by ACKs until validated; backoff applies.
    expect(ld.ptoCount).to.equal(1);
    ld.onHandshakeKeysAvailable(400);
    expect(ld.nextTimeout()).to.equal(400 + 600);
    expect(ld.onTimeout(1000)).to.deep.equal({ kind: 'anti-deadlock', space: Handshake });
    // A Handshake ACK validates the address: no timer with nothing in flight.
    ld.onPacketSent(Handshake, pkt(0, 1000), 1000);
    ld.onAckReceived(Handshake, [{ start: 0, end: 0 }], 0, 1100);
    expect(ld.ptoCount).to.equal(0);
    expect(ld.nextTimeout()).to.equal(Infinity);
  });

  it('client anti-deadlock PTO also while only 0-RTT packets are in flight (§6.2.2.1)', () => {
    // The client's Initial is acknowledged, its 0-RTT packet is not (and no PTO probes 0-RTT
    // before the handshake is confirmed, §6.2.1); the server's second Initial was lost and
    // the server, at its amplification limit, waits for the client: the client must send.
    const { ld } = setup(false);
    ld.onPacketSent(Initial, pkt(0, 0), 0);
    ld.onPacketSent(App, pkt(0, 0), 0);
    ld.onAckReceived(Initial, [{ start: 0, end: 0 }], 0, 100);
    expect(ld.nextTimeout()).to.equal(100 + 300);
    expect(ld.onTimeout(400)).to.deep.equal({ kind: 'anti-deadlock', space: Initial });
    expect(ld.nextTimeout()).to.equal(400 + 600);
  });

  it('server arms no timer when nothing is in flight or it is amplification-limited', () => {
    const { ld } = setup(true);
    expect(ld.nextTimeout()).to.equal(Infinity);
    ld.onPacketSent(Initial, pkt(0, 0), 0);
    expect(ld.nextTimeout()).to.equal(999);
    ld.setAmplificationLimited(true, 1);
    expect(ld.nextTimeout()).to.equal(Infinity);
    ld.setAmplificationLimited(false, 2);
    expect(ld.nextTimeout()).to.equal(999);
  });

  it('discarding a space removes its bytes from flight without congestion (§6.4)', () => {
    const { cc, ld } = setup(false);
    sendAll(ld, Initial, [0, 1], [0, 1]);
    ld.onPacketSent(Handshake, pkt(0, 2), 2);
    ld.onTimeout(ld.nextTimeout());
    expect(ld.ptoCount).to.equal(1);
    const cwnd = cc.cwnd;
    const removed = ld.discardSpace(Initial, 5);
    expect(removed.map((p) => p.pn)).to.deep.equal([0, 1]);
    expect(cc.bytesInFlight).to.equal(1200);
    expect(cc.cwnd).to.equal(cwnd);
    expect(ld.ptoCount).to.equal(0);
    expect(ld.nextTimeout()).to.equal(2 + 999);
    expect(() => ld.onPacketSent(Initial, pkt(2, 6), 6)).to.throw(RangeError);
    expect(ld.onAckReceived(Initial, [{ start: 0, end: 0 }], 0, 7).acked).to.deep.equal([]);
  });

  it('Retry / rejected 0-RTT: resetSpace removes packets but keeps the space and pn order', () => {
    const { cc, ld } = setup(false);
    sendAll(ld, Initial, [0, 1], [0, 1]);
    ld.onTimeout(ld.nextTimeout());
    expect(ld.ptoCount).to.equal(1);
    const removed = ld.resetSpace(Initial, 10);
    expect(removed.map((p) => p.frames)).to.deep.equal(['p0', 'p1']);
    expect(cc.bytesInFlight).to.equal(0);
    expect(ld.ptoCount).to.equal(0);
    expect(ld.isDiscarded(Initial)).to.equal(false);
    // Packet numbers continue (RFC 9000 §17.2.5.3); reusing one is refused.
    expect(() => ld.onPacketSent(Initial, pkt(1, 11), 11)).to.throw(RangeError);
    ld.onPacketSent(Initial, pkt(2, 11), 11);
    expect(ld.nextTimeout()).to.equal(11 + 999);
  });

  describe('persistent congestion (§7.6)', () => {
    function scenario(times: number[], ackMiddle: boolean) {
      const { cc, ld } = setup();
      ld.onHandshakeConfirmed(0);
      sendAll(ld, App, [0], [0]);
      ld.onAckReceived(App, [{ start: 0, end: 0 }], 0, 100); // srtt 100, rttvar 50
      sendAll(ld, App, [1, 2, 3], times);
      sendAll(ld, App, [4, 5, 6], [1300, 1301, 1302]);
      const ranges = ackMiddle
        ? [
            { start: 4, end: 6 },
            { start: 2, end: 2 },
          ]
        : [{ start: 4, end: 6 }];
      const r = ld.onAckReceived(App, ranges, 0, 1400);
      return { cc, r };
    }

    // cwnd 13200 after the first ACK (slow start); the loss halves it to ssthresh 6600.
    it('is declared when lost ack-eliciting packets span more than the duration', () => {
      // After the sample at 1400: srtt 99.75, rttvar 38, duration (99.75 + 152) * 3 = 755.25.
      const { cc, r } = scenario([200, 700, 1200], false);
      expect(r.lost.map((p) => p.pn)).to.deep.equal([1, 2, 3]);
      expect(r.persistentCongestion).to.equal(true);
      // §B.8: minimum window, recovery ended; the 3 acked packets then grow it in slow start.
      expect(cc.ssthresh).to.equal(6600);
      expect(cc.cwnd).to.equal(2400 + 3 * 1200);
    });

    it('is not declared when the span is shorter', () => {
      const { cc, r } = scenario([200, 500, 800], false);
      expect(r.lost.length).to.equal(3);
      expect(r.persistentCongestion).to.equal(false);
      // Acked packets were sent before the recovery period: no growth.
      expect(cc.cwnd).to.equal(6600);
    });

    it('is not declared when a packet in between was acknowledged', () => {
      const { r } = scenario([200, 700, 1200], true);
      expect(r.lost.map((p) => p.pn)).to.deep.equal([1, 3]);
      expect(r.persistentCongestion).to.equal(false);
    });

    it('a skipped packet number between lost packets does not break the run', () => {
      const { cc, ld } = setup();
      ld.onHandshakeConfirmed(0);
      sendAll(ld, App, [0], [0]);
      ld.onAckReceived(App, [{ start: 0, end: 0 }], 0, 100);
      sendAll(ld, App, [1, 2], [200, 700]);
      ld.skipPacketNumber(App, 3);
      sendAll(ld, App, [4, 5, 6, 7], [1200, 1300, 1301, 1302]);
      const r = ld.onAckReceived(App, [{ start: 5, end: 7 }], 0, 1400);
      expect(r.lost.map((p) => p.pn)).to.deep.equal([1, 2, 4]);
      expect(r.persistentCongestion).to.equal(true);
      expect(cc.cwnd).to.equal(2400 + 3 * 1200);
    });

    it('needs an RTT sample before the packets were sent', () => {
      const { cc, ld } = setup();
      ld.onHandshakeConfirmed(0);
      sendAll(ld, App, [0, 1, 2, 3, 4, 5], [0, 500, 1000, 1300, 1301, 1302]);
      const r = ld.onAckReceived(App, [{ start: 4, end: 5 }], 0, 1400);
      expect(r.lost.length).to.be.greaterThan(1);
      expect(r.persistentCongestion).to.equal(false);
      expect(cc.cwnd).to.equal(6000);
    });
  });

  it('handles thousands of packets in flight with partial ACKs', () => {
    const { cc, ld } = setup();
    ld.onHandshakeConfirmed(0);
    const n = 5000;
    for (let pn = 0; pn < n; pn++) ld.onPacketSent(App, pkt(pn, pn / 10), pn / 10);
    // Ack every even packet: odd ones below largest - 3 are lost.
    const ranges = [];
    for (let pn = n - 2; pn >= 0; pn -= 2) ranges.push({ start: pn, end: pn });
    const r = ld.onAckReceived(App, ranges, 0, n / 10 + 1);
    expect(r.acked.length).to.equal(n / 2);
    expect(r.lost.length).to.equal(n / 2 - 2); // 4997 and 4999 are within the threshold
    expect(ld.spaces[App].size).to.equal(2);
    expect(cc.bytesInFlight).to.equal(2 * 1200);
  });
});
