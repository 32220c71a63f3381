import { expect } from 'chai';

import * as C from '../lib/crypto/index.js';
import { native } from '../lib/crypto/native.js';
import {
  JUNK as COMMON_JUNK,
  expectNamedError,
  junkEachArgument,
  type JunkSpec,
} from './support/junk.js';

// Throws junk at every export of the symmetric crypto layer (the public wrappers and the raw
// native functions under them) and accepts only a normal return or a TypeError/RangeError
// whose message names the argument. A crash would end the test process.

const JUNK: unknown[] = [...COMMON_JUNK];
// Offsets/lengths around and past the end of the buffers used below.
for (let n = 0; n <= 2000; n += n < 70 ? 1 : 97) JUNK.push(n, n + 0.25);

interface Spec extends JunkSpec {
  /** A protocol error this function may also throw for a bad peer value. */
  peerError?: new (...a: never[]) => Error;
}

const suite = 'TLS_AES_128_GCM_SHA256';
const secret = Buffer.alloc(32, 1);
const key = C.PacketKey.fromSecret(suite, secret, C.QUIC_V1);
const aead = new C.Aead('aes-128-gcm', Buffer.alloc(16));
const nativeKey = native.packetKeyNew(0x1301, secret, 'quic ');
const nativeAead = native.aeadNew('aes-128-gcm', Buffer.alloc(16));
const packet = (): Buffer => {
  const b = Buffer.alloc(200);
  b[0] = 0x41;
  b[100] = 0x41;
  return b;
};
const desc = (): Float64Array => new Float64Array([0, 0, 10, 2, 50, 7, 0, 100, 10, 2, 40, 8]);
const udesc = (): Float64Array => new Float64Array([0, 0, 8, 100, -1, -1, 0, 100, 8, 200, 5, 0]);
const b = (n: number): Buffer => Buffer.alloc(n, 7);

// `any` is the point here: the calls deliberately violate the types.
/* eslint-disable @typescript-eslint/no-explicit-any */
const F = C as any;
const N = native as any;
const K = key as any;
const A = aead as any;

const SPECS: Spec[] = [
  {
    name: 'hashLength',
    params: ['hash'],
    valid: () => ['sha256'],
    call: (a) => F.hashLength(...a),
  },
  {
    name: 'hkdfExtract',
    params: ['hash', 'salt', 'ikm'],
    valid: () => ['sha256', b(10), b(10)],
    call: (a) => F.hkdfExtract(...a),
  },
  {
    name: 'hkdfExpand',
    params: ['hash', 'prk', 'info', 'length'],
    valid: () => ['sha384', b(48), b(5), 20],
    call: (a) => F.hkdfExpand(...a),
  },
  {
    name: 'hkdfExpandLabel',
    params: ['hash', 'secret', 'label', 'context', 'length'],
    valid: () => ['sha256', b(32), 'quic key', b(0), 16],
    call: (a) => F.hkdfExpandLabel(...a),
  },
  {
    name: 'Aead',
    params: ['algorithm', 'key'],
    valid: () => ['aes-256-gcm', b(32)],
    call: (a) => new F.Aead(...a),
  },
  {
    name: 'Aead.seal',
    params: ['nonce', 'aad', 'plaintext'],
    valid: () => [b(12), b(3), b(30)],
    call: (a) => A.seal(...a),
  },
  {
    name: 'Aead.open',
    params: ['nonce', 'aad', 'sealed'],
    valid: () => [b(12), b(3), b(30)],
    call: (a) => A.open(...a),
  },
  {
    name: 'initialSecrets',
    params: ['version', 'dcid'],
    valid: () => [1, b(8)],
    call: (a) => F.initialSecrets(...a),
  },
  {
    name: 'retryIntegrityTag',
    params: ['version', 'originalDcid', 'retryWithoutTag'],
    valid: () => [1, b(8), b(30)],
    call: (a) => F.retryIntegrityTag(...a),
  },
  {
    name: 'verifyRetryIntegrity',
    params: ['version', 'originalDcid', 'retryPacket'],
    valid: () => [1, b(8), b(30)],
    call: (a) => F.verifyRetryIntegrity(...a),
  },
  {
    name: 'PacketKey.fromSecret',
    params: ['suite', 'secret', 'version'],
    valid: () => ['TLS_CHACHA20_POLY1305_SHA256', b(32), C.QUIC_V2],
    call: (a) => F.PacketKey.fromSecret(...a),
  },
  {
    name: 'PacketKey.protect',
    params: ['buf', 'start', 'headerLength', 'pnLength', 'payloadLength', 'packetNumber'],
    valid: () => [packet(), 0, 10, 2, 50, 3],
    call: (a) => K.protect(...a),
  },
  {
    name: 'PacketKey.unprotect',
    params: ['buf', 'start', 'pnOffset', 'end', 'largestPn', 'expectedKeyPhase'],
    valid: () => [packet(), 0, 8, 100, 5, 0],
    call: (a) => K.unprotect(...a),
  },
  {
    name: 'PacketKey.open',
    params: ['buf', 'start', 'headerLength', 'end', 'packetNumber'],
    valid: () => [packet(), 0, 10, 100, 5],
    call: (a) => K.open(...a),
  },
  {
    name: 'protectBatch',
    params: ['keys', 'slab', 'desc', 'count'],
    valid: () => [[key], packet(), desc(), 2],
    call: (a) => F.protectBatch(...a),
  },
  {
    name: 'unprotectBatch',
    params: ['keys', 'slab', 'desc', 'count', 'results'],
    valid: () => [[key], packet(), udesc(), 2, new Float64Array(2)],
    call: (a) => F.unprotectBatch(...a),
  },
  {
    name: 'x25519',
    params: ['privateKey', 'publicKey'],
    valid: () => [b(32), b(32)],
    call: (a) => F.x25519(...a),
  },
  {
    name: 'p256',
    params: ['privateKey', 'publicKey'],
    valid: () => [b(32), C.p256KeyPair().publicKey],
    call: (a) => F.p256(...a),
    peerError: C.KeyShareError,
  },
  // The raw native functions: the addon must defend itself whatever the wrappers do.
  {
    name: 'native.aeadNew',
    params: ['algorithm', 'key'],
    valid: () => ['chacha20-poly1305', b(32)],
    call: (a) => N.aeadNew(...a),
  },
  {
    name: 'native.aeadSeal',
    params: ['aead', 'nonce', 'aad', 'plaintext'],
    valid: () => [nativeAead, b(12), b(3), b(30)],
    call: (a) => N.aeadSeal(...a),
  },
  {
    name: 'native.aeadOpen',
    params: ['aead', 'nonce', 'aad', 'sealed'],
    valid: () => [nativeAead, b(12), b(3), b(30)],
    call: (a) => N.aeadOpen(...a),
  },
  {
    name: 'native.packetKeyNew',
    params: ['suite', 'secret', 'labelPrefix'],
    valid: () => [0x1302, b(48), 'quic '],
    call: (a) => N.packetKeyNew(...a),
  },
  {
    name: 'native.packetKeyNext',
    params: ['key'],
    valid: () => [nativeKey],
    call: (a) => N.packetKeyNext(...a),
  },
  {
    name: 'native.packetProtect',
    params: ['key', 'buf', 'start', 'headerLength', 'pnLength', 'payloadLength', 'packetNumber'],
    valid: () => [nativeKey, packet(), 0, 10, 2, 50, 3],
    call: (a) => N.packetProtect(...a),
  },
  {
    name: 'native.packetUnprotect',
    params: ['key', 'buf', 'start', 'pnOffset', 'end', 'largestPn', 'expectedKeyPhase'],
    valid: () => [nativeKey, packet(), 0, 8, 100, 5, 0],
    call: (a) => N.packetUnprotect(...a),
  },
  {
    name: 'native.packetOpen',
    params: ['key', 'buf', 'start', 'headerLength', 'end', 'packetNumber'],
    valid: () => [nativeKey, packet(), 0, 10, 100, 5],
    call: (a) => N.packetOpen(...a),
  },
  {
    name: 'native.packetProtectBatch',
    params: ['keys', 'slab', 'desc', 'count'],
    valid: () => [[nativeKey], packet(), desc(), 2],
    call: (a) => N.packetProtectBatch(...a),
  },
  {
    name: 'native.packetUnprotectBatch',
    params: ['keys', 'slab', 'desc', 'count', 'results'],
    valid: () => [[nativeKey], packet(), udesc(), 2, new Float64Array(2)],
    call: (a) => N.packetUnprotectBatch(...a),
  },
  {
    name: 'native.benchProtectLoop',
    params: ['key', 'buf', 'start', 'headerLength', 'pnLength', 'payloadLength', 'iterations'],
    valid: () => [nativeKey, packet(), 0, 10, 2, 50, 1],
    call: (a) => N.benchProtectLoop(...a),
  },
  {
    name: 'native.x25519',
    params: ['privateKey', 'publicKey'],
    valid: () => [b(32), b(32)],
    call: (a) => N.x25519(...a),
  },
  {
    name: 'native.hkdfExtract',
    params: ['hash', 'salt', 'ikm'],
    valid: () => ['sha256', b(10), b(10)],
    call: (a) => N.hkdfExtract(...a),
  },
  {
    name: 'native.hkdfExpandLabel',
    params: ['hash', 'secret', 'label', 'context', 'length'],
    valid: () => ['sha256', b(32), 'quic key', b(0), 16],
    call: (a) => N.hkdfExpandLabel(...a),
  },
];

// The descriptor entries of a batch are arguments too: junk in each slot.
function descJunk(d: Float64Array): Float64Array[] {
  const out: Float64Array[] = [];
  const values = [
    NaN,
    Infinity,
    -Infinity,
    -1,
    -2,
    0.5,
    2,
    3,
    4,
    5,
    9,
    199,
    200,
    201,
    1000,
    2 ** 31,
    2 ** 53,
    2 ** 60,
  ];
  for (let i = 0; i < d.length; i++) {
    for (const v of values) {
      const c = Float64Array.from(d);
      c[i] = v;
      out.push(c);
    }
  }
  return out;
}

function check(spec: Spec, args: unknown[], what: string): void {
  expectNamedError(
    spec,
    args,
    what,
    (e) => spec.peerError !== undefined && e instanceof spec.peerError,
  );
}

// Batch arguments get more junk: descriptors with junk in each slot, odd keys arrays.
function batchJunk(v: unknown): Array<[unknown, string]> {
  if (v instanceof Float64Array) return descJunk(v).map((d) => [d, `[${Array.from(d).join(',')}]`]);
  if (!Array.isArray(v)) return [];
  const keys = [[], [null], [{}], [aead], [nativeAead], new Array(100).fill(v[0]), ['x']];
  return keys.map((k) => [k, `[...${k.length}]`]);
}

describe('crypto: bad input', () => {
  for (const spec of SPECS) {
    it(`${spec.name}: junk in every argument`, () => {
      // The valid call itself works.
      spec.call(spec.valid());
      junkEachArgument(spec, JUNK, (args, what) => check(spec, args, what), batchJunk);
    });
  }

  it('keys arrays with getters that throw, or detach the slab, do not confuse the batch', () => {
    const throwing: unknown[] = [key];
    Object.defineProperty(throwing, 0, {
      get() {
        throw new Error('getter threw');
      },
    });
    expect(() => F.protectBatch(throwing, packet(), desc(), 2)).to.throw(Error, 'getter threw');
    const nativeThrowing: unknown[] = [nativeKey];
    Object.defineProperty(nativeThrowing, 0, {
      get() {
        throw new Error('getter threw');
      },
    });
    expect(() => N.packetProtectBatch(nativeThrowing, packet(), desc(), 2)).to.throw(
      Error,
      'getter threw',
    );
    const ab = new ArrayBuffer(200);
    const slab = new Uint8Array(ab);
    const detaching: unknown[] = [nativeKey];
    Object.defineProperty(detaching, 0, {
      get() {
        structuredClone(ab, { transfer: [ab] });
        return nativeKey;
      },
    });
    expect(() => N.packetProtectBatch(detaching, slab, desc(), 2)).to.throw(TypeError, /slab/);
  });

  it('a random mix of junk in all arguments at once', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (const spec of SPECS) {
      for (let round = 0; round < 300; round++) {
        const args = spec.valid().map((v) => (rand(3) === 0 ? JUNK[rand(JUNK.length)] : v));
        check(spec, args, 'mixed');
      }
    }
  });
});
