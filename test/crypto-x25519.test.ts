import { expect } from 'chai';
import { createECDH } from 'node:crypto';

import { KeyShareError, p256, p256KeyPair, x25519, x25519KeyPair } from '../lib/crypto/index.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

describe('crypto/x25519', () => {
  it('RFC 7748 §5.2 test vectors', () => {
    expect(
      x25519(
        hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'),
        hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'),
      ).toString('hex'),
    ).to.equal('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    expect(
      x25519(
        hex('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'),
        hex('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'),
      ).toString('hex'),
    ).to.equal('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957');
  });

  it('RFC 7748 §5.2 iterated: 1 and 1000 iterations', () => {
    let k: Buffer = Buffer.alloc(32);
    k[0] = 9;
    let u: Buffer = Buffer.from(k);
    for (let i = 1; i <= 1000; i++) {
      const next = x25519(k, u);
      u = k;
      k = next;
      if (i === 1)
        expect(k.toString('hex')).to.equal(
          '422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079',
        );
    }
    expect(k.toString('hex')).to.equal(
      '684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51',
    );
  });

  it('RFC 7748 §6.1 Diffie-Hellman', () => {
    const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
    const base = Buffer.alloc(32);
    base[0] = 9;
    const alicePub = x25519(alice, base);
    const bobPub = x25519(bob, base);
    expect(alicePub.toString('hex')).to.equal(
      '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
    );
    expect(bobPub.toString('hex')).to.equal(
      'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
    );
    const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
    expect(x25519(alice, bobPub).toString('hex')).to.equal(shared);
    expect(x25519(bob, alicePub).toString('hex')).to.equal(shared);
  });

  it('generated key pairs agree; public key is the base point multiple', () => {
    const a = x25519KeyPair();
    const b = x25519KeyPair();
    expect(a.privateKey.length).to.equal(32);
    expect(a.publicKey.length).to.equal(32);
    const base = Buffer.alloc(32);
    base[0] = 9;
    expect(x25519(a.privateKey, base).equals(a.publicKey)).to.equal(true);
    expect(x25519(a.privateKey, b.publicKey).equals(x25519(b.privateKey, a.publicKey))).to.equal(
      true,
    );
  });

  it('a small-order public key gives the all-zero secret (the caller rejects it)', () => {
    const { privateKey } = x25519KeyPair();
    expect(x25519(privateKey, Buffer.alloc(32)).equals(Buffer.alloc(32))).to.equal(true);
    const one = Buffer.alloc(32);
    one[0] = 1;
    expect(x25519(privateKey, one).equals(Buffer.alloc(32))).to.equal(true);
  });

  it('rejects wrong key lengths naming the argument', () => {
    expect(() => x25519(Buffer.alloc(31), Buffer.alloc(32))).to.throw(RangeError, /privateKey/);
    expect(() => x25519(Buffer.alloc(32), Buffer.alloc(33))).to.throw(RangeError, /publicKey/);
  });
});

describe('crypto/ecdh (P-256)', () => {
  it('agrees with node:crypto and between key pairs', () => {
    const a = p256KeyPair();
    const b = p256KeyPair();
    expect(a.privateKey.length).to.equal(32);
    expect(a.publicKey.length).to.equal(65);
    expect(a.publicKey[0]).to.equal(4);
    const s = p256(a.privateKey, b.publicKey);
    expect(s.length).to.equal(32);
    expect(s.equals(p256(b.privateKey, a.publicKey))).to.equal(true);
    const ref = createECDH('prime256v1');
    ref.setPrivateKey(a.privateKey);
    expect(s.equals(ref.computeSecret(b.publicKey))).to.equal(true);
  });

  it('invalid points are KeyShareError (illegal_parameter)', () => {
    const { privateKey, publicKey } = p256KeyPair();
    const offCurve = Buffer.from(publicKey);
    offCurve[64]! ^= 1;
    const compressed = Buffer.concat([
      Buffer.from([2 + (publicKey[64]! & 1)]),
      publicKey.subarray(1, 33),
    ]);
    for (const bad of [
      offCurve,
      compressed,
      Buffer.alloc(65),
      Buffer.alloc(0),
      publicKey.subarray(0, 64),
    ]) {
      let err: unknown;
      try {
        p256(privateKey, bad);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(KeyShareError);
      expect((err as KeyShareError).alert).to.equal('illegal_parameter');
    }
    expect(() => p256(Buffer.alloc(31), publicKey)).to.throw(RangeError, /privateKey/);
  });
});
