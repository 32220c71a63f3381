import { expect } from 'chai';
import { createCipheriv, randomBytes } from 'node:crypto';

import { Aead, type AeadAlgorithm } from '../lib/crypto/index.js';

const ALGS: [AeadAlgorithm, number][] = [
  ['aes-128-gcm', 16],
  ['aes-256-gcm', 32],
  ['chacha20-poly1305', 32],
];

describe('crypto/aead', () => {
  for (const [alg, keyLength] of ALGS) {
    it(`${alg}: seal matches node:crypto, open round-trips, tampering is null`, () => {
      const key = randomBytes(keyLength);
      const aead = new Aead(alg, key);
      for (const size of [0, 1, 15, 16, 17, 1000]) {
        const nonce = randomBytes(12);
        const aad = randomBytes(size % 23);
        const pt = randomBytes(size);
        const sealed = aead.seal(nonce, aad, pt);
        const c = createCipheriv(alg as 'aes-128-gcm', key, nonce, { authTagLength: 16 });
        c.setAAD(aad);
        const want = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
        expect(sealed.equals(want)).to.equal(true);
        expect(aead.open(nonce, aad, sealed)?.equals(pt)).to.equal(true);
        const bad = Buffer.from(sealed);
        bad[bad.length - 1]! ^= 0x80;
        expect(aead.open(nonce, aad, bad)).to.equal(null);
        expect(aead.open(nonce, Buffer.concat([aad, Buffer.from([0])]), sealed)).to.equal(null);
      }
      expect(aead.open(randomBytes(12), new Uint8Array(0), new Uint8Array(15))).to.equal(null);
      aead.destroy();
      expect(() => aead.seal(randomBytes(12), new Uint8Array(0), new Uint8Array(1))).to.throw(
        Error,
        /destroyed/,
      );
    });
  }

  it('rejects bad keys and nonces naming the argument', () => {
    expect(() => new Aead('aes-128-gcm', Buffer.alloc(15))).to.throw(RangeError, /key/);
    // @ts-expect-error wrong algorithm on purpose
    expect(() => new Aead('aes-128-cbc', Buffer.alloc(16))).to.throw(RangeError, /algorithm/);
    const aead = new Aead('aes-128-gcm', Buffer.alloc(16));
    expect(() => aead.seal(Buffer.alloc(8), Buffer.alloc(0), Buffer.alloc(1))).to.throw(
      RangeError,
      /nonce/,
    );
    using disposed = new Aead('chacha20-poly1305', Buffer.alloc(32));
    expect(disposed.seal(Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(1)).length).to.equal(17);
  });
});
