/**
 * Per-ACK processing cost of loss detection with ~10,000 packets in flight.
 * Reference in the same run: a naive recorder (Map of sent packets, a full scan per ACK for
 * acknowledged and lost packets), i.e. the design the deque avoids. Prints one JSON line per
 * figure, then a table. Run: npm run bench:recovery
 */
import { PacketSpace } from '../lib/quic/ack-tracker.js';
import type { AckRange } from '../lib/quic/range-set.js';
import { LossDetection, NewReno, type SentPacket } from '../lib/quic/recovery/index.js';

const IN_FLIGHT = 10_000;
const App = PacketSpace.ApplicationData;

interface Figure {
  name: string;
  acks: number;
  nsPerAck: number;
}

function pkt(pn: number, t: number): SentPacket<null> {
  return { pn, timeSent: t, size: 1200, ackEliciting: true, inFlight: true, frames: null };
}

/**
 * Steady state: every ACK acknowledges the next 2 packets (and, with `lossEvery`, leaves a hole
 * every `lossEvery` packets that the packet threshold declares lost); 2 new packets are sent per
 * ACK so ~IN_FLIGHT stay outstanding. The ACK frame carries the last `rangesPerAck` ranges.
 */
function runOurs(acks: number, lossEvery: number, rangesPerAck: number): number {
  const cc = new NewReno({ initialWindow: 1e12 });
  const ld = new LossDetection<null>({ isServer: true, cc });
  ld.onHandshakeConfirmed(0);
  let next = 0;
  let now = 0;
  for (; next < IN_FLIGHT; next++) ld.onPacketSent(App, pkt(next, now), now);
  let acked = 0; // next pn to acknowledge
  const history: AckRange[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < acks; i++) {
    now += 0.01;
    const start = acked;
    const end = acked + 1;
    acked += 2;
    // Holes: drop pn `end` from the ACK when it falls on the loss period.
    const ranges: AckRange[] = [];
    if (lossEvery > 0 && end % lossEvery === 0) {
      history.unshift({ start, end: start });
    } else if (history.length > 0 && history[0].end === start - 1) {
      history[0] = { start: history[0].start, end };
    } else {
      history.unshift({ start, end });
    }
    if (history.length > rangesPerAck) history.length = rangesPerAck;
    for (const r of history) ranges.push(r);
    ld.onAckReceived(App, ranges, 0, now);
    ld.onPacketSent(App, pkt(next++, now), now);
    ld.onPacketSent(App, pkt(next++, now), now);
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return ns / acks;
}

/** The naive reference: Map of packets, every ACK scans all of them. */
function runNaive(acks: number, lossEvery: number, rangesPerAck: number): number {
  const sent = new Map<number, SentPacket<null>>();
  let next = 0;
  let now = 0;
  for (; next < IN_FLIGHT; next++) sent.set(next, pkt(next, now));
  let acked = 0;
  const history: AckRange[] = [];
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < acks; i++) {
    now += 0.01;
    const start = acked;
    const end = acked + 1;
    acked += 2;
    if (lossEvery > 0 && end % lossEvery === 0) history.unshift({ start, end: start });
    else if (history.length > 0 && history[0].end === start - 1) {
      history[0] = { start: history[0].start, end };
    } else history.unshift({ start, end });
    if (history.length > rangesPerAck) history.length = rangesPerAck;
    const largest = history[0].end;
    const newlyAcked: SentPacket<null>[] = [];
    const lost: SentPacket<null>[] = [];
    for (const [pn, p] of sent) {
      if (history.some((r) => pn >= r.start && pn <= r.end)) {
        newlyAcked.push(p);
        sent.delete(pn);
      }
    }
    for (const [pn, p] of sent) {
      if (pn <= largest - 3) {
        lost.push(p);
        sent.delete(pn);
      }
    }
    sink += newlyAcked.length + lost.length;
    sent.set(next, pkt(next++, now));
    sent.set(next, pkt(next++, now));
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (sink < 0) console.log(sink);
  return ns / acks;
}

function main(): void {
  const figures: Figure[] = [];
  const scenarios: Array<[string, number, number]> = [
    ['1% loss, 32 ranges/ACK', 100, 32],
    ['in-order ACKs', 0, 1],
  ];
  // Warm up every path first so the JIT state is the same for all measurements.
  for (const [, lossEvery, ranges] of scenarios) runOurs(20_000, lossEvery, ranges);
  for (const [label, lossEvery, ranges] of scenarios) {
    const ours = runOurs(50_000, lossEvery, ranges);
    const naive = runNaive(300, lossEvery, ranges);
    for (const f of [
      { name: `loss-detection ${label}`, acks: 50_000, nsPerAck: ours },
      { name: `naive Map scan ${label}`, acks: 300, nsPerAck: naive },
    ]) {
      figures.push(f);
      console.log(JSON.stringify({ bench: 'recovery', inFlight: IN_FLIGHT, ...f }));
    }
    console.log(
      JSON.stringify({ bench: 'recovery', scenario: label, speedupVsNaive: naive / ours }),
    );
  }
  console.log('');
  console.log(`per-ACK cost with ${IN_FLIGHT} packets in flight`);
  for (const f of figures) {
    console.log(`  ${f.name.padEnd(44)} ${f.nsPerAck.toFixed(0).padStart(10)} ns/ACK`);
  }
}

main();
