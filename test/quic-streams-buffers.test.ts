import { expect } from 'chai';
import fc from 'fast-check';
import { TransportError } from '../lib/quic/errors.js';
import { RecvBuffer } from '../lib/quic/recv-buffer.js';
import { SendBuffer, type StreamChunk } from '../lib/quic/send-buffer.js';

const { CRYPTO_BUFFER_EXCEEDED, FINAL_SIZE_ERROR, FLOW_CONTROL_ERROR, PROTOCOL_VIOLATION } =
  TransportError;

function readAll(r: RecvBuffer, max?: number): Buffer {
  const parts: Buffer[] = [];
  for (let b = r.read(max); b; b = r.read(max)) parts.push(b);
  return Buffer.concat(parts);
}

describe('quic/recv-buffer', () => {
  it('reassembles out-of-order data', () => {
    const src = Buffer.from('hello, quic world');
    const r = new RecvBuffer();
    expect(r.insert(7, src.subarray(7, 11))).to.equal(0);
    expect(r.read()).to.equal(null);
    expect(r.gaps).to.equal(1);
    expect(r.insert(0, src.subarray(0, 7))).to.equal(0);
    expect(r.gaps).to.equal(0);
    expect(r.readableBytes).to.equal(11);
    expect(r.read(7)!.toString()).to.equal('hello, ');
    expect(r.insert(11, src.subarray(11), true)).to.equal(0);
    expect(readAll(r).toString()).to.equal('quic world');
    expect(r.finished).to.equal(true);
  });

  it('keeps full-size frames as views; copies and coalesces small ones', () => {
    const big = Buffer.alloc(1200, 7);
    const r = new RecvBuffer();
    r.insert(0, big);
    const v = r.read()!;
    expect(v.buffer).to.equal(big.buffer); // zero-copy view of the frame data
    const small = Buffer.from('abc');
    r.insert(1200, small);
    for (let i = 0; i < 1000; i++) r.insert(1203 + i, Buffer.from([i & 0xff]));
    // 1001 adjacent small frames end up in one owned segment.
    expect(r.segments).to.equal(1);
    small.fill(0); // the copy must not alias the caller's (possibly pooled) memory
    const c = r.read()!;
    expect(c.length).to.equal(1003);
    expect(c.subarray(0, 3).toString()).to.equal('abc');
    expect(c[3 + 999]).to.equal(999 & 0xff);
  });

  it('copies in-order data once, into blocks that grow while it piles up', () => {
    const r = new RecvBuffer({ copy: true });
    const piece = (i: number) => Buffer.alloc(1200, i);
    let off = 0;
    const seen = new Set<ArrayBufferLike>();
    const out: Buffer[] = [];
    // Batches of 30 packets, each batch read whole (a reader keeping up with a bulk sender).
    for (let batch = 0; batch < 20; batch++) {
      for (let k = 0; k < 30; k++, off += 1200) r.insert(off, piece(batch * 30 + k));
      for (let b = r.read(); b; b = r.read()) {
        seen.add(b.buffer);
        out.push(b);
      }
    }
    const all = Buffer.concat(out);
    expect(all.length).to.equal(off);
    for (let i = 0; i < off / 1200; i++) expect(all[i * 1200 + 1199]).to.equal(i & 0xff);
    // 720 KB in a few dozen blocks of at most 64 KiB, not one buffer per packet.
    expect(seen.size).to.be.below(20);
    for (const b of seen) expect(b.byteLength).to.be.at.most(64 * 1024);
  });

  it('a stream read as fast as it arrives keeps exact-size copies', () => {
    const r = new RecvBuffer({ copy: true });
    for (let i = 0; i < 50; i++) {
      r.insert(i * 100, Buffer.alloc(100, i));
      const b = r.read()!;
      expect([b.length, b.buffer.byteLength, b[99]]).to.deep.equal([100, 100, i]);
    }
  });

  it('copied data read in any pattern stays intact (no view is written over)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.boolean(), fc.nat(5)), {
          minLength: 1,
          maxLength: 80,
        }),
        (steps) => {
          const total = steps.reduce((n, [len]) => n + len, 0);
          const src = Buffer.alloc(total);
          for (let i = 0; i < total; i++) src[i] = (i * 7 + (i >> 8)) & 0xff;
          const frames: Array<[number, number]> = [];
          for (let off = 0, i = 0; i < steps.length; off += steps[i]![0], i++)
            frames.push([off, off + steps[i]![0]]);
          // Swap neighbours where asked: some frames arrive late (holes, then filled).
          for (let i = 0; i + 1 < frames.length; i++)
            if (steps[i]![1]) [frames[i], frames[i + 1]] = [frames[i + 1]!, frames[i]!];
          const r = new RecvBuffer({ copy: true, limit: total });
          const out: Buffer[] = [];
          frames.forEach(([a, b], i) => {
            expect(r.insert(a, src.subarray(a, b))).to.equal(0);
            if (steps[i]![2] === 0) for (let d = r.read(); d; d = r.read()) out.push(d);
          });
          for (let d = r.read(); d; d = r.read()) out.push(d);
          expect(Buffer.concat(out).equals(src)).to.equal(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('handles duplicate and overlapping data', () => {
    const src = Buffer.from('0123456789abcdef');
    const r = new RecvBuffer();
    r.insert(4, src.subarray(4, 8));
    r.insert(10, src.subarray(10, 12));
    r.insert(2, src.subarray(2, 14)); // overlaps both, fills gaps only
    r.insert(4, src.subarray(4, 8)); // duplicate
    expect(r.gaps).to.equal(1); // only [0, 2) is missing
    expect(r.bufferedBytes).to.equal(12);
    r.insert(0, src.subarray(0, 16));
    expect(readAll(r, 3).toString()).to.equal(src.toString());
    r.insert(0, src.subarray(0, 16)); // entirely below the read offset
    expect(r.read()).to.equal(null);
  });

  it('enforces final size rules (RFC 9000 §4.5)', () => {
    const d = Buffer.alloc(10);
    const r = new RecvBuffer();
    expect(r.insert(0, d, true)).to.equal(0);
    expect(r.finalSize).to.equal(10);
    expect(r.insert(5, d.subarray(0, 5), true)).to.equal(0); // same final size again
    expect(r.insert(10, d.subarray(0, 1))).to.equal(FINAL_SIZE_ERROR); // beyond
    expect(r.insert(0, d.subarray(0, 8), true)).to.equal(FINAL_SIZE_ERROR); // changed
    const r2 = new RecvBuffer();
    r2.insert(20, d);
    expect(r2.insert(0, d, true)).to.equal(FINAL_SIZE_ERROR); // below data received
    expect(r2.reset(29)).to.equal(FINAL_SIZE_ERROR);
    expect(r2.reset(30)).to.equal(0);
    expect(r2.reset(31)).to.equal(FINAL_SIZE_ERROR);
    expect(r2.segments).to.equal(0);
  });

  it('rejects data beyond the flow-control limit', () => {
    const r = new RecvBuffer({ limit: 100 });
    expect(r.insert(90, Buffer.alloc(10))).to.equal(0);
    expect(r.insert(95, Buffer.alloc(10))).to.equal(FLOW_CONTROL_ERROR);
    expect(r.reset(101)).to.equal(FLOW_CONTROL_ERROR);
    r.limit = 200;
    expect(r.insert(95, Buffer.alloc(10))).to.equal(0);
  });

  it('bounds CRYPTO buffering relative to the read offset (RFC 9000 §7.5)', () => {
    const r = new RecvBuffer({ cryptoBufferLimit: 4096 });
    expect(r.insert(4000, Buffer.alloc(96))).to.equal(0);
    expect(r.insert(4000, Buffer.alloc(97))).to.equal(CRYPTO_BUFFER_EXCEEDED);
    r.insert(0, Buffer.alloc(4000));
    readAll(r);
    expect(r.insert(8000, Buffer.alloc(100))).to.equal(0);
  });

  it('refuses excessive fragmentation (holes), not in-order data', () => {
    const r = new RecvBuffer({ maxGaps: 8 });
    for (let i = 0; i < 8; i++) expect(r.insert(i * 2 + 1, Buffer.alloc(1))).to.equal(0);
    expect(r.gaps).to.equal(8);
    expect(r.insert(100, Buffer.alloc(1))).to.equal(PROTOCOL_VIOLATION);
    // Splitting a hole in two is refused; filling one exactly is fine.
    expect(r.insert(20, Buffer.alloc(1))).to.equal(PROTOCOL_VIOLATION);
    expect(r.insert(2, Buffer.alloc(1))).to.equal(0);
    expect(r.gaps).to.equal(7);
    expect(r.insert(1, Buffer.alloc(1))).to.equal(0); // duplicate
    // Much in-order data that nobody reads yet: no holes, no error.
    const s = new RecvBuffer({ maxGaps: 1 });
    for (let i = 0; i < 3000; i++) expect(s.insert(i * 1200, Buffer.alloc(1200))).to.equal(0);
    expect(s.bufferedBytes).to.equal(3_600_000);
  });

  it('stores nothing for empty frames, but honours an empty FIN', () => {
    const r = new RecvBuffer();
    expect(r.insert(5, Buffer.alloc(0))).to.equal(0);
    expect(r.segments).to.equal(0);
    expect(r.highestOffset).to.equal(5);
    expect(r.insert(0, Buffer.from('abcde'))).to.equal(0);
    expect(r.insert(5, Buffer.alloc(0), true)).to.equal(0);
    expect(readAll(r).toString()).to.equal('abcde');
    expect(r.finished).to.equal(true);
  });

  it('copies when asked (caller reuses its buffers)', () => {
    const buf = Buffer.from('abcd');
    const r = new RecvBuffer({ copy: true });
    r.insert(0, buf);
    buf.fill(0);
    expect(r.read()!.toString()).to.equal('abcd');
  });

  it('discard drops data and reports unread bytes, keeps checking sizes', () => {
    const r = new RecvBuffer();
    r.insert(0, Buffer.alloc(10));
    r.read(4);
    expect(r.discard()).to.equal(6);
    expect(r.insert(10, Buffer.alloc(5), true)).to.equal(0);
    expect(r.read()).to.equal(null);
    expect(r.insert(15, Buffer.alloc(1))).to.equal(FINAL_SIZE_ERROR);
  });

  it('applies the final size rules like a model under random frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(60), fc.nat(20), fc.boolean()), { maxLength: 30 }),
        (frames) => {
          const r = new RecvBuffer();
          let finalSize = -1;
          let highest = 0;
          for (const [offset, len, fin] of frames) {
            const end = offset + len;
            let expected = 0;
            if (finalSize >= 0 && (end > finalSize || (fin && end !== finalSize))) {
              expected = FINAL_SIZE_ERROR;
            } else if (fin && end < highest) expected = FINAL_SIZE_ERROR;
            expect(r.insert(offset, Buffer.alloc(len), fin)).to.equal(expected);
            if (expected === 0) {
              if (fin) finalSize = end;
              highest = Math.max(highest, end);
            }
            expect(r.finalSize).to.equal(finalSize);
            expect(r.highestOffset).to.equal(highest);
          }
        },
      ),
    );
  });

  for (const scale of [1, 40]) {
    it(`random chunking, duplication and reordering reassemble the original bytes (x${scale})`, () => {
      fc.assert(
        fc.property(
          fc.uint8Array({ minLength: 1, maxLength: 600 * scale }),
          fc.array(fc.tuple(fc.nat(), fc.nat(80)), { minLength: 1, maxLength: 60 }),
          fc.array(fc.nat(), { maxLength: 30 }),
          fc.integer({ min: 1, max: 50 }),
          (data, cuts, dupIdx, readMax) => {
            const src = Buffer.from(data);
            // Frames covering the whole stream, plus random extra (overlapping) frames.
            const frames: Array<[number, number]> = [];
            for (let off = 0, i = 0; off < src.length; i++) {
              const len = 1 + ((cuts[i % cuts.length][1] * scale) % (64 * scale));
              frames.push([off, Math.min(src.length, off + len)]);
              off += len;
            }
            for (const [a, b] of cuts) {
              const s = a % src.length;
              frames.push([s, Math.min(src.length, s + b * scale)]);
            }
            for (const i of dupIdx) frames.push(frames[i % frames.length]);
            // Deterministic shuffle driven by the cut values.
            for (let i = frames.length - 1; i > 0; i--) {
              const j = (cuts[i % cuts.length][0] + i) % (i + 1);
              [frames[i], frames[j]] = [frames[j], frames[i]];
            }
            const r = new RecvBuffer({ limit: src.length });
            const out: Buffer[] = [];
            for (const [s, e] of frames) {
              expect(r.insert(s, src.subarray(s, e), e === src.length)).to.equal(0);
              for (let b = r.read(readMax); b; b = r.read(readMax)) out.push(b);
            }
            expect(Buffer.concat(out).equals(src)).to.equal(true);
            expect(r.finished).to.equal(true);
            expect(r.segments).to.equal(0);
          },
        ),
        { numRuns: scale === 1 ? 200 : 50 },
      );
    });
  }
});

describe('quic/send-buffer', () => {
  it('hands out chunks within the length and flow-control limits, FIN last', () => {
    const s = new SendBuffer();
    s.write(Buffer.from('abcdef'));
    s.write(Buffer.from('ghij'));
    s.end();
    const c1 = s.nextChunk(4)!;
    expect([c1.offset, Buffer.from(c1.data).toString(), c1.fin]).to.deep.equal([0, 'abcd', false]);
    const c2 = s.nextChunk(100, 8)!; // flow control: up to offset 8
    expect([c2.offset, Buffer.from(c2.data).toString(), c2.fin]).to.deep.equal([4, 'efgh', false]);
    expect(s.nextChunk(100, 8)).to.equal(null);
    const c3 = s.nextChunk(100)!;
    expect([c3.offset, Buffer.from(c3.data).toString(), c3.fin]).to.deep.equal([8, 'ij', true]);
    expect(c3.retransmit).to.equal(false);
    expect(s.hasPending).to.equal(false);
  });

  it('returns views of the written buffer when a chunk lies in one write', () => {
    const s = new SendBuffer();
    const w = Buffer.alloc(100, 1);
    s.write(w);
    const c = s.nextChunk(50)!;
    expect(c.data.buffer).to.equal(w.buffer);
  });

  it('copies a small view of a large buffer (a received datagram echoed), keeps the rest', () => {
    const s = new SendBuffer();
    const batch = Buffer.alloc(96 * 1024, 7); // a receive batch
    const echoed = batch.subarray(1000, 2200);
    const own = Buffer.alloc(64 * 1024, 8); // a whole buffer of its own
    const half = batch.subarray(0, 60 * 1024); // most of its buffer
    const small = Buffer.alloc(8 * 1024).subarray(0, 6); // a small buffer (Node 20's pool slab)
    for (const w of [echoed, own, half, small]) s.write(w);
    const held = (n: number) => s.nextChunk(n)!.data;
    const a = held(echoed.length);
    expect(a.buffer).to.not.equal(batch.buffer);
    expect(Buffer.from(a).equals(echoed)).to.equal(true);
    expect(held(own.length).buffer).to.equal(own.buffer);
    expect(held(half.length).buffer).to.equal(batch.buffer);
    expect(held(small.length).buffer).to.equal(small.buffer);
  });

  it('resends lost ranges first, minus what was acknowledged meanwhile', () => {
    const s = new SendBuffer();
    s.write(Buffer.from('0123456789'));
    s.nextChunk(5);
    s.nextChunk(5);
    s.onLost(0, 5, false);
    s.onAcked(2, 2, false); // a copy of bytes 2..3 arrived after all
    const r1 = s.nextChunk(100)!;
    expect([r1.offset, Buffer.from(r1.data).toString(), r1.retransmit]).to.deep.equal([
      0,
      '01',
      true,
    ]);
    const r2 = s.nextChunk(100)!;
    expect([r2.offset, Buffer.from(r2.data).toString()]).to.deep.equal([4, '4']);
    expect(s.nextChunk(100)).to.equal(null);
  });

  it('frees memory as the acknowledged prefix grows', () => {
    const s = new SendBuffer();
    for (let i = 0; i < 4; i++) s.write(Buffer.alloc(100, i));
    while (s.nextChunk(150));
    expect(s.bufferedBytes).to.equal(400);
    s.onAcked(150, 150, false);
    expect(s.bufferedBytes).to.equal(400);
    s.onAcked(0, 150, false);
    expect(s.bufferedBytes).to.equal(100);
    s.end();
    const fin = s.nextChunk(100)!;
    expect([fin.offset, fin.data.length, fin.fin]).to.deep.equal([400, 0, true]);
    s.onAcked(300, 100, false);
    expect(s.allAcked).to.equal(false);
    s.onAcked(400, 0, true);
    expect(s.allAcked).to.equal(true);
    expect(s.bufferedBytes).to.equal(0);
  });

  it('an in-order acknowledgement frees the prefix and cancels its lost ranges', () => {
    const s = new SendBuffer();
    s.write(Buffer.from('0123456789'));
    s.nextChunk(4);
    s.nextChunk(4);
    s.onLost(0, 8, false);
    // The first copy of bytes 0..5 arrives after all: only 6..7 are still to resend.
    s.onAcked(0, 6, false);
    expect(s.bufferedBytes).to.equal(4);
    const r = s.nextChunk(100)!;
    expect([r.offset, Buffer.from(r.data).toString(), r.retransmit]).to.deep.equal([6, '67', true]);
    s.onAcked(6, 2, false);
    s.onAcked(4, 4, false); // a duplicate reaching below the prefix
    expect(s.bufferedBytes).to.equal(2);
    expect(s.hasRetransmit).to.equal(false);
    expect(Buffer.from(s.nextChunk(100)!.data).toString()).to.equal('89');
  });

  it('resends a lost FIN alone when the data was acknowledged', () => {
    const s = new SendBuffer();
    s.write(Buffer.from('xy'));
    s.end();
    const c = s.nextChunk(100)!;
    expect(c.fin).to.equal(true);
    s.onAcked(0, 2, false);
    s.onLost(0, 2, true);
    const f = s.nextChunk(100)!;
    expect([f.offset, f.data.length, f.fin, f.retransmit]).to.deep.equal([2, 0, true, true]);
  });

  it('reset frees everything and reports the final size', () => {
    const s = new SendBuffer();
    s.write(Buffer.alloc(1000));
    s.nextChunk(300);
    expect(s.reset()).to.equal(300);
    expect(s.bufferedBytes).to.equal(0);
    expect(s.nextChunk(100)).to.equal(null);
    expect(s.hasPending).to.equal(false);
    expect(() => s.write(Buffer.alloc(1))).to.throw(RangeError);
  });

  it('delivers the stream intact through random loss, duplication and reordering', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 200 }), { maxLength: 12 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 120 }), fc.nat(9)), { minLength: 1 }),
        (writes, plan) => {
          const s = new SendBuffer();
          for (const w of writes) s.write(w);
          s.end();
          const src = Buffer.concat(writes);
          const r = new RecvBuffer();
          const inFlight: StreamChunk[] = [];
          const out: Buffer[] = [];
          let step = 0;
          for (let guard = 0; !s.allAcked; guard++) {
            expect(guard).to.be.lessThan(10000);
            const [maxLen, fate] = plan[step++ % plan.length];
            const c = s.nextChunk(maxLen);
            if (c) inFlight.push(c);
            if (inFlight.length === 0) continue;
            // Deliver or lose one in-flight chunk, chosen by the plan (reordering).
            const chunk = inFlight.splice((fate * 7 + step) % inFlight.length, 1)[0];
            if (fate < 3 && guard < 500) {
              s.onLost(chunk.offset, chunk.data.length, chunk.fin);
            } else {
              expect(r.insert(chunk.offset, chunk.data, chunk.fin)).to.equal(0);
              if (fate === 9) r.insert(chunk.offset, chunk.data, chunk.fin); // duplicate
              s.onAcked(chunk.offset, chunk.data.length, chunk.fin);
            }
            for (let b = r.read(); b; b = r.read()) out.push(b);
          }
          expect(Buffer.concat(out).equals(src)).to.equal(true);
          expect(r.finished).to.equal(true);
          expect(s.bufferedBytes).to.equal(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
