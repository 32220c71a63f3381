import { expect } from 'chai';
import fc from 'fast-check';

import {
  PacketKey,
  QUIC_V1,
  QUIC_V2,
  UNPROTECT_AUTH_FAILED,
  UNPROTECT_MALFORMED,
  type CipherSuiteName,
} from '../lib/crypto/index.js';

const SUITES: [CipherSuiteName, number][] = [
  ['TLS_AES_128_GCM_SHA256', 32],
  ['TLS_AES_256_GCM_SHA384', 48],
  ['TLS_CHACHA20_POLY1305_SHA256', 32],
];

// A packet the way the QUIC layer lays one out: header (long or short) ending with the
// truncated packet number, payload, room for the tag; somewhere inside a larger buffer.
const packetArb = fc
  .record({
    suite: fc.integer({ min: 0, max: 2 }),
    version: fc.constantFrom(QUIC_V1, QUIC_V2),
    longHeader: fc.boolean(),
    pnLength: fc.integer({ min: 1, max: 4 }),
    headerBody: fc.uint8Array({ minLength: 0, maxLength: 40 }),
    payload: fc.uint8Array({ minLength: 3, maxLength: 300 }),
    largestPn: fc.integer({ min: -1, max: 2 ** 40 }),
    ahead: fc.integer({ min: 1, max: 100 }),
    offset: fc.integer({ min: 0, max: 17 }),
    secret: fc.uint8Array({ minLength: 48, maxLength: 48 }),
  })
  .filter((p) => p.payload.length + p.pnLength >= 4);

describe('crypto/packet properties', () => {
  it('protect then unprotect restores header, payload and the full packet number', () => {
    fc.assert(
      fc.property(packetArb, (p) => {
        const [suite, secretLength] = SUITES[p.suite]!;
        const secret = p.secret.subarray(0, secretLength);
        const tx = PacketKey.fromSecret(suite, secret, p.version);
        const rx = PacketKey.fromSecret(suite, secret, p.version);
        const pn = p.largestPn + p.ahead;
        const first = (p.longHeader ? 0xc0 : 0x40) | (p.pnLength - 1);
        const truncated = Array.from(
          { length: p.pnLength },
          (_, i) => Math.floor(pn / 2 ** (8 * (p.pnLength - 1 - i))) % 256,
        );
        const header = Uint8Array.from([first, ...p.headerBody, ...truncated]);
        const buf = new Uint8Array(p.offset + header.length + p.payload.length + 16 + 5);
        buf.set(header, p.offset);
        buf.set(p.payload, p.offset + header.length);
        const len = tx.protect(buf, p.offset, header.length, p.pnLength, p.payload.length, pn);
        expect(len).to.equal(header.length + p.payload.length + 16);
        const end = p.offset + len;
        const pnOffset = header.length - p.pnLength;
        const keyPhase = p.longHeader ? -1 : 0;
        const got = rx.unprotect(buf, p.offset, pnOffset, end, p.largestPn, keyPhase);
        expect(got).to.equal(pn);
        expect(
          Buffer.from(buf.subarray(p.offset, p.offset + header.length)).equals(header),
        ).to.equal(true);
        const plain = buf.subarray(p.offset + header.length, end - 16);
        expect(Buffer.from(plain).equals(p.payload)).to.equal(true);
        tx.destroy();
        rx.destroy();
      }),
      { numRuns: 300 },
    );
  });

  it('a changed byte anywhere in a protected packet is never accepted', () => {
    fc.assert(
      fc.property(packetArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (p, where, xor) => {
        const [suite, secretLength] = SUITES[p.suite]!;
        const key = PacketKey.fromSecret(suite, p.secret.subarray(0, secretLength), p.version);
        const header = Uint8Array.from([
          (p.longHeader ? 0xc0 : 0x40) | (p.pnLength - 1),
          ...p.headerBody,
          ...new Array<number>(p.pnLength).fill(0),
        ]);
        const buf = new Uint8Array(header.length + p.payload.length + 16);
        buf.set(header);
        buf.set(p.payload, header.length);
        const len = key.protect(buf, 0, header.length, p.pnLength, p.payload.length, 0);
        buf[where % len]! ^= xor;
        const r = key.unprotect(buf, 0, header.length - p.pnLength, len, -1);
        expect(r === UNPROTECT_AUTH_FAILED || r === UNPROTECT_MALFORMED, `result ${r}`).to.equal(
          true,
        );
        key.destroy();
      }),
      { numRuns: 300 },
    );
  });
});
