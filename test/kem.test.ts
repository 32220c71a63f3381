// ML-KEM (FIPS 203) on every backend, checked against @noble/post-quantum, an independent
// implementation: deterministic keygen/encapsulation byte-equal for >= 1000 random seeds per
// parameter set, decapsulation of noble's ciphertexts, implicit rejection, the §7.2/§7.3
// input checks, and interoperability between every pair of available backends.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';

import { KeyShareError } from '../lib/crypto/errors.js';
import { defaultKemBackend, kemBackends, mlkem, type MlKem } from '../lib/crypto/mlkem.js';
import {
  AVAILABLE,
  BACKENDS,
  NOBLE,
  SETS,
  backendTitle,
  itFor,
  setCoefficient,
} from './kem-helpers.js';

const SEEDS = 1000;

interface Vector {
  seed: Buffer;
  m: Buffer;
  ek: Uint8Array;
  dk: Uint8Array;
  ct: Uint8Array;
  ss: Uint8Array;
}

// noble's outputs for SEEDS random (d ‖ z, m) per parameter set, computed once.
const vectors = new Map<string, Vector[]>();
function oracle(set: (typeof SETS)[number]): Vector[] {
  let v = vectors.get(set);
  if (!v) {
    v = [];
    const kem = NOBLE[set];
    for (let i = 0; i < SEEDS; i++) {
      const seed = randomBytes(64);
      const m = randomBytes(32);
      const { publicKey, secretKey } = kem.keygen(seed);
      const { cipherText, sharedSecret } = kem.encapsulate(publicKey, m);
      v.push({ seed, m, ek: publicKey, dk: secretKey, ct: cipherText, ss: sharedSecret });
    }
    vectors.set(set, v);
  }
  return v;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

describe('ML-KEM backends', () => {
  it('lists liboqs, openssl, liboqs-wasm fastest first, each available or with a reason', () => {
    const list = kemBackends();
    expect(list.map((b) => b.name)).to.deep.equal(['liboqs', 'openssl', 'liboqs-wasm']);
    for (const b of list) {
      if (b.available) expect(b.reason).to.equal(undefined);
      else expect(b.reason).to.be.a('string').and.not.equal('');
    }
    expect(list[2]!.available, 'liboqs-wasm is always available').to.equal(true);
  });

  it('reports openssl available exactly when the running Node bundles OpenSSL >= 3.5', () => {
    const [major, minor] = process.versions.openssl.split('.').map(Number) as [number, number];
    const has = major > 3 || (major === 3 && minor >= 5);
    const info = kemBackends().find((b) => b.name === 'openssl')!;
    expect(info.available, info.reason).to.equal(has);
    if (!has) expect(info.reason).to.match(/has no ML-KEM/);
  });

  it('says why liboqs is missing when the build did not find it', () => {
    const info = kemBackends().find((b) => b.name === 'liboqs')!;
    if (!info.available)
      expect(info.reason).to.match(
        /^liboqs not compiled in: pkg-config found no liboqs$|^liboqs runtime library not loadable/,
      );
    else expect(info.version).to.match(/^liboqs \d+\.\d+/);
  });

  describe('selection', () => {
    const saved = process.env['ZQUIC_KEM_BACKEND'];
    afterEach(() => {
      if (saved === undefined) delete process.env['ZQUIC_KEM_BACKEND'];
      else process.env['ZQUIC_KEM_BACKEND'] = saved;
    });

    it('defaults to the fastest available backend', () => {
      delete process.env['ZQUIC_KEM_BACKEND'];
      expect(defaultKemBackend()).to.equal(AVAILABLE[0]!.name);
      expect(mlkem('ML-KEM-768').backend).to.equal(AVAILABLE[0]!.name);
      process.env['ZQUIC_KEM_BACKEND'] = 'auto';
      expect(defaultKemBackend()).to.equal(AVAILABLE[0]!.name);
    });

    it('honours ZQUIC_KEM_BACKEND and options.backend (option first)', () => {
      process.env['ZQUIC_KEM_BACKEND'] = 'liboqs-wasm';
      expect(defaultKemBackend()).to.equal('liboqs-wasm');
      expect(mlkem('ML-KEM-512').backend).to.equal('liboqs-wasm');
      for (const b of AVAILABLE)
        expect(mlkem('ML-KEM-512', { backend: b.name }).backend).to.equal(b.name);
    });

    it('rejects an unknown name (TypeError) and an unavailable backend (Error with the reason)', () => {
      process.env['ZQUIC_KEM_BACKEND'] = 'nope';
      expect(() => defaultKemBackend()).to.throw(TypeError, /ZQUIC_KEM_BACKEND/);
      expect(() => mlkem('ML-KEM-768')).to.throw(TypeError, /ZQUIC_KEM_BACKEND/);
      delete process.env['ZQUIC_KEM_BACKEND'];
      expect(() => mlkem('ML-KEM-768', { backend: 'x' as never })).to.throw(
        TypeError,
        /options\.backend/,
      );
      for (const b of BACKENDS.filter((x) => !x.available))
        expect(() => mlkem('ML-KEM-768', { backend: b.name })).to.throw(Error, b.reason!);
    });
  });

  for (const info of BACKENDS) {
    const test = itFor(info);
    describe(backendTitle(info), () => {
      for (const set of SETS) {
        describe(set, () => {
          const kem = (): MlKem => mlkem(set, { backend: info.name });
          const noble = NOBLE[set];

          test('has the FIPS 203 sizes', () => {
            const k = kem();
            expect(k.parameterSet).to.equal(set);
            expect(k.backend).to.equal(info.name);
            const { encapsulationKey, decapsulationKey } = k.keygen();
            expect(encapsulationKey.length).to.equal(k.encapsulationKeyLength);
            expect(decapsulationKey.length).to.equal(k.decapsulationKeyLength);
            const { ciphertext, sharedSecret } = k.encapsulate(encapsulationKey);
            expect(ciphertext.length).to.equal(k.ciphertextLength);
            expect(sharedSecret.length).to.equal(32);
          });

          if (info.deterministic) {
            test(`keygen from ${SEEDS} random seeds d‖z equals @noble/post-quantum`, () => {
              const k = kem();
              for (const v of oracle(set)) {
                const { encapsulationKey, decapsulationKey } = k.keygen(v.seed);
                if (!encapsulationKey.equals(v.ek) || !decapsulationKey.equals(v.dk))
                  expect.fail(`keygen differs for seed ${hex(v.seed)}`);
              }
            });

            test(`encapsulation with ${SEEDS} random m equals @noble/post-quantum`, () => {
              const k = kem();
              for (const v of oracle(set)) {
                const { ciphertext, sharedSecret } = k.encapsulate(v.ek, v.m);
                if (!ciphertext.equals(v.ct) || !sharedSecret.equals(v.ss))
                  expect.fail(`encapsulation differs for seed ${hex(v.seed)} m ${hex(v.m)}`);
              }
            });

            test('generateKeyPair(seed) gives the same encapsulation key as keygen(seed)', () => {
              const v = oracle(set)[0]!;
              const kp = kem().generateKeyPair(v.seed);
              expect(hex(kp.encapsulationKey)).to.equal(hex(v.ek));
              expect(hex(kp.decapsulate(v.ct))).to.equal(hex(v.ss));
              kp.destroy();
            });
          } else {
            test('refuses seeded keygen and encapsulation (its build has no _derand)', () => {
              const k = kem();
              expect(k.deterministic).to.equal(false);
              expect(() => k.keygen(Buffer.alloc(64))).to.throw(Error, /_derand/);
              const { encapsulationKey } = k.keygen();
              expect(() => k.encapsulate(encapsulationKey, Buffer.alloc(32))).to.throw(
                Error,
                /_derand/,
              );
            });
          }

          test(`decapsulates noble's ${SEEDS} ciphertexts to noble's secrets`, () => {
            const k = kem();
            for (const v of oracle(set)) {
              if (!k.decapsulate(v.dk, v.ct).equals(v.ss))
                expect.fail(`decapsulation differs for seed ${hex(v.seed)} m ${hex(v.m)}`);
            }
          });

          test('round trips with random keys, and interoperates with noble both ways', () => {
            const k = kem();
            for (let i = 0; i < 20; i++) {
              const { encapsulationKey, decapsulationKey } = k.keygen();
              const a = k.encapsulate(encapsulationKey);
              expect(hex(k.decapsulate(decapsulationKey, a.ciphertext))).to.equal(
                hex(a.sharedSecret),
              );
              // our keys, noble encapsulates
              const b = noble.encapsulate(encapsulationKey);
              expect(hex(k.decapsulate(decapsulationKey, b.cipherText))).to.equal(
                hex(b.sharedSecret),
              );
              // noble's keys, we encapsulate, noble decapsulates
              const n = noble.keygen();
              const c = k.encapsulate(n.publicKey);
              expect(hex(noble.decapsulate(c.ciphertext, n.secretKey))).to.equal(
                hex(c.sharedSecret),
              );
            }
          });

          test('generateKeyPair decapsulates, and refuses once destroyed', () => {
            const k = kem();
            const kp = k.generateKeyPair();
            const e = k.encapsulate(kp.encapsulationKey);
            expect(hex(kp.decapsulate(e.ciphertext))).to.equal(hex(e.sharedSecret));
            kp[Symbol.dispose]();
            expect(() => kp.decapsulate(e.ciphertext)).to.throw(Error, /destroyed/);
            kp.destroy(); // twice is fine
          });

          test('a tampered ciphertext gives a different secret, no error (implicit rejection)', () => {
            const k = kem();
            const v = oracle(set);
            for (let i = 0; i < 50; i++) {
              const { dk, ct, ss } = v[i]!;
              const bad = Buffer.from(ct);
              const bit = (i * 7919) % (bad.length * 8);
              bad[bit >> 3]! ^= 1 << (bit & 7);
              const got = k.decapsulate(dk, bad);
              expect(got.length).to.equal(32);
              expect(hex(got)).to.not.equal(hex(ss));
              // FIPS 203 §6.3: the rejection secret is J(z ‖ c), the same in every implementation
              expect(hex(got)).to.equal(hex(noble.decapsulate(bad, dk)));
            }
          });

          test('rejects a malformed encapsulation key (FIPS 203 §7.2) with KeyShareError', () => {
            const k = kem();
            const { ek } = oracle(set)[0]!;
            expect(k.checkEncapsulationKey(ek)).to.equal(true);
            const n = 256 * Number(set === 'ML-KEM-512' ? 2 : set === 'ML-KEM-768' ? 3 : 4);
            for (const [index, value, ok] of [
              [0, 3328, true],
              [0, 3329, false],
              [1, 4095, false],
              [n - 1, 3329, false],
              [n - 2, 0xfff, false],
              [n >> 1, 3328, true],
            ] as const) {
              const bad = setCoefficient(ek, index, value);
              expect(k.checkEncapsulationKey(bad), `coefficient ${index} = ${value}`).to.equal(ok);
              if (ok) expect(k.encapsulate(bad).ciphertext.length).to.equal(k.ciphertextLength);
              else {
                let err: unknown;
                try {
                  k.encapsulate(bad);
                } catch (e) {
                  err = e;
                }
                expect(err).to.be.instanceOf(KeyShareError);
                expect((err as KeyShareError).alert).to.equal('illegal_parameter');
              }
            }
            expect(k.checkEncapsulationKey(ek.subarray(1))).to.equal(false);
          });

          test('rejects a decapsulation key failing the FIPS 203 §7.3 hash check (RangeError)', () => {
            const k = kem();
            const { dk, ct } = oracle(set)[1]!;
            const kk = set === 'ML-KEM-512' ? 2 : set === 'ML-KEM-768' ? 3 : 4;
            for (const offset of [384 * kk + 5, 768 * kk + 32 + 3]) {
              // a byte of the embedded ek, then a byte of H(ek)
              const bad = Buffer.from(dk);
              bad[offset]! ^= 0x40;
              expect(() => k.decapsulate(bad, ct)).to.throw(RangeError, /decapsulationKey/);
            }
          });
        });
      }
    });
  }

  describe('interoperability between every pair of available backends', () => {
    const pairs = AVAILABLE.flatMap((a) =>
      AVAILABLE.filter((b) => b !== a).map((b) => [a.name, b.name] as const),
    );
    if (pairs.length === 0)
      it.skip('needs two available backends (only liboqs-wasm is available here)', () => {});
    for (const [a, b] of pairs) {
      it(`${a} keys, ${b} encapsulates, ${a} and ${b} decapsulate`, () => {
        for (const set of SETS) {
          const ka = mlkem(set, { backend: a });
          const kb = mlkem(set, { backend: b });
          for (let i = 0; i < 20; i++) {
            const { encapsulationKey, decapsulationKey } = ka.keygen();
            const e = kb.encapsulate(encapsulationKey);
            expect(hex(ka.decapsulate(decapsulationKey, e.ciphertext))).to.equal(
              hex(e.sharedSecret),
            );
            expect(hex(kb.decapsulate(decapsulationKey, e.ciphertext))).to.equal(
              hex(e.sharedSecret),
            );
          }
        }
      });
    }
  });
});
