// HTTP/3 frames (RFC 9114 §7): round trips, parsing split at every byte, and the frame-level
// errors; the hq-interop request codec.
import { expect } from 'chai';
import fc from 'fast-check';

import { H3, H3Error } from '../lib/h3/errors.js';
import {
  FrameReader,
  FrameType,
  encodeFrame,
  encodeIdFrame,
  encodeSettings,
  frameHeader,
  isReserved,
  type H3Frame,
} from '../lib/h3/frames.js';
import { HqError, formatHqRequest, parseHqRequest } from '../lib/h3/hq.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Parses `chunks` with one reader; DATA parts are joined per frame. */
function parse(chunks: Uint8Array[]): unknown[] {
  const r = new FrameReader();
  const out: unknown[] = [];
  let data: number[] | undefined;
  for (const c of chunks)
    r.push(c, (f: H3Frame) => {
      if (f.type === 'data') {
        (data ??= []).push(...f.data);
        if (f.end)
          (out.push({ type: 'data', data: Buffer.from(data).toString('hex') }), (data = undefined));
      } else if (f.type === 'headers')
        out.push({ type: 'headers', block: Buffer.from(f.block).toString('hex') });
      else if (f.type === 'settings') out.push({ type: 'settings', settings: [...f.settings] });
      else out.push(f);
    });
  expect(r.atBoundary).to.equal(true);
  return out;
}

/** `fn` throws a H3Error with this code. */
const expectH3 = (fn: () => unknown, code: number) =>
  expect(fn).to.throw(H3Error).with.property('code', code);

describe('HTTP/3 frames (RFC 9114 §7.2)', () => {
  const stream = Buffer.concat([
    encodeSettings(
      new Map([
        [0x06, 16384],
        [0x01, 0],
        [0x21, 7],
      ]),
    ),
    encodeFrame(FrameType.HEADERS, hex('0000d1')),
    frameHeader(FrameType.DATA, 3),
    hex('616263'),
    encodeFrame(0x21 + 0x1f * 5, hex('deadbeef')), // reserved: skipped
    encodeFrame(0x5a, new Uint8Array(0)), // unknown, empty: skipped
    frameHeader(FrameType.DATA, 0),
    encodeIdFrame(FrameType.GOAWAY, 8),
    encodeIdFrame(FrameType.MAX_PUSH_ID, 300),
    encodeIdFrame(FrameType.CANCEL_PUSH, 2),
    encodeFrame(FrameType.PUSH_PROMISE, hex('05 0000d1')),
  ]);
  const expected = [
    {
      type: 'settings',
      settings: [
        [6, 16384],
        [1, 0],
        [0x21, 7],
      ],
    },
    { type: 'headers', block: '0000d1' },
    { type: 'data', data: '616263' },
    { type: 'data', data: '' },
    { type: 'goaway', id: 8 },
    { type: 'max_push_id', pushId: 300 },
    { type: 'cancel_push', pushId: 2 },
  ];

  it('round-trips every frame type and skips reserved and unknown types', () => {
    const out = parse([stream]);
    const pp = out.pop() as { type: string; pushId: number; block: Uint8Array };
    expect(out).to.deep.equal(expected);
    expect([pp.type, pp.pushId, Buffer.from(pp.block).toString('hex')]).to.deep.equal([
      'push_promise',
      5,
      '0000d1',
    ]);
  });

  it('gives the same frames when the stream is split at every byte', () => {
    for (let i = 0; i <= stream.length; i++) {
      const out = parse([stream.subarray(0, i), stream.subarray(i)]);
      out.pop();
      expect(out, `split at ${i}`).to.deep.equal(expected);
    }
    const bytes = [...stream].map((b) => Uint8Array.of(b));
    const out = parse(bytes);
    out.pop();
    expect(out).to.deep.equal(expected);
  });

  it('passes DATA payloads on as views of the received chunk (no copy)', () => {
    const chunk = Buffer.concat([frameHeader(0, 4), hex('01020304')]);
    const seen: Uint8Array[] = [];
    new FrameReader().push(chunk, (f) => f.type === 'data' && seen.push(f.data));
    expect(seen[0]!.buffer).to.equal(chunk.buffer);
  });

  it('round-trips random frame sequences split at random points', () => {
    const frame = fc.oneof(
      fc
        .uint8Array({ maxLength: 50 })
        .map((d) => ({ t: 'data', b: Buffer.concat([frameHeader(0, d.length), d]), d })),
      fc.nat(2 ** 40).map((id) => ({ t: 'goaway', b: encodeIdFrame(FrameType.GOAWAY, id), d: id })),
    );
    fc.assert(
      fc.property(
        fc.array(frame, { maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (frames, cuts) => {
          const all = Buffer.concat(frames.map((f) => f.b));
          const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const p of points) (chunks.push(all.subarray(prev, p)), (prev = p));
          chunks.push(all.subarray(prev));
          const out = parse(chunks);
          expect(out).to.deep.equal(
            frames.map((f) =>
              f.t === 'data'
                ? { type: 'data', data: Buffer.from(f.d as Uint8Array).toString('hex') }
                : { type: 'goaway', id: f.d },
            ),
          );
        },
      ),
    );
  });

  it('rejects HTTP/2-only frame types with H3_FRAME_UNEXPECTED (§7.2.8)', () => {
    for (const t of [0x02, 0x06, 0x08, 0x09])
      expectH3(
        () => new FrameReader().push(encodeFrame(t, hex('00')), () => {}),
        H3.FRAME_UNEXPECTED,
      );
  });

  it('rejects payloads with missing or extra bytes with H3_FRAME_ERROR (§7.1)', () => {
    expectH3(
      () => new FrameReader().push(encodeFrame(FrameType.GOAWAY, hex('0800')), () => {}),
      H3.FRAME_ERROR,
    );
    expectH3(
      () => new FrameReader().push(encodeFrame(FrameType.GOAWAY, hex('')), () => {}),
      H3.FRAME_ERROR,
    );
    expectH3(
      () => new FrameReader().push(encodeFrame(FrameType.MAX_PUSH_ID, hex('40')), () => {}),
      H3.FRAME_ERROR,
    );
    expectH3(
      () => new FrameReader().push(encodeFrame(FrameType.SETTINGS, hex('06')), () => {}),
      H3.FRAME_ERROR,
    );
    expectH3(
      () => new FrameReader().push(encodeFrame(FrameType.PUSH_PROMISE, hex('')), () => {}),
      H3.FRAME_ERROR,
    );
  });

  it('rejects duplicate and HTTP/2 settings with H3_SETTINGS_ERROR (§7.2.4)', () => {
    for (const id of [0x02, 0x03, 0x04, 0x05])
      expectH3(
        () => new FrameReader().push(encodeFrame(4, Uint8Array.of(id, 0)), () => {}),
        H3.SETTINGS_ERROR,
      );
    expectH3(
      () => new FrameReader().push(encodeFrame(4, hex('0601 0602')), () => {}),
      H3.SETTINGS_ERROR,
    );
  });

  it('bounds buffered frames (H3_EXCESSIVE_LOAD)', () => {
    const r = new FrameReader({ maxHeaderBlock: 100, maxControlFrame: 10 });
    expectH3(() => r.push(frameHeader(FrameType.HEADERS, 101), () => {}), H3.EXCESSIVE_LOAD);
    expectH3(
      () => new FrameReader({ maxControlFrame: 10 }).push(frameHeader(4, 11), () => {}),
      H3.EXCESSIVE_LOAD,
    );
    // DATA and unknown frames of any size are streamed or skipped, not buffered.
    const big = new FrameReader({ maxControlFrame: 10 });
    big.push(frameHeader(0x21, 2 ** 40), () => {});
    big.push(new Uint8Array(1000), () => expect.fail('skipped frame produced output'));
    expect(big.atBoundary).to.equal(false);
  });

  it('reports a stream cut inside a frame (atBoundary false)', () => {
    const r = new FrameReader();
    r.push(frameHeader(0, 5).subarray(0, 1), () => {});
    expect(r.atBoundary).to.equal(false); // inside a frame header
    expect(new FrameReader().atBoundary).to.equal(true);
    const r2 = new FrameReader();
    r2.push(Buffer.concat([frameHeader(0, 5), hex('01')]), () => {});
    expect(r2.atBoundary).to.equal(false);
  });

  it('mutated frame streams give frames or an H3Error only', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (at, b, cut) => {
        const buf = Buffer.from(stream);
        buf[at % buf.length] = b;
        try {
          new FrameReader().push(buf.subarray(0, buf.length - (cut % 8)), () => {});
        } catch (e) {
          expect(e).to.be.instanceOf(H3Error);
        }
      }),
    );
  });

  it('knows the reserved identifiers 0x1f * N + 0x21 (§7.2.8)', () => {
    expect([0x21, 0x40, 0x5f, 0x1f * 1000 + 0x21].every(isReserved)).to.equal(true);
    expect([0x00, 0x20, 0x22, 0x41].some(isReserved)).to.equal(false);
  });
});

describe('hq-interop request codec', () => {
  it('formats and parses GET /path\\r\\n', () => {
    expect(Buffer.from(formatHqRequest('/a/b.txt')).toString()).to.equal('GET /a/b.txt\r\n');
    expect(parseHqRequest(Buffer.from('GET /a/b.txt\r\n'))).to.equal('/a/b.txt');
    expect(parseHqRequest(Buffer.from('GET /x'))).to.equal('/x');
    expect(parseHqRequest(Buffer.from('GET /%41%20b?q=1\r\n'))).to.equal('/A b');
  });

  it('rejects other methods, relative paths, traversal, NUL, bad escapes and long lines', () => {
    const bad = [
      'POST /x\r\n',
      'GET x\r\n',
      'GET /../etc/passwd\r\n',
      'GET /a/%2e%2e/b\r\n',
      'GET /a/%2E%2E\r\n',
      'GET /a/./b\r\n',
      'GET /a%00b\r\n',
      'GET /%zz\r\n',
      'GET /a b\r\n',
      'GET /\r\nGET /\r\n',
      'GET /' + 'a'.repeat(5000) + '\r\n',
    ];
    for (const b of bad) expect(() => parseHqRequest(Buffer.from(b)), b).to.throw(HqError);
    expect(() => formatHqRequest('x')).to.throw(TypeError);
    expect(() => formatHqRequest('/a b')).to.throw(TypeError);
  });

  it('gives a path or an HqError for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (d) => {
        try {
          const p = parseHqRequest(Buffer.concat([Buffer.from('GET /'), d]));
          expect(p.startsWith('/') && !p.includes('\0')).to.equal(true);
        } catch (e) {
          expect(e).to.be.instanceOf(HqError);
        }
      }),
    );
  });
});
