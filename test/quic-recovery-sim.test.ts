/**
 * The transport machinery wired into a minimal sender and receiver over a simulated lossy,
 * reordering link (simulated time, deterministic seed): one stream must arrive intact.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { AckTracker, decodeAckDelay, PacketSpace } from '../lib/quic/ack-tracker.js';
import { RecvWindow, SendCredit } from '../lib/quic/flow-control.js';
import type { AckRange } from '../lib/quic/range-set.js';
import { RecvBuffer } from '../lib/quic/recv-buffer.js';
import {
  createCongestionController,
  LossDetection,
  Pacer,
  type CongestionAlgorithm,
} from '../lib/quic/recovery/index.js';
import { SendBuffer, type StreamChunk } from '../lib/quic/send-buffer.js';

const App = PacketSpace.ApplicationData;

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Frame = { stream: StreamChunk | null; maxData: number };
type DataPacket = { pn: number; frame: Frame };
type AckPacket = { ranges: AckRange[]; ackDelay: number };

function simulate(
  cc: CongestionAlgorithm,
  loss: number,
  jitter: number,
  seed: number,
  size: number,
  /** The receiver decimates its ACKs from the first packet (every 10th, or srtt/4). */
  decimate = false,
  /** A bottleneck: data packets reach the receiver at least this many ms apart. */
  spacing = 0,
) {
  const rand = lcg(seed);
  const src = Buffer.alloc(size);
  for (let i = 0; i < size; i++) src[i] = (i * 31 + (i >> 8)) & 0xff;

  const controller = createCongestionController(cc);
  const ld = new LossDetection<Frame>({ isServer: true, cc: controller });
  ld.onHandshakeConfirmed(0);
  ld.setMaxAckDelay(25, 0);
  const pacer = new Pacer();
  const send = new SendBuffer();
  for (let off = 0; off < size; off += 7000) send.write(src.subarray(off, off + 7000));
  send.end();
  const credit = new SendCredit(64 * 1024);

  const acks = new AckTracker(App, { decimationAfter: 0 });
  if (decimate) acks.startDecimation(ld.rtt); // the receiver's RTT estimate: the same path's
  const recv = new RecvBuffer({ limit: 64 * 1024 });
  const window = new RecvWindow({ window: 64 * 1024, maxWindow: 1024 * 1024 });
  const out: Buffer[] = [];

  const toReceiver: Array<{ at: number; p: DataPacket }> = [];
  const toSender: Array<{ at: number; p: AckPacket }> = [];
  const oneWay = 10;
  let lastArrival = 0;
  /** `gap`: the packet arrives at least that long after the previous one so spaced. */
  const transmit = <T>(q: Array<{ at: number; p: T }>, p: T, now: number, gap = 0) => {
    if (rand() < loss) return;
    let at = now + oneWay + rand() * jitter; // jitter reorders packets
    if (gap > 0) at = lastArrival = Math.max(at, lastArrival + gap);
    q.push({ at, p });
  };

  let now = 0;
  let pn = 0;
  let lostCount = 0;
  let ptoCount = 0;
  let pendingMaxData = -1;
  let acksSent = 0;
  const sendPacket = (frame: Frame) => {
    const size = 40 + (frame.stream ? frame.stream.data.length : 1);
    ld.onPacketSent(
      App,
      { pn, timeSent: now, size, ackEliciting: true, inFlight: true, frames: frame },
      now,
    );
    pacer.onPacketSent(now, size, controller.cwnd, ld.rtt.smoothedRtt);
    transmit(toReceiver, { pn, frame }, now, spacing);
    pn++;
  };
  const onLost = (f: Frame) => {
    lostCount++;
    if (f.stream) send.onLost(f.stream.offset, f.stream.data.length, f.stream.fin);
  };

  for (let steps = 0; !send.allAcked; steps++) {
    expect(steps).to.be.lessThan(200000);
    // Deliver everything due.
    toReceiver.sort((a, b) => a.at - b.at);
    while (toReceiver.length && toReceiver[0].at <= now) {
      const { p } = toReceiver.shift()!;
      if (!acks.onPacketReceived(p.pn, true, now)) continue;
      if (p.frame.maxData >= 0) credit.update(p.frame.maxData);
      const c = p.frame.stream;
      if (c) {
        expect(window.onReceivedOffset(c.offset + c.data.length)).to.be.at.least(0);
        expect(recv.insert(c.offset, c.data, c.fin)).to.equal(0);
        for (let b = recv.read(); b; b = recv.read()) {
          out.push(Buffer.from(b));
          window.onConsumed(b.length);
        }
        const update = window.takeUpdate(now, 20);
        if (update >= 0) {
          recv.limit = update;
          pendingMaxData = update;
        }
      }
    }
    if (acks.ackDue(now) || (pendingMaxData >= 0 && acks.hasNewAcks)) {
      const a = acks.buildAck(now)!;
      acks.onAckSent();
      acksSent++;
      transmit(toSender, { ranges: a.ranges, ackDelay: a.ackDelay }, now);
      // MAX_STREAM_DATA is delivered reliably in this model (flow control is tested apart).
      if (pendingMaxData >= 0) {
        credit.update(pendingMaxData);
        pendingMaxData = -1;
      }
    }
    toSender.sort((a, b) => a.at - b.at);
    while (toSender.length && toSender[0].at <= now) {
      const { p } = toSender.shift()!;
      const r = ld.onAckReceived(App, p.ranges, decodeAckDelay(p.ackDelay), now);
      expect(r.error).to.equal(0);
      for (const a of r.acked) {
        const c = a.frames.stream;
        if (c) send.onAcked(c.offset, c.data.length, c.fin);
      }
      for (const l of r.lost) onLost(l.frames);
    }
    if (now >= ld.nextTimeout()) {
      const action = ld.onTimeout(now);
      if (action.kind === 'lost') for (const l of action.lost) onLost(l.frames);
      if (action.kind === 'pto') {
        ptoCount++;
        for (let i = 0; i < action.probes; i++) {
          const c = send.nextChunk(1100, credit.limit);
          sendPacket({ stream: c, maxData: -1 }); // PING-like probe when nothing to send
        }
      }
    }
    // Send while the window, the pacer and flow control allow.
    while (
      send.hasPending &&
      controller.canSend(1200) &&
      pacer.nextSendTime(now, 1200, controller.cwnd, ld.rtt.smoothedRtt) <= now
    ) {
      const c = send.nextChunk(1100, credit.limit);
      if (!c) break;
      if (!c.retransmit) credit.used = Math.max(credit.used, c.offset + c.data.length);
      sendPacket({ stream: c, maxData: -1 });
    }
    if (send.allAcked) break;
    // Advance to the next event.
    const next = Math.min(
      toReceiver.length ? Math.min(...toReceiver.map((x) => x.at)) : Infinity,
      toSender.length ? Math.min(...toSender.map((x) => x.at)) : Infinity,
      ld.nextTimeout(),
      acks.nextTimeout(),
      send.hasPending && controller.canSend(1200)
        ? pacer.nextSendTime(now, 1200, controller.cwnd, ld.rtt.smoothedRtt)
        : Infinity,
    );
    expect(next).to.be.lessThan(Infinity);
    now = Math.max(now + 0.001, next);
  }
  return {
    src,
    got: Buffer.concat(out),
    lostCount,
    ptoCount,
    srtt: ld.rtt.smoothedRtt,
    ld,
    cwnd: controller.cwnd,
    packets: pn,
    acksSent,
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('quic/recovery simulated transfer', () => {
  for (const cc of ['newreno', 'cubic'] as const) {
    it(`${cc}: 300 KB intact over a clean link, no spurious loss`, () => {
      const r = simulate(cc, 0, 0, 1, 300_000);
      expect(sha(r.got)).to.equal(sha(r.src));
      expect(r.lostCount).to.equal(0);
      // Simulated path RTT is 20 ms plus ack delay.
      expect(r.srtt).to.be.within(20, 50);
    });

    it(`${cc}: 300 KB intact with 5% loss each way and reordering`, () => {
      const r = simulate(cc, 0.05, 3, 7, 300_000);
      expect(sha(r.got)).to.equal(sha(r.src));
      expect(r.lostCount).to.be.greaterThan(0);
      expect(r.ld.bytesInFlight).to.equal(0);
    });
  }

  for (const cc of ['newreno', 'cubic'] as const) {
    it(`${cc}: a receiver ACKing every 10th packet still lets the window grow`, () => {
      // (Packets arrive 10 µs apart, one at a time, as through a 120 MB/s bottleneck.)
      const every2 = simulate(cc, 0, 0, 1, 1_000_000, false, 0.01);
      const r = simulate(cc, 0, 0, 1, 1_000_000, true, 0.01);
      expect(sha(r.got)).to.equal(sha(r.src));
      expect(r.lostCount).to.equal(0);
      // Far fewer ACKs than every second packet...
      expect(r.acksSent).to.be.below(r.packets / 5);
      expect(every2.acksSent).to.be.at.least(every2.packets / 3);
      // ...yet the window grew out of its initial 10 packets, as with every second packet.
      expect(r.cwnd).to.be.at.least(10 * 12_000);
      expect(r.cwnd).to.be.at.least(every2.cwnd / 2);
    });
  }

  it('survives 30% loss (PTO probes and backoff)', () => {
    const r = simulate('cubic', 0.3, 3, 3, 40_000);
    expect(sha(r.got)).to.equal(sha(r.src));
    expect(r.ptoCount).to.be.greaterThan(0);
  });
});
