import { expect } from 'chai';
import { createCipheriv, createHmac } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import {
  Aead,
  PacketKey,
  QUIC_V1,
  QUIC_V2,
  UNPROTECT_AUTH_FAILED,
  UNPROTECT_KEY_PHASE,
  UNPROTECT_MALFORMED,
  decodePacketNumber,
  hkdfExpandLabel,
  initialSecrets,
  isSupportedVersion,
  protectBatch,
  retryIntegrityTag,
  unprotectBatch,
  verifyRetryIntegrity,
  type CipherSuiteName,
} from '../lib/crypto/index.js';
import * as V from './crypto-vectors.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const EMPTY = new Uint8Array(0);
const DCID = hex('8394c8f03e515708');

interface Version {
  name: string;
  version: number;
  prefix: string;
  client: { secret: string; key: string; iv: string; hp: string };
  server: { secret: string; key: string; iv: string; hp: string };
  clientHeader: string;
  clientPayload: string;
  clientProtected: string;
  serverHeader: string;
  serverPayload: string;
  serverProtected: string;
  retry: string;
  chacha: { key: string; iv: string; hp: string; ku: string; packet: string };
}

// RFC 9001 Appendix A and RFC 9369 Appendix A.
const VERSIONS: Version[] = [
  {
    name: 'QUIC v1 (RFC 9001 Appendix A)',
    version: QUIC_V1,
    prefix: 'quic ',
    client: {
      secret: 'c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea',
      key: '1f369613dd76d5467730efcbe3b1a22d',
      iv: 'fa044b2f42a3fd3b46fb255c',
      hp: '9f50449e04a0e810283a1e9933adedd2',
    },
    server: {
      secret: '3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b',
      key: 'cf3a5331653c364c88f0f379b6067e37',
      iv: '0ac1493ca1905853b0bba03e',
      hp: 'c206b8d9b9f0f37644430b490eeaa314',
    },
    clientHeader: V.v1ClientHeader,
    clientPayload: V.v1ClientPayload,
    clientProtected: V.v1ClientProtected,
    serverHeader: V.v1ServerHeader,
    serverPayload: V.v1ServerPayload,
    serverProtected: V.v1ServerProtected,
    retry: V.v1Retry,
    chacha: {
      key: 'c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8',
      iv: 'e0459b3474bdd0e44a41c144',
      hp: '25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4',
      ku: '1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9',
      packet: '4cfe4189655e5cd55c41f69080575d7999c25a5bfb',
    },
  },
  {
    name: 'QUIC v2 (RFC 9369 Appendix A)',
    version: QUIC_V2,
    prefix: 'quicv2 ',
    client: {
      secret: '14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b',
      key: '8b1a0bc121284290a29e0971b5cd045d',
      iv: '91f73e2351d8fa91660e909f',
      hp: '45b95e15235d6f45a6b19cbcb0294ba9',
    },
    server: {
      secret: '0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1',
      key: '82db637861d55e1d011f19ea71d5d2a7',
      iv: 'dd13c276499c0249d3310652',
      hp: 'edf6d05c83121201b436e16877593c3a',
    },
    clientHeader: V.v2ClientHeader,
    clientPayload: V.v2ClientPayload,
    clientProtected: V.v2ClientProtected,
    serverHeader: V.v2ServerHeader,
    serverPayload: V.v2ServerPayload,
    serverProtected: V.v2ServerProtected,
    retry: V.v2Retry,
    chacha: {
      key: '3bfcddd72bcf02541d7fa0dd1f5f9eeea817e09a6963a0e6c7df0f9a1bab90f2',
      iv: 'a6b5bc6ab7dafce30ffff5dd',
      hp: 'd659760d2ba434a226fd37b35c69e2da8211d10c4f12538787d65645d5d1b8e2',
      ku: 'c69374c49e3d2a9466fa689e49d476db5d0dfbc87d32ceeaa6343fd0ae4c7d88',
      packet: '5558b1c60ae7b6b932bc27d786f4bc2bb20f2162ba',
    },
  },
];

const CHACHA_SECRET = hex('9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b');

// Lays out header ‖ payload ‖ room for the tag at `offset` inside a larger buffer.
function layout(header: Buffer, payload: Buffer, offset: number): Buffer {
  const buf = Buffer.alloc(offset + header.length + payload.length + 16 + 7, 0xee);
  header.copy(buf, offset);
  payload.copy(buf, offset + header.length);
  return buf;
}

for (const v of VERSIONS) {
  describe(`crypto/packet: ${v.name}`, () => {
    it('A.1: initial secrets and keys', () => {
      const { client, server } = initialSecrets(v.version, DCID);
      expect(client.toString('hex')).to.equal(v.client.secret);
      expect(server.toString('hex')).to.equal(v.server.secret);
      for (const [secret, want] of [
        [client, v.client],
        [server, v.server],
      ] as const) {
        expect(
          hkdfExpandLabel('sha256', secret, v.prefix + 'key', EMPTY, 16).toString('hex'),
        ).to.equal(want.key);
        expect(
          hkdfExpandLabel('sha256', secret, v.prefix + 'iv', EMPTY, 12).toString('hex'),
        ).to.equal(want.iv);
        expect(
          hkdfExpandLabel('sha256', secret, v.prefix + 'hp', EMPTY, 16).toString('hex'),
        ).to.equal(want.hp);
      }
    });

    const initials = [
      {
        side: 'A.2: client Initial',
        secret: 'client',
        header: v.clientHeader,
        payload: v.clientPayload,
        protectedHex: v.clientProtected,
        pnLength: 4,
        pn: 2,
        padTo: 1162,
      },
      {
        side: 'A.3: server Initial',
        secret: 'server',
        header: v.serverHeader,
        payload: v.serverPayload,
        protectedHex: v.serverProtected,
        pnLength: 2,
        pn: 1,
        padTo: 0,
      },
    ] as const;

    for (const t of initials) {
      it(`${t.side} protected byte-exact, and back`, () => {
        const secrets = initialSecrets(v.version, DCID);
        const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secrets[t.secret], v.version);
        const header = hex(t.header);
        const payload = Buffer.alloc(Math.max(t.padTo, hex(t.payload).length)); // PADDING frames are zeros
        hex(t.payload).copy(payload);
        const expected = hex(t.protectedHex);
        for (const offset of [0, 5]) {
          const buf = layout(header, payload, offset);
          const len = key.protect(buf, offset, header.length, t.pnLength, payload.length, t.pn);
          expect(len).to.equal(expected.length);
          expect(buf.subarray(offset, offset + len).toString('hex')).to.equal(
            expected.toString('hex'),
          );
          expect(buf[offset + len]).to.equal(0xee); // nothing written past the tag
          expect(buf[offset - 1] ?? 0xee).to.equal(0xee);

          const pnOffset = header.length - t.pnLength;
          const pn = key.unprotect(buf, offset, pnOffset, offset + len, t.pn - 1);
          expect(pn).to.equal(t.pn);
          expect(buf.subarray(offset, offset + header.length).toString('hex')).to.equal(
            header.toString('hex'),
          );
          const plain = buf.subarray(offset + header.length, offset + len - 16);
          expect(plain.toString('hex')).to.equal(payload.toString('hex'));
        }
        key.destroy();
      });
    }

    it('A.4: Retry integrity tag', () => {
      const retry = hex(v.retry);
      const body = retry.subarray(0, retry.length - 16);
      expect(retryIntegrityTag(v.version, DCID, body).toString('hex')).to.equal(
        retry.subarray(retry.length - 16).toString('hex'),
      );
      expect(verifyRetryIntegrity(v.version, DCID, retry)).to.equal(true);
      const other = QUIC_V1 === v.version ? QUIC_V2 : QUIC_V1;
      expect(verifyRetryIntegrity(other, DCID, retry)).to.equal(false);
      for (let bit = 0; bit < retry.length * 8; bit++) {
        const bad = Buffer.from(retry);
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(verifyRetryIntegrity(v.version, DCID, bad), `bit ${bit}`).to.equal(false);
      }
      expect(verifyRetryIntegrity(v.version, DCID, retry.subarray(0, 15))).to.equal(false);
    });

    it('A.5: ChaCha20-Poly1305 short header packet', () => {
      const c = v.chacha;
      expect(
        hkdfExpandLabel('sha256', CHACHA_SECRET, v.prefix + 'key', EMPTY, 32).toString('hex'),
      ).to.equal(c.key);
      expect(
        hkdfExpandLabel('sha256', CHACHA_SECRET, v.prefix + 'iv', EMPTY, 12).toString('hex'),
      ).to.equal(c.iv);
      expect(
        hkdfExpandLabel('sha256', CHACHA_SECRET, v.prefix + 'hp', EMPTY, 32).toString('hex'),
      ).to.equal(c.hp);
      expect(
        hkdfExpandLabel('sha256', CHACHA_SECRET, v.prefix + 'ku', EMPTY, 32).toString('hex'),
      ).to.equal(c.ku);
      const key = PacketKey.fromSecret('TLS_CHACHA20_POLY1305_SHA256', CHACHA_SECRET, v.version);
      const buf = Buffer.alloc(21);
      hex('4200bff401').copy(buf);
      expect(key.protect(buf, 0, 4, 3, 1, 654360564)).to.equal(21);
      expect(buf.toString('hex')).to.equal(c.packet);
      expect(key.unprotect(buf, 0, 1, 21, 654360563, 0)).to.equal(654360564);
      expect(buf.subarray(0, 5).toString('hex')).to.equal('4200bff401');
    });

    it('nextPhase matches an independent node:crypto computation', () => {
      for (const suite of [
        'TLS_AES_128_GCM_SHA256',
        'TLS_AES_256_GCM_SHA384',
        'TLS_CHACHA20_POLY1305_SHA256',
      ] as const) {
        const hash = suite === 'TLS_AES_256_GCM_SHA384' ? 'sha384' : 'sha256';
        const secret = Buffer.alloc(hash === 'sha384' ? 48 : 32, 0x5a);
        const key0 = PacketKey.fromSecret(suite, secret, v.version);
        const key2 = key0.nextPhase().nextPhase();
        const ref = referenceKeys(suite, secret, v.prefix);
        const ku1 = refExpandLabel(hash, secret, v.prefix + 'ku', secret.length);
        const ku2 = refExpandLabel(hash, ku1, v.prefix + 'ku', secret.length);
        const ref2 = { ...referenceKeys(suite, ku2, v.prefix), hp: ref.hp }; // hp key is kept
        const header = hex('4200aabbcc');
        const payload = Buffer.from('key update test payload, longer than one block');
        const buf = layout(header, payload, 0);
        key2.protect(buf, 0, header.length, 3, payload.length, 0xaabbcc);
        const want = referenceProtect(suite, ref2, header, payload, 3, 0xaabbcc);
        expect(buf.subarray(0, want.length).toString('hex')).to.equal(want.toString('hex'));
        key0.destroy();
        key2.destroy();
      }
    });
  });
}

// --- an independent implementation of RFC 9001 §5 with node:crypto, for cross-checks ---
function refExpandLabel(hash: string, secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from('tls13 ' + label);
  const info = Buffer.concat([
    Buffer.from([length >> 8, length & 255, full.length]),
    full,
    Buffer.from([0]),
  ]);
  const out: Buffer[] = [];
  let t = Buffer.alloc(0);
  for (let i = 1; Buffer.concat(out).length < length; i++) {
    t = createHmac(hash, secret)
      .update(Buffer.concat([t, info, Buffer.from([i])]))
      .digest();
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}

interface RefKeys {
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}
function referenceKeys(suite: CipherSuiteName, secret: Buffer, prefix: string): RefKeys {
  const hash = suite === 'TLS_AES_256_GCM_SHA384' ? 'sha384' : 'sha256';
  const keyLength = suite === 'TLS_AES_128_GCM_SHA256' ? 16 : 32;
  return {
    key: refExpandLabel(hash, secret, prefix + 'key', keyLength),
    iv: refExpandLabel(hash, secret, prefix + 'iv', 12),
    hp: refExpandLabel(hash, secret, prefix + 'hp', keyLength),
  };
}

function referenceProtect(
  suite: CipherSuiteName,
  k: RefKeys,
  header: Buffer,
  payload: Buffer,
  pnLength: number,
  pn: number,
): Buffer {
  const nonce = Buffer.from(k.iv);
  for (let i = 0; i < 6; i++) nonce[11 - i]! ^= Math.floor(pn / 2 ** (8 * i)) & 255;
  const aead =
    suite === 'TLS_AES_128_GCM_SHA256'
      ? 'aes-128-gcm'
      : suite === 'TLS_AES_256_GCM_SHA384'
        ? 'aes-256-gcm'
        : 'chacha20-poly1305';
  const cipher = createCipheriv(aead as 'aes-128-gcm', k.key, nonce, { authTagLength: 16 });
  cipher.setAAD(header);
  const sealed = Buffer.concat([cipher.update(payload), cipher.final(), cipher.getAuthTag()]);
  const sample = sealed.subarray(4 - pnLength, 4 - pnLength + 16);
  let mask: Buffer;
  if (aead === 'chacha20-poly1305') {
    mask = createCipheriv('chacha20', k.hp, sample).update(Buffer.alloc(5));
  } else {
    const ecb = createCipheriv(k.hp.length === 16 ? 'aes-128-ecb' : 'aes-256-ecb', k.hp, null);
    ecb.setAutoPadding(false);
    mask = ecb.update(sample);
  }
  const out = Buffer.concat([header, sealed]);
  out[0]! ^= mask[0]! & (out[0]! & 0x80 ? 0x0f : 0x1f);
  for (let i = 0; i < pnLength; i++) out[header.length - pnLength + i]! ^= mask[1 + i]!;
  return out;
}

describe('crypto/packet: behaviour', () => {
  const suites: CipherSuiteName[] = [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
  ];
  const secretFor = (s: CipherSuiteName, fill: number): Buffer =>
    Buffer.alloc(s === 'TLS_AES_256_GCM_SHA384' ? 48 : 32, fill);

  it('versions', () => {
    expect(isSupportedVersion(QUIC_V1)).to.equal(true);
    expect(isSupportedVersion(QUIC_V2)).to.equal(true);
    expect(isSupportedVersion(0xff00001d)).to.equal(false);
    expect(() => initialSecrets(0xff00001d, DCID)).to.throw(RangeError, /version/);
  });

  it('single protect equals node:crypto reference for every suite', () => {
    for (const suite of suites) {
      const secret = secretFor(suite, 7);
      const key = PacketKey.fromSecret(suite, secret, QUIC_V1);
      const ref = referenceKeys(suite, secret, 'quic ');
      for (const size of [1, 3, 17, 100, 1300]) {
        const header = hex('c300000001088394c8f03e5157080000449e00000102');
        header[0] = 0xc3;
        const payload = Buffer.alloc(size, size & 255);
        const buf = layout(header, payload, 3);
        key.protect(buf, 3, header.length, 4, size, 0x102);
        const want = referenceProtect(suite, ref, header, payload, 4, 0x102);
        expect(buf.subarray(3, 3 + want.length).toString('hex')).to.equal(want.toString('hex'));
      }
      key.destroy();
    }
  });

  it('batch equals single (mixed keys and sizes), protect and unprotect', () => {
    const keys = suites.map((s, i) =>
      PacketKey.fromSecret(s, secretFor(s, 0x30 + i), i === 1 ? QUIC_V2 : QUIC_V1),
    );
    const sizes = [4, 40, 300, 1200, 7, 64, 512, 1350];
    const slabA = Buffer.alloc(16000);
    const slabB = Buffer.alloc(16000);
    const desc = new Float64Array(sizes.length * 6);
    const udesc = new Float64Array(sizes.length * 6);
    let at = 0;
    sizes.forEach((size, i) => {
      const header = Buffer.from([0x41 | ((i & 1) << 2), 1, 2, 3, 4, 5, 6, 7, 8, 0x10, i]); // 2-byte pn
      for (let j = 0; j < size; j++) slabA[at + header.length + j] = (j * 31 + i) & 255;
      header.copy(slabA, at);
      desc.set([i % 3, at, header.length, 2, size, 0x1000 + i], i * 6);
      udesc.set(
        [i % 3, at, header.length - 2, at + header.length + size + 16, 0x1000 + i - 1, i & 1],
        i * 6,
      );
      at += header.length + size + 16 + 5;
    });
    slabA.copy(slabB);
    protectBatch(keys, slabA, desc, sizes.length);
    for (let i = 0; i < sizes.length; i++) {
      const d = desc.subarray(i * 6, i * 6 + 6);
      keys[d[0]!]!.protect(slabB, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!);
    }
    expect(slabA.equals(slabB)).to.equal(true);
    const results = new Float64Array(sizes.length);
    unprotectBatch(keys, slabA, udesc, sizes.length, results);
    for (let i = 0; i < sizes.length; i++) {
      const d = udesc.subarray(i * 6, i * 6 + 6);
      const r = keys[d[0]!]!.unprotect(slabB, d[1]!, d[2]!, d[3]!, d[4]!, d[5]!);
      expect(r).to.equal(0x1000 + i);
      expect(results[i]).to.equal(r);
    }
    expect(slabA.equals(slabB)).to.equal(true);
    keys.forEach((k) => k.destroy());
  });

  it('every 1-bit flip in header, payload or tag fails authentication', () => {
    for (const suite of suites) {
      const key = PacketKey.fromSecret(suite, secretFor(suite, 9), QUIC_V1);
      for (const header of [
        hex('41a1b2c3d4e5f60102'),
        hex('c10000000104010203040001020304050102'),
      ]) {
        const payloadLength = 20;
        const clean = layout(header, Buffer.alloc(payloadLength, 0x42), 0);
        const len = key.protect(clean, 0, header.length, 2, payloadLength, 0x0102);
        const packet = clean.subarray(0, len);
        const pnOffset = header.length - 2;
        const ok = Buffer.from(packet);
        expect(key.unprotect(ok, 0, pnOffset, len, 0x0101)).to.equal(0x0102);
        for (let bit = 0; bit < len * 8; bit++) {
          const bad = Buffer.from(packet);
          bad[bit >> 3]! ^= 1 << (bit & 7);
          const r = key.unprotect(bad, 0, pnOffset, len, 0x0101);
          expect(
            r === UNPROTECT_AUTH_FAILED || r === UNPROTECT_MALFORMED,
            `${suite} bit ${bit}: ${r}`,
          ).to.equal(true);
        }
      }
      key.destroy();
    }
  });

  it('key phase mismatch leaves the payload for open() with another key', () => {
    const secret = secretFor('TLS_AES_128_GCM_SHA256', 1);
    const k0 = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secret, QUIC_V1);
    const k1 = k0.nextPhase();
    const header = Buffer.from([0x44 | 0x01, 9, 9, 9, 0x12, 0x34]); // key phase 1, 2-byte pn
    const payload = Buffer.from('hello key phase one');
    const buf = layout(header, payload, 0);
    const len = k1.protect(buf, 0, header.length, 2, payload.length, 0x1234);
    const r = k0.unprotect(buf, 0, 4, len, 0x1233, 0);
    expect(r).to.equal(UNPROTECT_KEY_PHASE);
    expect(buf.subarray(0, header.length).toString('hex')).to.equal(header.toString('hex'));
    const pn = decodePacketNumber(0x1233, (buf[4]! << 8) | buf[5]!, 2);
    expect(k0.open(Buffer.from(buf), 0, header.length, len, pn)).to.equal(false);
    expect(k1.open(buf, 0, header.length, len, pn)).to.equal(true);
    expect(buf.subarray(header.length, len - 16).toString()).to.equal('hello key phase one');
    k0.destroy();
    k1.destroy();
  });

  it('too short for the sample is malformed', () => {
    const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', Buffer.alloc(32, 3), QUIC_V1);
    const buf = Buffer.alloc(30, 0x40);
    expect(key.unprotect(buf, 0, 12, 30, -1)).to.equal(UNPROTECT_MALFORMED);
    expect(key.unprotect(buf, 0, 10, 30, -1)).to.equal(UNPROTECT_AUTH_FAILED);
    expect(key.unprotect(buf, 0, 31, 30, -1)).to.equal(UNPROTECT_MALFORMED);
    key.destroy();
  });

  it('decodePacketNumber follows RFC 9000 Appendix A.3', () => {
    expect(decodePacketNumber(0xa82f30ea, 0x9b32, 2)).to.equal(0xa82f9b32);
    expect(decodePacketNumber(-1, 0, 1)).to.equal(0);
    expect(decodePacketNumber(0xff, 0x01, 1)).to.equal(0x101);
    expect(decodePacketNumber(0x100, 0xff, 1)).to.equal(0xff);
    expect(decodePacketNumber(2 ** 40, 5, 4)).to.equal(2 ** 40 + 5);
  });

  it('GC frees keys, destroyed or not, and keys still in use keep working', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const kept = PacketKey.fromSecret('TLS_AES_256_GCM_SHA384', Buffer.alloc(48, 4), QUIC_V1);
    for (let i = 0; i < 2000; i++) {
      const k = PacketKey.fromSecret(
        'TLS_CHACHA20_POLY1305_SHA256',
        Buffer.alloc(32, i & 255),
        QUIC_V2,
      );
      const next = k.nextPhase();
      if (i % 2) k.destroy();
      if (i % 3) next.destroy();
      const a = new Aead('aes-128-gcm', Buffer.alloc(16, i & 255));
      if (i % 5) a.destroy();
    }
    gc();
    await new Promise((resolve) => setImmediate(resolve)); // N-API finalizers may be deferred
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    const buf = Buffer.alloc(64);
    buf[0] = 0x41;
    expect(kept.protect(buf, 0, 3, 2, 20, 1)).to.equal(39);
    kept.destroy();
  });

  it('destroyed keys throw a clear Error, never crash', () => {
    const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', Buffer.alloc(32, 3), QUIC_V1);
    key.destroy();
    key.destroy();
    const buf = Buffer.alloc(100);
    buf[0] = 0x40;
    expect(() => key.protect(buf, 0, 2, 1, 20, 1)).to.throw(Error, /destroyed/);
    expect(() => key.unprotect(buf, 0, 1, 100, -1)).to.throw(Error, /destroyed/);
    expect(() => key.open(buf, 0, 2, 100, 1)).to.throw(Error, /destroyed/);
    expect(() => key.nextPhase()).to.throw(Error, /destroyed/);
    expect(() => protectBatch([key], buf, new Float64Array([0, 0, 2, 1, 20, 1]), 1)).to.throw(
      Error,
      /destroyed/,
    );
    const k2 = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', Buffer.alloc(32, 3), QUIC_V1);
    k2[Symbol.dispose]();
    expect(() => k2.protect(buf, 0, 2, 1, 20, 1)).to.throw(Error, /destroyed/);
  });
});
