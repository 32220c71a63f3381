// QPACK (RFC 9204) with the static table only, and the HPACK Huffman code it uses (RFC 7541):
// RFC test vectors, the static table, byte-exact encoder output, property round trips, and
// hostile input giving only H3Error.
import { expect } from 'chai';
import fc from 'fast-check';

import { H3, H3Error } from '../lib/h3/errors.js';
import {
  DecoderStreamReader,
  EncoderStreamReader,
  decodeFieldSection,
  encodeFieldSection,
  readPrefixInt,
  writePrefixInt,
  type Field,
} from '../lib/h3/qpack.js';
import {
  HUFFMAN_CODES,
  HUFFMAN_LENGTHS,
  huffmanDecode,
  huffmanEncode,
  huffmanLength,
} from '../lib/h3/qpack/huffman.js';
import { STATIC_TABLE } from '../lib/h3/qpack/static-table.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const LIMITS = { maxSize: 65536, maxFields: 1000 };

function huff(s: string): string {
  const data = Buffer.from(s, 'latin1');
  const out = new Uint8Array(huffmanLength(data));
  expect(huffmanEncode(data, out, 0)).to.equal(out.length);
  return Buffer.from(out).toString('hex');
}

/** `fn` throws a H3Error with this code. */
const expectH3 = (fn: () => unknown, code: number) =>
  expect(fn).to.throw(H3Error).with.property('code', code);

describe('QPACK Huffman code (RFC 7541 Appendix B)', () => {
  // RFC 7541 Appendix C.4 (requests) and C.6 (responses): Huffman-coded string literals.
  const VECTORS: [string, string][] = [
    ['www.example.com', 'f1e3 c2e5 f23a 6ba0 ab90 f4ff'],
    ['no-cache', 'a8eb 1064 9cbf'],
    ['custom-key', '25a8 49e9 5ba9 7d7f'],
    ['custom-value', '25a8 49e9 5bb8 e8b4 bf'],
    ['302', '6402'],
    ['307', '640e ff'],
    ['private', 'aec3 771a 4b'],
    ['Mon, 21 Oct 2013 20:13:21 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff'],
    ['Mon, 21 Oct 2013 20:13:22 GMT', 'd07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff'],
    ['https://www.example.com', '9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3'],
    ['gzip', '9bd9 ab'],
    [
      'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
      '94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07',
    ],
  ];

  it('encodes and decodes the Appendix C.4 / C.6 strings', () => {
    for (const [text, coded] of VECTORS) {
      expect(huff(text), text).to.equal(hex(coded).toString('hex'));
      expect(Buffer.from(huffmanDecode(hex(coded))).toString('latin1')).to.equal(text);
    }
  });

  it('has the Appendix B codes (spot checks, EOS included)', () => {
    const codes: [number, number, number][] = [
      [0, 0x1ff8, 13],
      [9, 0xffffea, 24],
      [10, 0x3ffffffc, 30],
      [32, 0x14, 6],
      [48, 0x0, 5],
      [97, 0x3, 5],
      [127, 0xffffffc, 28],
      [128, 0xfffe6, 20],
      [195, 0x7fff1, 19],
      [255, 0x3ffffee, 26],
      [256, 0x3fffffff, 30],
    ];
    for (const [sym, code, len] of codes) {
      expect([HUFFMAN_CODES[sym], HUFFMAN_LENGTHS[sym]], `symbol ${sym}`).to.deep.equal([
        code,
        len,
      ]);
    }
  });

  it('round-trips any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const out = new Uint8Array(huffmanLength(data));
        huffmanEncode(data, out, 0);
        expect(Buffer.from(huffmanDecode(out)).equals(Buffer.from(data))).to.equal(true);
      }),
    );
  });

  it('rejects EOS, padding longer than 7 bits and padding that is not all ones (§5.2)', () => {
    const F = H3.QPACK_DECOMPRESSION_FAILED;
    expect(Buffer.from(huffmanDecode(hex('1f'))).toString()).to.equal('a'); // 00011 + 111
    expectH3(() => huffmanDecode(hex('1fff')), F); // 11 bits of padding
    expectH3(() => huffmanDecode(hex('ff')), F); // 8 bits of padding
    expectH3(() => huffmanDecode(hex('18')), F); // 00011 + 000
    expectH3(() => huffmanDecode(hex('1e')), F); // 00011 + 110
    expectH3(() => huffmanDecode(hex('ffffffff')), F); // EOS (30 ones) + 2
    expectH3(() => huffmanDecode(hex('1fffffffff')), F); // 'a' then EOS
  });

  it('decodes any bytes to a string or an H3Error, never more than the limit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(40), (data, max) => {
        try {
          expect(huffmanDecode(data, max).length).to.be.at.most(max + 1);
        } catch (e) {
          expect(e).to.be.instanceOf(H3Error);
        }
      }),
    );
  });
});

describe('QPACK static table (RFC 9204 Appendix A)', () => {
  it('has 99 entries at the RFC indices', () => {
    expect(STATIC_TABLE).to.have.length(99);
    const spots: [number, string, string][] = [
      [0, ':authority', ''],
      [1, ':path', '/'],
      [2, 'age', '0'],
      [15, ':method', 'CONNECT'],
      [17, ':method', 'GET'],
      [20, ':method', 'POST'],
      [23, ':scheme', 'https'],
      [25, ':status', '200'],
      [31, 'accept-encoding', 'gzip, deflate, br'],
      [52, 'content-type', 'text/html; charset=utf-8'],
      [58, 'strict-transport-security', 'max-age=31536000; includesubdomains; preload'],
      [63, ':status', '100'],
      [71, ':status', '500'],
      [85, 'content-security-policy', "script-src 'none'; object-src 'none'; base-uri 'none'"],
      [95, 'user-agent', ''],
      [98, 'x-frame-options', 'sameorigin'],
    ];
    for (const [i, name, value] of spots)
      expect(STATIC_TABLE[i], `index ${i}`).to.deep.equal([name, value]);
  });
});

describe('QPACK prefixed integers (RFC 7541 §5.1, Appendix C.1)', () => {
  it('encodes the C.1 examples', () => {
    const w = (v: number, n: number): string => {
      const out = new Uint8Array(10);
      return Buffer.from(out.subarray(0, writePrefixInt(out, 0, v, n, 0))).toString('hex');
    };
    expect(w(10, 5)).to.equal('0a');
    expect(w(1337, 5)).to.equal('1f9a0a');
    expect(w(42, 8)).to.equal('2a');
    expect(readPrefixInt(hex('1f9a0a'), 0, 5, 0x200).value).to.equal(1337);
    expect(readPrefixInt(hex('1f9a'), 0, 5, 0x200).next).to.equal(-1);
  });

  it('round-trips any safe integer and prefix', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.integer({ min: 1, max: 8 }), (v, n) => {
        const out = new Uint8Array(12);
        const end = writePrefixInt(out, 0, v, n, 0);
        const r = readPrefixInt(out, 0, n, 0x200);
        expect([r.value, r.next]).to.deep.equal([v, end]);
      }),
    );
  });

  it('rejects integers above 2^53 - 1', () => {
    expectH3(() => readPrefixInt(hex('1fffffffffffffffffff7f'), 0, 5, 0x200), 0x200);
  });
});

describe('QPACK field sections (RFC 9204 §4.5)', () => {
  it('encodes the Appendix B.1 section byte-exact (no Huffman)', () => {
    // B.1: Required Insert Count 0, Base 0; Literal Field Line with Name Reference, static
    // index 1 (:path=/index.html).
    const out = encodeFieldSection([[':path', '/index.html']], { huffman: false });
    expect(Buffer.from(out).toString('hex')).to.equal('0000510b2f696e6465782e68746d6c');
    expect(decodeFieldSection(out, LIMITS)).to.deep.equal([[':path', '/index.html']]);
  });

  it('uses indexed static lines, static name references, literal names and Huffman', () => {
    const fields: Field[] = [
      [':method', 'GET'], // indexed 17
      [':path', '/index.html'], // name ref 1, Huffman (8 < 11 bytes)
      ['x-custom', 'a'], // literal name
    ];
    const out = Buffer.from(encodeFieldSection(fields));
    expect(out.subarray(0, 3).toString('hex')).to.equal('0000d1');
    expect(out[3]).to.equal(0x51);
    expect(out[4]).to.equal(0x80 | 8); // H=1, 8 bytes
    expect(out[13]! & 0xe8).to.equal(0x28); // 001 N=0 H=1
    expect(decodeFieldSection(out, LIMITS)).to.deep.equal(fields);
  });

  const name = fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,20}$/);
  const value = fc.string({
    unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
    maxLength: 40,
  });
  const staticField = fc.constantFrom(...STATIC_TABLE).chain(([n, v]) =>
    fc.oneof(
      fc.constant([n, v] as Field),
      value.map((x) => [n, x] as Field),
    ),
  );
  const fields = fc.array(fc.oneof(staticField, fc.tuple(name, value)), { maxLength: 20 });

  it('round-trips any field list, with and without Huffman', () => {
    fc.assert(
      fc.property(fields, fc.boolean(), (fl, huffman) => {
        expect(decodeFieldSection(encodeFieldSection(fl, { huffman }), LIMITS)).to.deep.equal(fl);
      }),
    );
  });

  it('mutated input gives fields or an H3Error, nothing else', () => {
    fc.assert(
      fc.property(
        fields,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(),
        (fl, muts, cut) => {
          const buf = Buffer.from(encodeFieldSection(fl));
          for (const [at, b] of muts) buf[at % buf.length] = b;
          try {
            const out = decodeFieldSection(
              buf.subarray(0, Math.max(2, buf.length - (cut % 4))),
              LIMITS,
            );
            expect(out).to.be.an('array');
          } catch (e) {
            expect(e).to.be.instanceOf(H3Error);
          }
        },
      ),
    );
  });

  it('any dynamic table reference or Required Insert Count != 0 is QPACK_DECOMPRESSION_FAILED', () => {
    const F = H3.QPACK_DECOMPRESSION_FAILED;
    expectH3(() => decodeFieldSection(hex('0100d1'), LIMITS), F); // RIC 1
    expectH3(() => decodeFieldSection(hex('0080d1'), LIMITS), F); // S=1 (negative Base)
    expectH3(() => decodeFieldSection(hex('000080'), LIMITS), F); // indexed, dynamic
    expectH3(() => decodeFieldSection(hex('000010'), LIMITS), F); // indexed post-Base
    expectH3(() => decodeFieldSection(hex('00004000'), LIMITS), F); // name ref, dynamic
    expectH3(() => decodeFieldSection(hex('00000000'), LIMITS), F); // name ref post-Base
    expectH3(() => decodeFieldSection(hex('0000ff24'), LIMITS), F); // static index 99
    expectH3(() => decodeFieldSection(hex('00'), LIMITS), F); // truncated prefix
    expectH3(() => decodeFieldSection(hex('0000510b2f69'), LIMITS), F); // truncated value
  });

  it('enforces the field section size and field count limits (H3_EXCESSIVE_LOAD stream error)', () => {
    const fl: Field[] = [['x-a', 'b'.repeat(100)]];
    const enc = encodeFieldSection(fl);
    expect(decodeFieldSection(enc, { maxSize: 135, maxFields: 1 })).to.deep.equal(fl);
    expectH3(() => decodeFieldSection(enc, { maxSize: 134, maxFields: 1 }), H3.EXCESSIVE_LOAD);
    const two = encodeFieldSection([
      [':method', 'GET'],
      [':path', '/'],
    ]);
    expectH3(() => decodeFieldSection(two, { maxSize: 1000, maxFields: 1 }), H3.EXCESSIVE_LOAD);
    try {
      decodeFieldSection(two, { maxSize: 1000, maxFields: 1 });
    } catch (e) {
      expect((e as H3Error).stream).to.equal(true);
    }
  });
});

describe('QPACK encoder and decoder streams (RFC 9204 §4.3, §4.4)', () => {
  it('accepts Set Dynamic Table Capacity 0; capacity 31 split across chunks is an error', () => {
    const r = new EncoderStreamReader();
    r.push(hex('20'));
    r.push(hex('3f')); // capacity >= 31: incomplete
    expectH3(() => r.push(hex('00')), H3.QPACK_ENCODER_STREAM_ERROR); // = 31
  });

  it('rejects inserts, duplicates and capacity > 0 (QPACK_ENCODER_STREAM_ERROR)', () => {
    for (const b of ['c0', '4161', '00', '21'])
      expectH3(() => new EncoderStreamReader().push(hex(b)), H3.QPACK_ENCODER_STREAM_ERROR);
  });

  it('accepts Stream Cancellation, rejects Section Ack and Insert Count Increment', () => {
    const r = new DecoderStreamReader();
    r.push(hex('44')); // cancel stream 4
    r.push(hex('7f')); // stream id >= 63: incomplete
    r.push(hex('01'));
    for (const b of ['84', '01', '00'])
      expectH3(() => new DecoderStreamReader().push(hex(b)), H3.QPACK_DECODER_STREAM_ERROR);
  });

  it('never buffers more than one integer', () => {
    const r = new EncoderStreamReader();
    expectH3(() => r.push(hex('3f' + 'ff'.repeat(12))), H3.QPACK_ENCODER_STREAM_ERROR);
  });
});
