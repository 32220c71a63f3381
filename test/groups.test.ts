// Key-exchange groups: client and server agree for every group and backend, and the byte
// layouts of draft-ietf-tls-ecdhe-mlkem / draft-ietf-tls-mlkem hold, checked against an
// independent computation (node:crypto X25519 and P-256, @noble/post-quantum ML-KEM).
import { expect } from 'chai';
import {
  createECDH,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';

import {
  ClientKeyShare,
  GROUPS,
  KeyShareError,
  groupByCode,
  groupByName,
  serverKeyShare,
  type GroupName,
} from '../lib/crypto/groups.js';
import { BACKENDS, NOBLE, backendTitle, itFor, setCoefficient } from './kem-helpers.js';

// --- independent X25519 (node:crypto KeyObjects from raw keys) ---
const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
function xPublic(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64u(raw) }, format: 'jwk' });
}
function xKeyPair(): { priv: KeyObject; pub: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return {
    priv: privateKey,
    pub: Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'),
  };
}
const xdh = (priv: KeyObject, pubRaw: Uint8Array): Buffer =>
  diffieHellman({ privateKey: priv, publicKey: xPublic(pubRaw) });

function expectKeyShareError(fn: () => unknown, what: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, what).to.be.instanceOf(KeyShareError);
  expect((err as KeyShareError).alert).to.equal('illegal_parameter');
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('key-exchange groups', () => {
  // Code points: draft-ietf-tls-ecdhe-mlkem (hybrids), draft-ietf-tls-mlkem, RFC 8446 §4.2.7.
  it('has the IANA code points and share sizes, in table order', () => {
    expect(
      GROUPS.map((g) => [g.name, g.code, g.clientShareLength, g.serverShareLength]),
    ).to.deep.equal([
      ['X25519MLKEM768', 0x11ec, 1216, 1120],
      ['SecP256r1MLKEM768', 0x11eb, 1249, 1153],
      ['MLKEM768', 0x0201, 1184, 1088],
      ['MLKEM1024', 0x0202, 1568, 1568],
      ['X25519', 0x001d, 32, 32],
      ['secp256r1', 0x0017, 65, 65],
    ]);
    expect(GROUPS.filter((g) => g.postQuantum).map((g) => g.name)).to.deep.equal([
      'X25519MLKEM768',
      'SecP256r1MLKEM768',
      'MLKEM768',
      'MLKEM1024',
    ]);
    for (const g of GROUPS) {
      expect(groupByCode(g.code)).to.equal(g);
      expect(groupByName(g.name)).to.equal(g);
    }
    expect(groupByCode(0x1001)).to.equal(undefined); // the seed document's invented code points
    expect(groupByName('x25519mlkem768')).to.equal(undefined);
  });

  for (const info of BACKENDS) {
    const test = itFor(info);
    const opts = { backend: info.name };
    describe(backendTitle(info), () => {
      test('client and server agree in every group, shares of the table sizes', () => {
        for (const g of GROUPS) {
          for (let i = 0; i < 5; i++) {
            const c = ClientKeyShare.generate(g.name, opts);
            expect(c.group).to.equal(g);
            expect(c.share.length).to.equal(g.clientShareLength);
            const s = serverKeyShare(g.name, c.share, opts);
            expect(s.share.length).to.equal(g.serverShareLength);
            const secret = c.complete(s.share);
            expect(hex(secret), g.name).to.equal(hex(s.sharedSecret));
            expect(secret.length).to.equal(
              g.name.endsWith('MLKEM768') && g.name !== 'MLKEM768' ? 64 : 32,
            );
          }
        }
      });

      test('X25519MLKEM768: client ek‖x25519, server ct‖x25519, secret ML-KEM ss‖X25519 ss', () => {
        const noble = NOBLE['ML-KEM-768'];
        // our client against an independent server
        const c = ClientKeyShare.generate('X25519MLKEM768', opts);
        const ek = c.share.subarray(0, 1184);
        const m = randomBytes(32);
        const enc = noble.encapsulate(ek, m);
        const x = xKeyPair();
        const secret = c.complete(Buffer.concat([enc.cipherText, x.pub]));
        expect(hex(secret)).to.equal(
          hex(Buffer.concat([enc.sharedSecret, xdh(x.priv, c.share.subarray(1184))])),
        );
        // an independent client against our server
        const kp = noble.keygen();
        const xc = xKeyPair();
        const s = serverKeyShare('X25519MLKEM768', Buffer.concat([kp.publicKey, xc.pub]), opts);
        const kemSs = noble.decapsulate(s.share.subarray(0, 1088), kp.secretKey);
        expect(hex(s.sharedSecret)).to.equal(
          hex(Buffer.concat([kemSs, xdh(xc.priv, s.share.subarray(1088))])),
        );
      });

      test('SecP256r1MLKEM768: point‖ek, point‖ct, secret ECDH ss‖ML-KEM ss', () => {
        const noble = NOBLE['ML-KEM-768'];
        const c = ClientKeyShare.generate('SecP256r1MLKEM768', opts);
        expect(c.share[0]).to.equal(0x04);
        const enc = noble.encapsulate(c.share.subarray(65), randomBytes(32));
        const e = createECDH('prime256v1');
        const point = e.generateKeys();
        const secret = c.complete(Buffer.concat([point, enc.cipherText]));
        expect(hex(secret)).to.equal(
          hex(Buffer.concat([e.computeSecret(c.share.subarray(0, 65)), enc.sharedSecret])),
        );
        const kp = noble.keygen();
        const ec = createECDH('prime256v1');
        const cp = ec.generateKeys();
        const s = serverKeyShare('SecP256r1MLKEM768', Buffer.concat([cp, kp.publicKey]), opts);
        expect(s.share[0]).to.equal(0x04);
        const kemSs = noble.decapsulate(s.share.subarray(65), kp.secretKey);
        expect(hex(s.sharedSecret)).to.equal(
          hex(Buffer.concat([ec.computeSecret(s.share.subarray(0, 65)), kemSs])),
        );
      });

      test('MLKEM768 / MLKEM1024: share is ek, answer is ct, secret is the ML-KEM ss', () => {
        for (const [group, set] of [
          ['MLKEM768', 'ML-KEM-768'],
          ['MLKEM1024', 'ML-KEM-1024'],
        ] as const) {
          const noble = NOBLE[set];
          const c = ClientKeyShare.generate(group, opts);
          const enc = noble.encapsulate(c.share);
          expect(hex(c.complete(enc.cipherText))).to.equal(hex(enc.sharedSecret));
          const kp = noble.keygen();
          const s = serverKeyShare(group, kp.publicKey, opts);
          expect(hex(s.sharedSecret)).to.equal(hex(noble.decapsulate(s.share, kp.secretKey)));
        }
      });

      test('rejects a bad ML-KEM encapsulation key in a client share (KeyShareError)', () => {
        const kp = NOBLE['ML-KEM-768'].keygen();
        const bad = setCoefficient(kp.publicKey, 7, 4000);
        const x = xKeyPair();
        expectKeyShareError(
          () => serverKeyShare('X25519MLKEM768', Buffer.concat([bad, x.pub]), opts),
          'X25519MLKEM768',
        );
        const p = createECDH('prime256v1').generateKeys();
        expectKeyShareError(
          () => serverKeyShare('SecP256r1MLKEM768', Buffer.concat([p, bad]), opts),
          'SecP256r1MLKEM768',
        );
        expectKeyShareError(() => serverKeyShare('MLKEM768', bad, opts), 'MLKEM768');
        const kp1024 = NOBLE['ML-KEM-1024'].keygen();
        expectKeyShareError(
          () => serverKeyShare('MLKEM1024', setCoefficient(kp1024.publicKey, 1023, 3329), opts),
          'MLKEM1024',
        );
      });

      test('a tampered ML-KEM ciphertext gives the client a different secret, not an error', () => {
        const c = ClientKeyShare.generate('X25519MLKEM768', opts);
        const s = serverKeyShare('X25519MLKEM768', c.share, opts);
        const bad = Buffer.from(s.share);
        bad[100]! ^= 0x01;
        const secret = c.complete(bad);
        expect(hex(secret.subarray(0, 32))).to.not.equal(hex(s.sharedSecret.subarray(0, 32)));
        expect(hex(secret.subarray(32))).to.equal(hex(s.sharedSecret.subarray(32)));
      });
    });
  }

  describe('bad shares (default backend)', () => {
    it('a share of the wrong length is KeyShareError, on either side', () => {
      for (const g of GROUPS) {
        for (const len of [0, 1, g.clientShareLength - 1, g.clientShareLength + 1]) {
          expectKeyShareError(
            () => serverKeyShare(g.name, Buffer.alloc(len, 4)),
            `${g.name} ${len}`,
          );
        }
        const c = ClientKeyShare.generate(g.name);
        for (const len of [0, 1, g.serverShareLength - 1, g.serverShareLength + 1]) {
          expectKeyShareError(() => c.complete(Buffer.alloc(len, 4)), `${g.name} ${len}`);
        }
        // the failed attempts did not consume the key share
        const s = serverKeyShare(g.name, c.share);
        expect(hex(c.complete(s.share))).to.equal(hex(s.sharedSecret));
      }
    });

    it('an X25519 share giving an all-zero secret is KeyShareError (RFC 8446 §7.4.2)', () => {
      // small-order points of Curve25519 (RFC 7748 §6.1 requires the zero check)
      const lowOrder = [
        Buffer.alloc(32, 0),
        Buffer.concat([Buffer.from([1]), Buffer.alloc(31, 0)]),
        Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex'),
      ];
      for (const p of lowOrder) {
        expectKeyShareError(() => serverKeyShare('X25519', p), 'server X25519');
        expectKeyShareError(() => ClientKeyShare.generate('X25519').complete(p), 'client X25519');
        const kp = NOBLE['ML-KEM-768'].keygen();
        expectKeyShareError(
          () => serverKeyShare('X25519MLKEM768', Buffer.concat([kp.publicKey, p])),
          'server hybrid',
        );
        const c = ClientKeyShare.generate('X25519MLKEM768');
        const s = serverKeyShare('X25519MLKEM768', c.share);
        expectKeyShareError(
          () => c.complete(Buffer.concat([s.share.subarray(0, 1088), p])),
          'client hybrid',
        );
      }
    });

    it('an invalid P-256 point (not on the curve, or not uncompressed) is KeyShareError', () => {
      const good = createECDH('prime256v1').generateKeys();
      const offCurve = Buffer.from(good);
      offCurve[64]! ^= 1;
      const compressedTag = Buffer.from(good);
      compressedTag[0] = 0x02;
      const hybridTag = Buffer.from(good);
      hybridTag[0] = good[64]! & 1 ? 0x07 : 0x06; // X9.62 hybrid form: not allowed in TLS 1.3
      const zero = Buffer.concat([Buffer.from([4]), Buffer.alloc(64)]);
      for (const p of [offCurve, compressedTag, hybridTag, zero]) {
        expectKeyShareError(() => serverKeyShare('secp256r1', p), 'server P-256');
        expectKeyShareError(() => ClientKeyShare.generate('secp256r1').complete(p), 'client P-256');
        const kp = NOBLE['ML-KEM-768'].keygen();
        expectKeyShareError(
          () => serverKeyShare('SecP256r1MLKEM768', Buffer.concat([p, kp.publicKey])),
          'server hybrid',
        );
        const c = ClientKeyShare.generate('SecP256r1MLKEM768');
        const s = serverKeyShare('SecP256r1MLKEM768', c.share);
        expectKeyShareError(
          () => c.complete(Buffer.concat([p, s.share.subarray(65)])),
          'client hybrid',
        );
      }
    });

    it('a key share completes once; destroy() wipes it', () => {
      const c = ClientKeyShare.generate('X25519MLKEM768');
      const s = serverKeyShare('X25519MLKEM768', c.share);
      c.complete(s.share);
      expect(() => c.complete(s.share)).to.throw(Error, /completed or destroyed/);
      const d = ClientKeyShare.generate('X25519');
      d[Symbol.dispose]();
      expect(() => d.complete(serverKeyShare('X25519', d.share).share)).to.throw(
        Error,
        /completed or destroyed/,
      );
    });

    it('unknown groups and junk arguments are TypeErrors naming the argument', () => {
      for (const g of [undefined, null, 0, 0x11ec, 'x25519', 'X25519MLKEM', {}, [], 'toString']) {
        expect(() => ClientKeyShare.generate(g as GroupName), String(g)).to.throw(
          TypeError,
          /group/,
        );
        expect(() => serverKeyShare(g as GroupName, Buffer.alloc(32)), String(g)).to.throw(
          TypeError,
          /group/,
        );
      }
      for (const junk of [
        undefined,
        null,
        1,
        'abc',
        {},
        [1, 2],
        new Uint16Array(16),
        new ArrayBuffer(32),
      ]) {
        expect(() => serverKeyShare('X25519', junk as Uint8Array)).to.throw(
          TypeError,
          /clientShare/,
        );
        expect(() => ClientKeyShare.generate('X25519').complete(junk as Uint8Array)).to.throw(
          TypeError,
          /serverShare/,
        );
      }
      for (const bad of [null, 1, 'openssl']) {
        expect(() => ClientKeyShare.generate('X25519', bad as never)).to.throw(
          TypeError,
          /options/,
        );
        expect(() => ClientKeyShare.generate('MLKEM768', bad as never)).to.throw(
          TypeError,
          /options/,
        );
      }
      const Ctor = ClientKeyShare as unknown as new (...a: unknown[]) => unknown;
      expect(() => new Ctor()).to.throw(TypeError, /ClientKeyShare\.generate/);
      expect(() => new Ctor('X25519', Buffer.alloc(32))).to.throw(TypeError, /ClientKeyShare/);
      expect(() => ClientKeyShare.generate('MLKEM768', { backend: 'nope' as never })).to.throw(
        TypeError,
        /options\.backend/,
      );
    });
  });
});
