// Frames (RFC 9000 §19, RFC 9221): round trips for every type, sizes, §12.4 placement rules,
// the validation rules of §19, and mutated input giving only QuicError.
import { expect } from 'chai';
import fc from 'fast-check';

import { QuicError } from '../lib/quic/errors.js';
import {
  PacketMask,
  ackRangesThatFit,
  allowedIn,
  cryptoDataCapacity,
  decodeFrame,
  decodeFrames,
  encodeFrame,
  frameSize,
  streamDataCapacity,
  streamHeaderSize,
  writeStreamHeader,
  type Frame,
} from '../lib/quic/frames.js';
import { Reader } from '../lib/quic/varint.js';
import { frame } from './support/wire-arbitraries.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ALL = 1 | 2 | 4 | 8;

function encode(f: Frame): Buffer {
  const buf = Buffer.alloc(frameSize(f) + 8, 0xaa);
  const end = encodeFrame(buf, 3, f);
  expect(end - 3).to.equal(frameSize(f));
  return buf.subarray(3, end);
}

function normalise(f: Frame): unknown {
  const o: Record<string, unknown> = { ...f };
  delete o.explicitLength;
  for (const [k, v] of Object.entries(o))
    if (v instanceof Uint8Array) o[k] = Buffer.from(v).toString('hex');
  return o;
}

function decodeOne(buf: Uint8Array, mask = ALL): Frame {
  const r = new Reader(buf);
  const f = decodeFrame(r, mask);
  expect(r.pos).to.equal(buf.length);
  return f;
}

/** `fn` throws a QuicError with this code. */
const quicError = (fn: () => unknown, code: number) =>
  expect(fn).to.throw(QuicError).with.property('code', code);

describe('quic/frames', () => {
  it('round trip: every frame type, frameSize = encoded length', () => {
    fc.assert(
      fc.property(frame(), (f) => {
        const enc = encode(f);
        const dec = decodeOne(enc);
        expect(normalise(dec)).to.deep.equal(normalise(f));
      }),
      { numRuns: 2000 },
    );
  });

  it('round trip: sequences of frames in one payload', () => {
    fc.assert(
      fc.property(fc.array(frame(), { minLength: 1, maxLength: 8 }), (frames) => {
        // Two PADDING frames in a row decode as one run: merge them in the expectation.
        const want: Frame[] = [];
        for (const f of frames) {
          const last = want[want.length - 1];
          if (f.type === 'padding' && last?.type === 'padding')
            want[want.length - 1] = { type: 'padding', length: last.length + f.length };
          else want.push(f);
        }
        const buf = Buffer.concat(frames.map(encode));
        const got = decodeFrames(buf, 0, buf.length, '1rtt');
        expect(got.map(normalise)).to.deep.equal(want.map(normalise));
      }),
      { numRuns: 500 },
    );
  });

  it('STREAM, CRYPTO and DATAGRAM data are views into the input, not copies', () => {
    const buf = hex('0f 04 05 03 616263  06 00 02 7878  31 01 7a');
    const [s, c, d] = decodeFrames(buf, 0, buf.length, '1rtt');
    for (const f of [s, c, d]) {
      if (f?.type !== 'stream' && f?.type !== 'crypto' && f?.type !== 'datagram')
        throw new Error('type');
      expect(f.data.buffer).to.equal(buf.buffer);
    }
    expect(s).to.deep.include({ streamId: 4, offset: 5, fin: true });
  });

  it('STREAM without Length and DATAGRAM 0x30 extend to the end of the payload', () => {
    expect(normalise(decodeOne(hex('08 01 616263')))).to.deep.equal({
      type: 'stream',
      streamId: 1,
      offset: 0,
      data: '616263',
      fin: false,
    });
    expect(normalise(decodeOne(hex('30 6162')))).to.deep.equal({ type: 'datagram', data: '6162' });
    const f: Frame = {
      type: 'stream',
      streamId: 9,
      offset: 7,
      data: hex('0102'),
      fin: true,
      explicitLength: false,
    };
    expect(encode(f).toString('hex')).to.equal('0d09070102');
  });

  it('ACK ranges are descending and inclusive, with ECN counts', () => {
    // largest 10, delay 2, 2 more ranges, first 1 (9-10), gap 1 range 0 (6), gap 0 range 2 (2-4)
    const f = decodeOne(hex('03 0a 02 02 01 01 00 00 02 05 06 07'));
    expect(f).to.deep.equal({
      type: 'ack',
      largest: 10,
      ackDelay: 2,
      ranges: [
        { start: 9, end: 10 },
        { start: 6, end: 6 },
        { start: 2, end: 4 },
      ],
      ecn: { ect0: 5, ect1: 6, ce: 7 },
    });
  });

  it('§19 rules: malformed values are FRAME_ENCODING_ERROR', () => {
    const bad = [
      '02 05 00 00 06', // first ACK range below 0
      '02 05 00 01 02 02 00', // gap takes the next range below 0
      '02 05 00 40 ff', // range count cannot fit the rest
      '07 00', // empty NEW_TOKEN
      '12 c0 00 00', // truncated MAX_STREAMS
      '12 d0 00 00 00 00 00 00 01', // MAX_STREAMS 2^60+1
      '16 d0 00 00 00 00 00 00 01', // STREAMS_BLOCKED 2^60+1
      '18 01 02 08 0102030405060708 00112233445566778899aabbccddeeff', // retire prior to > sequence
      '18 01 00 00 00112233445566778899aabbccddeeff', // zero-length connection id
      '18 01 00 15 ' + '00'.repeat(21) + '00112233445566778899aabbccddeeff', // 21-byte CID
      '0e 00 ff ff ff ff ff ff ff ff 01 00', // STREAM offset + length beyond 2^62-1 (offset 2^62-1)
      '06 ff ff ff ff ff ff ff ff 01 00', // CRYPTO offset + length beyond 2^62-1
      '1a 0102', // truncated PATH_CHALLENGE
      '1c 00 00 05 6162', // truncated reason
      '40 40', // unknown frame type 0x40
      '1f', // unknown frame type 0x1f
    ];
    for (const h of bad) {
      const buf = hex(h);
      quicError(() => decodeFrames(buf, 0, buf.length, '1rtt'), 0x07);
    }
  });

  it('§12.4: a frame type with a longer encoding than necessary is PROTOCOL_VIOLATION', () => {
    quicError(() => decodeFrames(hex('4001'), 0, 2, '1rtt'), 0x0a);
  });

  it('§12.4 table 3: frames outside their packet types are PROTOCOL_VIOLATION', () => {
    const cases: Array<[string, 'initial' | '0rtt' | 'handshake' | '1rtt']> = [
      ['08 00 61', 'initial'], // STREAM in Initial
      ['08 00 61', 'handshake'],
      ['02 00 00 00 00', '0rtt'], // ACK in 0-RTT
      ['06 00 01 61', '0rtt'], // CRYPTO in 0-RTT
      ['07 01 61', '0rtt'], // NEW_TOKEN only 1-RTT
      ['1b 0000000000000000', '0rtt'], // PATH_RESPONSE only 1-RTT
      ['1e', 'handshake'], // HANDSHAKE_DONE only 1-RTT
      ['1d 00 00', 'initial'], // application close only 0-RTT/1-RTT
      ['31 00', 'initial'], // DATAGRAM (RFC 9221 §4)
      ['10 00', 'handshake'],
    ];
    for (const [h, t] of cases) quicError(() => decodeFrames(hex(h), 0, hex(h).length, t), 0x0a);
    expect(decodeFrames(hex('1c 0a 00 00'), 0, 4, 'initial')[0]!.type).to.equal('connection_close');
    expect(allowedIn(0x01)).to.equal(ALL);
    expect(allowedIn(0x30) & PacketMask['1rtt']).to.equal(PacketMask['1rtt']);
  });

  it('§12.4: a packet with no frames is PROTOCOL_VIOLATION', () => {
    quicError(() => decodeFrames(new Uint8Array(4), 2, 2, '1rtt'), 0x0a);
  });

  it('encoders reject misuse with RangeError', () => {
    const buf = new Uint8Array(64);
    expect(() => encodeFrame(buf, 0, { type: 'max_data', maximum: 2 ** 62 })).to.throw(RangeError);
    expect(() => encodeFrame(buf, 0, { type: 'max_data', maximum: -1 })).to.throw(RangeError);
    expect(() => encodeFrame(buf, 0, { type: 'new_token', token: new Uint8Array(0) })).to.throw(
      RangeError,
    );
    expect(() => encodeFrame(buf, 0, { type: 'path_challenge', data: new Uint8Array(7) })).to.throw(
      RangeError,
    );
    expect(() =>
      encodeFrame(buf, 0, { type: 'ack', largest: 0, ackDelay: 0, ranges: [] }),
    ).to.throw(RangeError);
    const overlapping = [
      { start: 5, end: 9 },
      { start: 2, end: 4 },
    ];
    expect(() =>
      encodeFrame(buf, 0, { type: 'ack', largest: 9, ackDelay: 0, ranges: overlapping }),
    ).to.throw(RangeError);
    expect(() =>
      encodeFrame(buf, 60, {
        type: 'stream',
        streamId: 0,
        offset: 0,
        data: new Uint8Array(8),
        fin: false,
      }),
    ).to.throw(RangeError);
  });

  it('capacity helpers: the largest frame that fits exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20000 }),
        fc.nat(),
        fc.nat(),
        fc.boolean(),
        (room, id, off, explicit) => {
          const n = streamDataCapacity(room, id, off, explicit);
          if (n === 0) return;
          const size = streamHeaderSize(id, off, n, explicit) + n;
          expect(size).to.be.at.most(room);
          // One more byte would not fit.
          expect(streamHeaderSize(id, off, n + 1, explicit) + n + 1).to.be.greaterThan(room);
          const c = cryptoDataCapacity(room, off);
          if (c > 0)
            expect(
              frameSize({ type: 'crypto', offset: off, data: new Uint8Array(c) }),
            ).to.be.at.most(room);
        },
      ),
      { numRuns: 2000 },
    );
    const buf = new Uint8Array(32);
    const p = writeStreamHeader(buf, 0, 4, 0, 3, true);
    buf.set([1, 2, 3], p);
    expect(normalise(decodeOne(buf.subarray(0, p + 3)))).to.deep.equal({
      type: 'stream',
      streamId: 4,
      offset: 0,
      data: '010203',
      fin: true,
    });
  });

  it('mutated frames (bit flips, truncation, extension) give only QuicError', () => {
    fc.assert(
      fc.property(
        fc.array(frame(), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 2 }),
        bytes(),
        fc.constantFrom<'initial' | '0rtt' | 'handshake' | '1rtt'>(
          'initial',
          '0rtt',
          'handshake',
          '1rtt',
        ),
        (frames, at, bit, how, extra, pt) => {
          let buf: Buffer = Buffer.concat(frames.map(encode));
          const i = at % buf.length;
          if (how === 0) buf[i] = buf[i]! ^ (1 << bit);
          else if (how === 1) buf = buf.subarray(0, i);
          else buf = Buffer.concat([buf, extra]);
          try {
            decodeFrames(buf, 0, buf.length, pt);
          } catch (err) {
            if (!(err instanceof QuicError)) throw err;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

function bytes(): fc.Arbitrary<Uint8Array> {
  return fc.uint8Array({ maxLength: 12 });
}

describe('quic/frames: ackRangesThatFit', () => {
  it('the ranges it allows fit, one more would not', () => {
    fc.assert(
      fc.property(frame(), fc.integer({ min: 0, max: 120 }), (f, room) => {
        if (f.type !== 'ack') return;
        const n = ackRangesThatFit(f.ranges, f.ackDelay, f.ecn, room);
        const cut = (k: number): Frame => ({ ...f, ranges: f.ranges.slice(0, k) });
        if (n > 0) expect(frameSize(cut(n))).to.be.at.most(room);
        if (n < f.ranges.length) expect(frameSize(cut(n + 1))).to.be.greaterThan(room);
      }),
      { numRuns: 2000 },
    );
  });
});
