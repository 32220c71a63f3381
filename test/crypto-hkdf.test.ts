import { expect } from 'chai';
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';

import { hashLength, hkdfExpand, hkdfExpandLabel, hkdfExtract } from '../lib/crypto/index.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const range = (from: number, n: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => from + i));

// RFC 5869 Appendix A, test cases 1-3 (SHA-256).
const CASES = [
  {
    name: 'A.1 basic',
    ikm: Buffer.alloc(22, 0x0b),
    salt: range(0x00, 13),
    info: range(0xf0, 10),
    length: 42,
    prk: '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5',
    okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
  },
  {
    name: 'A.2 longer inputs',
    ikm: range(0x00, 80),
    salt: range(0x60, 80),
    info: range(0xb0, 80),
    length: 82,
    prk: '06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244',
    okm:
      'b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c' +
      '59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71' +
      'cc30c58179ec3e87c14c01d5c1f3434f1d87',
  },
  {
    name: 'A.3 zero-length salt and info',
    ikm: Buffer.alloc(22, 0x0b),
    salt: Buffer.alloc(0),
    info: Buffer.alloc(0),
    length: 42,
    prk: '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04',
    okm: '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8',
  },
];

describe('crypto/hkdf', () => {
  for (const c of CASES) {
    it(`RFC 5869 ${c.name} (SHA-256)`, () => {
      const prk = hkdfExtract('sha256', c.salt, c.ikm);
      expect(prk.toString('hex')).to.equal(c.prk);
      expect(hkdfExpand('sha256', prk, c.info, c.length).toString('hex')).to.equal(c.okm);
    });
  }

  it('matches node:crypto HKDF for SHA-256/384, all lengths, long keys', () => {
    for (const hash of ['sha256', 'sha384'] as const) {
      for (const saltLen of [0, 1, 48, 129, 200]) {
        const salt = randomBytes(saltLen);
        const ikm = randomBytes(37);
        const info = randomBytes(saltLen % 50);
        const prk = hkdfExtract(hash, salt, ikm);
        expect(prk.length).to.equal(hashLength(hash));
        expect(prk.equals(createHmac(hash, salt).update(ikm).digest())).to.equal(true);
        expect(hkdfExpand(hash, prk, info, 0).length).to.equal(0);
        for (const length of [1, 31, 32, 48, 49, 255, 1000]) {
          const want = Buffer.from(hkdfSync(hash, ikm, salt, info, length));
          expect(hkdfExpand(hash, prk, info, length).equals(want), `${hash} ${length}`).to.equal(
            true,
          );
        }
      }
    }
  });

  it('HKDF-Expand-Label builds the RFC 8446 §7.1 HkdfLabel', () => {
    // RFC 9001 Appendix A.1 shows the HkdfLabel of "quic key" (length 16, empty context).
    const secret = randomBytes(32);
    const info = hex('00100e746c7331332071756963206b657900');
    expect(
      hkdfExpandLabel('sha256', secret, 'quic key', new Uint8Array(0), 16).equals(
        hkdfExpand('sha256', secret, info, 16),
      ),
    ).to.equal(true);
    const ctx = randomBytes(48);
    const label = Buffer.concat([
      hex('0030'),
      Buffer.from([6 + 12]),
      Buffer.from('tls13 c hs traffic'),
      Buffer.from([48]),
      ctx,
    ]);
    const s384 = randomBytes(48);
    expect(
      hkdfExpandLabel('sha384', s384, 'c hs traffic', ctx, 48).equals(
        hkdfExpand('sha384', s384, label, 48),
      ),
    ).to.equal(true);
  });

  it('rejects bad arguments with errors naming them', () => {
    const k = Buffer.alloc(32);
    // @ts-expect-error wrong hash on purpose
    expect(() => hkdfExtract('md5', k, k)).to.throw(RangeError, /hash/);
    // @ts-expect-error wrong type on purpose
    expect(() => hkdfExtract('sha256', 'salt', k)).to.throw(TypeError, /salt/);
    expect(() => hkdfExpand('sha256', k.subarray(0, 31), k, 10)).to.throw(RangeError, /prk/);
    expect(() => hkdfExpand('sha256', k, k, 255 * 32 + 1)).to.throw(RangeError, /length/);
    expect(() => hkdfExpand('sha256', k, k, 1.5)).to.throw(RangeError, /length/);
    expect(() => hkdfExpandLabel('sha256', k, 'x'.repeat(250), k, 32)).to.throw(
      RangeError,
      /label/,
    );
    expect(() => hkdfExpandLabel('sha256', k, 'x', Buffer.alloc(256), 32)).to.throw(
      RangeError,
      /context/,
    );
    // @ts-expect-error wrong hash on purpose
    expect(() => hashLength('sha1')).to.throw(TypeError, /hash/);
  });
});
