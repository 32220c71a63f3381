/**
 * Resources a hostile peer (or a faulty application) could make grow, each bounded by what
 * the peer was granted and visible in the connection's stats: send buffering (credit + head
 * start per stream, a cap per connection), memory pinned by received data (views only into
 * datagrams they mostly fill), out-of-order state per connection (frames beyond it dropped,
 * their packets unacknowledged), and skipped packet numbers exposing optimistic ACKs
 * (RFC 9000 §21.4).
 */
import { expect } from 'chai';
import { DEFAULT_BOUNDS } from '../lib/quic/config.js';
import { Connection, type ConnectionConfig, type QlogEvent } from '../lib/quic/connection.js';
import { TransportError } from '../lib/quic/errors.js';
import type { Frame } from '../lib/quic/frames.js';
import { MAX_GAP, MIN_GAP, PacketNumberSkipper } from '../lib/quic/recovery/pn-skip.js';
import { DROPPED, RecvBuffer, ReassemblyBudget } from '../lib/quic/recv-buffer.js';
import type { SentFrame } from '../lib/quic/spaces.js';
import {
  SEND_HEAD_START,
  StreamSet,
  type FrameWriter,
  type StreamEvent,
} from '../lib/quic/stream-set.js';
import { forgePacket, secretFromKeylog } from './support/forge.js';
import { Link, SERVER_ADDR, clientConfig, prng, serverConfig } from './support/link.js';

const { PROTOCOL_VIOLATION } = TransportError;

const established = (l: Link) =>
  l.client.state === 'established' && l.server?.state === 'established';

/** A StreamSet as the client whose peer granted `peer` (credit per stream, for the connection). */
function streamSet(peer: { stream: number; data: number }, connectionSendBuffer: number) {
  const events: StreamEvent[] = [];
  const limits = {
    initialMaxData: 1 << 20,
    initialMaxStreamDataBidiLocal: 1 << 18,
    initialMaxStreamDataBidiRemote: 1 << 18,
    initialMaxStreamDataUni: 1 << 18,
    initialMaxStreamsBidi: 100,
    initialMaxStreamsUni: 100,
  };
  const set = new StreamSet({
    server: false,
    local: limits,
    sendBuffer: DEFAULT_BOUNDS.streamSendBuffer,
    connectionSendBuffer,
    maxReassemblyRanges: DEFAULT_BOUNDS.maxReassemblyRanges,
    maxReassemblyBytes: DEFAULT_BOUNDS.maxReassemblyBytes,
    maxStreamWindow: DEFAULT_BOUNDS.maxStreamWindow,
    maxConnectionWindow: DEFAULT_BOUNDS.maxConnectionWindow,
    events,
    ctrl: [],
  });
  set.applyPeerLimits({
    ...limits,
    initialMaxData: peer.data,
    initialMaxStreamDataBidiRemote: peer.stream,
  });
  return { set, events };
}

/**
 * A connected pair whose client's 1-RTT secret is known: `forge` delivers packets "from the
 * client" straight to the server. Their packet numbers are far above the real client's: once
 * forged packets are acknowledged the real client would see ACKs of packets it never sent, so
 * the link only runs on afterwards to carry the server's close.
 */
function forgingPair(server: Partial<ConnectionConfig> = {}) {
  const lines: string[] = [];
  const tls = { ...clientConfig().tls, keylog: (line: string) => lines.push(line) };
  const l = new Link(clientConfig({ tls }), serverConfig(server));
  expect(l.run(() => established(l), 5000)).to.equal(true);
  l.run(() => false, 100);
  const secret = secretFromKeylog(lines, 'CLIENT_TRAFFIC_SECRET_0');
  const dcid = l.server!.localConnectionIds()[0]!;
  let pn = 1 << 20;
  const forge = (frames: Frame[], size?: number): Buffer => {
    const d = forgePacket({ type: '1rtt', secret, dcid, packetNumber: pn++, frames, size });
    l.server!.receive(d, l.clientAddr, l.now);
    return d;
  };
  return { l, forge };
}

/** Room for `size` bytes of STREAM frames (what writeData() needs of a packet). */
function frameArea(size: number): FrameWriter {
  const w = {
    slab: new Uint8Array(size),
    pos: 0,
    get room(): number {
      return size - w.pos;
    },
    writeFrame(): void {
      throw new Error('only STREAM frames here');
    },
    advance(n: number): void {
      w.pos += n;
    },
  };
  return w;
}

const sentBytes = (sent: SentFrame[]): number =>
  sent.reduce((n, f) => n + (f.t === 'stream' ? f.len : 0), 0);

const stream = (streamId: number, offset: number, data: Uint8Array): Frame => ({
  type: 'stream',
  streamId,
  offset,
  data,
  fin: false,
});

describe('quic: resource bounds against hostile peers', function () {
  this.timeout(60_000);

  describe('send buffering follows the peer credit', () => {
    it('a stream buffers its credit plus the head start; MAX_STREAM_DATA makes it writable', () => {
      const { set, events } = streamSet({ stream: 0, data: 1 << 20 }, 2 << 20);
      const id = set.open(true)!;
      // The peer granted nothing on the stream: only the head start is taken.
      expect(set.write(id, new Uint8Array(1 << 20), false)).to.equal(SEND_HEAD_START);
      expect(set.write(id, new Uint8Array(10), false)).to.equal(0);
      expect(set.stats.sendBufferedBytes).to.equal(SEND_HEAD_START);
      expect(events).to.deep.equal([]);
      set.received({ type: 'max_stream_data', streamId: id, maximum: 1000 });
      expect(events).to.deep.equal([{ type: 'writable', streamId: id }]);
      expect(set.write(id, new Uint8Array(5000), false)).to.equal(1000);
    });

    it('the streams of a connection share its buffer cap; acknowledgements wake every waiter', () => {
      const { set, events } = streamSet({ stream: 1 << 30, data: 1 << 30 }, 100_000);
      const ids = Array.from({ length: 10 }, () => set.open(true)!);
      let sum = 0;
      for (const id of ids) sum += set.write(id, new Uint8Array(30_000), false);
      expect(sum).to.equal(100_000);
      expect(set.stats.sendBufferedBytes).to.equal(100_000);
      // Sent and acknowledged: the room is back, and each stream cut short hears about it.
      const sent: SentFrame[] = [];
      set.writeData(frameArea(64 * 1024), sent);
      for (const f of sent) if (f.t === 'stream') set.onAcked(f);
      expect(set.stats.sendBufferedBytes).to.equal(100_000 - sentBytes(sent));
      const woken = events.filter((e) => e.type === 'writable').map((e) => e.streamId);
      expect(woken).to.deep.equal(ids.slice(3));
    });

    it('a reset frees the share of the connection cap its stream held', () => {
      const { set, events } = streamSet({ stream: 1 << 30, data: 1 << 30 }, 50_000);
      const a = set.open(true)!;
      const b = set.open(true)!;
      expect(set.write(a, new Uint8Array(50_000), false)).to.equal(50_000);
      expect(set.write(b, new Uint8Array(10), false)).to.equal(0);
      set.reset(a, 1);
      expect(set.stats.sendBufferedBytes).to.equal(0);
      expect(events).to.deep.equal([{ type: 'writable', streamId: b }]);
      expect(set.write(b, new Uint8Array(60_000), false)).to.equal(50_000);
    });

    it("a client opening many streams and never reading holds the server's buffers to the limits", () => {
      const l = new Link();
      expect(l.run(() => established(l), 5000)).to.equal(true);
      const server = () => l.server!;
      const chunk = new Uint8Array(64 * 1024).fill(7);
      const left = new Map<number, number>(); // bytes the server's "file handler" still writes
      const pump = (id: number) => {
        let n = left.get(id) ?? 0;
        while (n > 0) {
          const w = server().write(id, chunk.subarray(0, Math.min(chunk.length, n)), false);
          n -= w;
          if (w === 0) break;
        }
        left.set(id, n);
      };
      let peak = 0;
      l.onEvent = (side, ev) => {
        if (side !== 'server') return;
        if (ev.type === 'stream-opened') left.set(ev.streamId, 10 << 20); // GET /10m.bin
        if (ev.type === 'stream-opened' || ev.type === 'writable') pump(ev.streamId);
        peak = Math.max(peak, server().stats.sendBufferedBytes);
      };
      for (let i = 0; i < 100; i++) l.client.write(l.client.openStream(true)!, Buffer.from('GET'));
      l.run(() => false, 3000);
      // Without bounds: 100 streams x streamSendBuffer (100 MiB). With them: the connection's
      // cap, reached and never exceeded.
      expect(peak).to.equal(DEFAULT_BOUNDS.connectionSendBuffer);
      expect(server().stats.sendBufferedBytes).to.be.at.most(DEFAULT_BOUNDS.connectionSendBuffer);
      expect(server().state).to.equal('established');
    });

    it('backpressure never stalls: many streams through the connection limits, all data arrives', () => {
      const l = new Link(clientConfig(), serverConfig({ connectionSendBuffer: 200_000 }));
      expect(l.run(() => established(l), 5000)).to.equal(true);
      const size = 150_000;
      const body = new Uint8Array(size).map((_, i) => i & 0xff);
      const offsets = new Map<number, number>();
      const got = new Map<number, number>();
      const push = (id: number) => {
        const off = offsets.get(id) ?? 0;
        if (off < size) offsets.set(id, off + l.server!.write(id, body.subarray(off), true));
      };
      l.onEvent = (side, ev) => {
        if (side === 'server' && (ev.type === 'stream-opened' || ev.type === 'writable'))
          push(ev.streamId);
        if (side === 'client' && ev.type === 'readable')
          for (let d = l.client.read(ev.streamId); d; d = l.client.read(ev.streamId))
            got.set(ev.streamId, (got.get(ev.streamId) ?? 0) + d.length);
        if (side === 'server') expect(l.server!.stats.sendBufferedBytes).to.be.at.most(200_000);
      };
      const ids: number[] = [];
      for (let i = 0; i < 20; i++) {
        ids.push(l.client.openStream(true)!);
        l.client.write(ids[i]!, Buffer.from('GET'), true);
      }
      l.run(() => ids.every((id) => l.client.isFinished(id)), 30_000);
      for (const id of ids) expect(got.get(id)).to.equal(size);
    });
  });

  describe('received data pins no more than it holds', () => {
    it('a small frame in a big buffer is copied; a full-size packet stays a view', () => {
      const r = new RecvBuffer();
      const jumbo = Buffer.alloc(64_000, 1);
      r.insert(0, jumbo.subarray(100, 1124));
      expect(r.retainedBytes).to.equal(1024);
      const full = Buffer.alloc(1200, 2);
      r.insert(1024, full.subarray(60, 1160));
      expect(r.retainedBytes).to.equal(1024 + 1200);
      expect(r.read()!.buffer).to.not.equal(jumbo.buffer);
      expect(r.read()!.buffer).to.equal(full.buffer); // zero-copy
    });

    it('1,024-byte STREAM frames padded into 64,000-byte datagrams: memory follows the data', () => {
      const { l, forge } = forgingPair();
      const server = l.server!;
      const id = l.client.openStream(true)!;
      let sent = 0;
      for (let i = 0; i < 50; i++) {
        const d = forge(
          [stream(id, i * 1024, new Uint8Array(1024).fill(i)), { type: 'padding', length: 62_900 }],
          64_000,
        );
        expect(d.length).to.be.greaterThan(63_000);
        sent += 1024;
      }
      expect(server.stats.recvBufferedBytes).to.equal(sent);
      const held = new Set<ArrayBufferLike>();
      let got = 0;
      for (let d = server.read(id); d; d = server.read(id)) {
        held.add(d.buffer);
        got += d.length;
      }
      expect(got).to.equal(sent);
      // Copies, coalesced (geometric growth): at most twice the data, not 50 datagrams.
      let retained = 0;
      for (const b of held) retained += b.byteLength;
      expect(retained).to.be.at.most(2 * sent);
    });
  });

  describe('out-of-order state per connection', () => {
    it('a shared budget: a hole beyond it is dropped, in-order data always accepted', () => {
      const budget = new ReassemblyBudget(3, 100);
      const a = new RecvBuffer({ budget });
      const b = new RecvBuffer({ budget });
      expect(a.insert(10, Buffer.alloc(5))).to.equal(0);
      expect(a.insert(20, Buffer.alloc(5))).to.equal(0);
      expect(b.insert(10, Buffer.alloc(5))).to.equal(0);
      expect([budget.ranges, budget.bytes]).to.deep.equal([3, 15]);
      expect(b.insert(30, Buffer.alloc(5))).to.equal(DROPPED); // a fourth hole
      expect(b.insert(15, Buffer.alloc(5))).to.equal(0); // extends a range: no new hole
      expect(b.insert(0, Buffer.alloc(100))).to.equal(0); // in order, beyond the bytes cap
      expect(b.readableBytes).to.equal(100);
      expect([budget.ranges, budget.bytes]).to.deep.equal([2, 10]);
      expect(b.insert(110, Buffer.alloc(91))).to.equal(0); // beyond the bytes cap: taken, copied
      expect([budget.ranges, budget.bytes]).to.deep.equal([3, 101]);
      expect(budget.dropped).to.equal(1);
      a.insert(0, Buffer.alloc(10)); // fills the first hole
      a.discard();
      b.insert(100, Buffer.alloc(10));
      expect([budget.ranges, budget.bytes]).to.deep.equal([0, 0]);
    });

    it('out-of-order bytes beyond the budget are copied, not kept as views of their datagrams', () => {
      const budget = new ReassemblyBudget(10, 4096);
      const r = new RecvBuffer({ budget });
      // Datagrams of their own (full-size packets: a view of one holds little more than its data).
      const dgs = [0, 1, 2].map((k) => Buffer.allocUnsafeSlow(2000).fill(k + 1));
      dgs.forEach((d, k) => expect(r.insert(3000 * (k + 1), d)).to.equal(0));
      expect([budget.ranges, budget.bytes, budget.dropped]).to.deep.equal([3, 6000, 0]);
      for (let k = 0; k < 3; k++)
        r.insert(3000 * k + (k ? 2000 : 0), Buffer.alloc(k ? 1000 : 3000));
      const views: number[] = [];
      for (let d = r.read(); d; d = r.read())
        if (d.length === 2000) views.push(dgs.findIndex((g) => g.buffer === d.buffer));
      // The first two fitted the 4,096 bytes (views); the third went beyond (a copy).
      expect(views).to.deep.equal([0, 1, -1]);
      expect(r.readOffset).to.equal(11_000);
    });

    it('the budget matches the buffers through random inserts and reads, and the data is intact', () => {
      const rand = prng(7);
      const budget = new ReassemblyBudget(10, 3000);
      const src = Buffer.alloc(20_000).map((_, i) => (i * 7) & 0xff);
      const bufs = [0, 1, 2].map(() => new RecvBuffer({ budget }));
      const out = bufs.map(() => [] as Buffer[]);
      for (let step = 0; step < 5000; step++) {
        const k = Math.floor(rand() * 3);
        const r = bufs[k]!;
        if (rand() < 0.2) {
          const d = r.read(Math.floor(rand() * 500) + 1);
          if (d) out[k]!.push(Buffer.from(d));
        } else {
          const off = r.readOffset + Math.floor(rand() * 2000);
          const len = Math.min(Math.floor(rand() * 300) + 1, src.length - off);
          if (len > 0)
            expect(r.insert(off, src.subarray(off, off + len))).to.be.oneOf([0, DROPPED]);
        }
        expect(budget.ranges).to.equal(bufs.reduce((n, b) => n + b.gaps, 0));
        expect(budget.bytes).to.equal(bufs.reduce((n, b) => n + b.outOfOrderBytes, 0));
        expect(budget.ranges).to.be.at.most(10);
      }
      expect(budget.dropped).to.be.greaterThan(0);
      for (let k = 0; k < 3; k++) {
        const got = Buffer.concat(out[k]!);
        expect(got.equals(src.subarray(0, got.length))).to.equal(true);
      }
    });

    it('a peer scattering holes over many streams is capped per connection, not closed', () => {
      const { l, forge } = forgingPair({ maxReassemblyRanges: 500 });
      const server = l.server!;
      // 100 streams x 20 one-byte frames two bytes apart: 2,000 holes asked for.
      for (let s = 0; s < 100; s++) {
        const frames: Frame[] = [];
        for (let k = 1; k <= 20; k++) frames.push(stream(s * 4, k * 2, Buffer.from([k])));
        forge(frames);
      }
      const st = server.stats;
      expect(st.reassemblyRanges).to.equal(500);
      expect(st.streamFramesDropped).to.equal(2000 - 500);
      expect(st.reassemblyBytes).to.equal(500);
      expect(server.state).to.equal('established');
      // In-order data is still taken, and fills holes.
      forge([stream(0, 0, Buffer.from([9, 9]))]);
      let readable = 0;
      for (let d = server.read(0); d; d = server.read(0)) readable += d.length;
      expect(readable).to.equal(3); // the two new bytes and the one held at offset 2
      expect(server.stats.reassemblyRanges).to.equal(499);
    });

    /** Three 600 KB uploads to a server with `bounds` over a lossy, reordering link; the
     * server's stats and the most holes and out-of-order bytes it held at once. */
    function lossyUploads(bounds: Partial<ConnectionConfig>) {
      const l = new Link(clientConfig(), serverConfig(bounds), { loss: 0.05, jitter: 20, seed: 5 });
      expect(l.run(() => established(l), 10_000)).to.equal(true);
      const body = Buffer.alloc(600_000).map((_, i) => (i * 13) & 0xff);
      const ids = [0, 1, 2].map(() => l.client.openStream(true)!);
      const off = new Map(ids.map((id) => [id, 0]));
      const got = new Map(ids.map((id) => [id, [] as Buffer[]]));
      const peak = { ranges: 0, bytes: 0 };
      const push = (id: number) => {
        const o = off.get(id)!;
        if (o < body.length) off.set(id, o + l.client.write(id, body.subarray(o), true));
      };
      ids.forEach(push);
      l.onEvent = (side, ev) => {
        if (side === 'client' && ev.type === 'writable') push(ev.streamId);
        if (side !== 'server') return;
        if (ev.type === 'readable')
          for (let d = l.server!.read(ev.streamId); d; d = l.server!.read(ev.streamId))
            got.get(ev.streamId)!.push(Buffer.from(d));
        const st = l.server!.stats;
        peak.ranges = Math.max(peak.ranges, st.reassemblyRanges);
        peak.bytes = Math.max(peak.bytes, st.reassemblyBytes);
      };
      const done = () =>
        ids.every((id) => got.get(id)!.reduce((n, b) => n + b.length, 0) >= body.length);
      l.run(done, 120_000);
      for (const id of ids) expect(Buffer.concat(got.get(id)!).equals(body)).to.equal(true);
      return { stats: l.server!.stats, peak };
    }

    it('an honest peer over a lossy, reordering link: dropped frames are sent again, data intact', () => {
      const { stats, peak } = lossyUploads({ maxReassemblyRanges: 1 });
      expect(stats.streamFramesDropped).to.be.greaterThan(0);
      expect(peak.ranges).to.be.at.most(1);
    });

    it('out-of-order bytes beyond maxReassemblyBytes are taken (copied), never refused', () => {
      const { stats, peak } = lossyUploads({ maxReassemblyBytes: 2000 });
      expect(peak.bytes).to.be.greaterThan(2000);
      expect(stats.streamFramesDropped).to.equal(0);
    });
  });

  describe('optimistic ACK (RFC 9000 §21.4)', () => {
    it('packet numbers are skipped every 256..1024 packets, at random', () => {
      const rand = prng(3);
      const skipper = new PacketNumberSkipper((n) =>
        Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256))),
      );
      const gaps: number[] = [];
      let last = 0;
      for (let i = 1; i <= 20_000; i++)
        if (skipper.skipNext()) {
          gaps.push(i - last);
          last = i;
        }
      expect(gaps.length).to.be.greaterThan(15);
      for (const g of gaps) expect(g).to.be.within(MIN_GAP, MAX_GAP);
      expect(new Set(gaps).size).to.be.greaterThan(gaps.length / 2);
    });

    it('an ACK of a skipped packet number closes with PROTOCOL_VIOLATION; honest ACKs never do', () => {
      const qlog: QlogEvent[] = [];
      const { l, forge } = forgingPair({ qlog: (e) => qlog.push(e) });
      const server = l.server!;
      // A transfer of well over 1,024 packets: the honest client's ACKs pass.
      const id = l.client.openStream(true)!;
      l.client.write(id, Buffer.from('GET'), true);
      let off = 0;
      const body = new Uint8Array(1_600_000);
      let got = 0;
      l.onEvent = (side, ev) => {
        if (side === 'server' && (ev.type === 'stream-opened' || ev.type === 'writable'))
          off += server.write(id, body.subarray(off), true);
        if (side === 'client' && ev.type === 'readable')
          for (let d = l.client.read(id); d; d = l.client.read(id)) got += d.length;
      };
      l.run(() => l.client.isFinished(id), 30_000);
      expect(got).to.equal(body.length);
      expect(server.state).to.equal('established');
      const pns = qlog
        .filter((e) => e.name === 'transport:packet_sent')
        .map((e) => e.data.header as { packet_type: string; packet_number: number })
        .filter((h) => h.packet_type === '1RTT')
        .map((h) => h.packet_number);
      const skipped = pns
        .slice(1)
        .filter((pn, i) => pn !== pns[i]! + 1)
        .map((pn) => pn - 1);
      expect(skipped.length).to.be.greaterThan(0);
      expect(server.stats.optimisticAcks).to.equal(0);
      // The hostile client claims the last skipped number (and its neighbours).
      const g = skipped[skipped.length - 1]!;
      forge([{ type: 'ack', largest: g + 1, ackDelay: 0, ranges: [{ start: g - 1, end: g + 1 }] }]);
      expect(server.stats.optimisticAcks).to.equal(1);
      expect(server.state).to.not.equal('established');
      l.onEvent = undefined;
      l.run(() => l.client.state !== 'established', 5000);
      const closed = l.events.client.find((e) => e.type === 'closed');
      expect(closed && closed.type === 'closed' && closed.error.code).to.equal(PROTOCOL_VIOLATION);
    });
  });

  it('bounds are options checked like the others', () => {
    for (const k of [
      'connectionSendBuffer',
      'maxReassemblyRanges',
      'maxReassemblyBytes',
      'maxStreamWindow',
      'maxConnectionWindow',
    ] as const)
      for (const v of [0, -1, 1.5, Infinity])
        expect(() => Connection.connect(clientConfig({ [k]: v }), SERVER_ADDR, 0)).to.throw(
          RangeError,
          `config.${k}`,
        );
  });
});
