// Headers, builder and parser together: every header form round-trips through the builder
// (one protectBatch) and the parser; Version Negotiation, Retry, stateless resets; mutated
// datagrams only ever give a drop or a reported QuicError.
import { expect } from 'chai';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';

import { PacketKey, QUIC_V1, QUIC_V2 } from '../lib/crypto/index.js';
import { PacketBuilder, type PacketSpec } from '../lib/quic/builder.js';
import { QuicError } from '../lib/quic/errors.js';
import {
  encodeRetry,
  encodeStatelessReset,
  encodeVersionNegotiation,
  isStatelessReset,
  parseHeader,
  parseInvariants,
  splitDatagram,
  verifyRetry,
} from '../lib/quic/header.js';
import {
  BatchUnprotector,
  DCID_MISMATCH,
  FrameReader,
  UNPROTECT_AUTH_FAILED,
  UNPROTECT_KEY_PHASE,
  parseDatagram,
  payloadEnd,
  payloadStart,
  type KeyLookup,
} from '../lib/quic/parser.js';
import { setEnabled, setSink, sink } from '../lib/debug/log.js';
import { bytes, frame } from './support/wire-arbitraries.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const SUITES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
] as const;

function keysFor(
  version: number,
  suite: (typeof SUITES)[number] = 'TLS_AES_128_GCM_SHA256',
): PacketKey[] {
  return [0, 1, 2, 3].map(() =>
    PacketKey.fromSecret(suite, randomBytes(suite.includes('384') ? 48 : 32), version),
  );
}
const SPACE = { initial: 0, '0rtt': 1, handshake: 2, '1rtt': 3 } as const;

describe('quic/header + builder + parser', () => {
  it('parseHeader returns the given sameDcid for a short header with the same DCID, else a view', () => {
    const d = Buffer.from([0x40, 1, 2, 3, 4, 5, 6, 7, 8, 0xaa, 0xbb]);
    const same = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseHeader(d, 0, d.length, 8, false, same).dcid).to.equal(same);
    const other = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 9]);
    const h = parseHeader(d, 0, d.length, 8, false, other);
    expect(h.dcid).to.not.equal(other);
    expect([...h.dcid]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(h.dcid.buffer).to.equal(d.buffer); // a view into the datagram
    const short = Uint8Array.from([1, 2, 3, 4]); // another length never matches
    expect(parseHeader(d, 0, d.length, 8, false, short).dcid).to.not.equal(short);
  });

  it('every header form and version round-trips (fields, pn, frames)', () => {
    const keys = { [QUIC_V1]: keysFor(QUIC_V1), [QUIC_V2]: keysFor(QUIC_V2) };
    const b = new PacketBuilder(8192, 8);
    fc.assert(
      fc.property(
        fc.constantFrom<PacketSpec['type']>('initial', '0rtt', 'handshake', '1rtt'),
        fc.constantFrom(QUIC_V1, QUIC_V2),
        bytes(0, 20),
        bytes(0, 20),
        bytes(0, 40),
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 300 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(frame(), { minLength: 1, maxLength: 4 }),
        (type, version, dcid, scid, token, pn, back, keyPhase, spin, frames) => {
          const allowed = frames.filter(
            (f) =>
              f.type === 'ping' ||
              f.type === 'padding' ||
              (type === 'initial' ? f.type === 'crypto' : f.type !== 'new_token'),
          );
          const body = allowed.length ? allowed : [{ type: 'ping' } as const];
          if (type === '1rtt' && dcid.length === 0) dcid = new Uint8Array([7]);
          const spec: PacketSpec = {
            type,
            version,
            dcid,
            scid,
            token: type === 'initial' ? token : undefined,
            packetNumber: pn,
            largestAcked: Math.max(-1, pn - back - 1),
            keyIndex: SPACE[type],
            keyPhase: keyPhase ? 1 : 0,
            spin,
          };
          // Frames not allowed in 0-RTT/Handshake are filtered by the parser's check below.
          b.reset();
          b.startDatagram(1500);
          expect(b.startPacket(spec)).to.equal(true);
          for (const f of body) b.writeFrame(f);
          b.finishPacket();
          b.finishDatagram();
          b.protect(keys[version]!);
          const dgram = Buffer.from(b.datagram(0));
          if (type === 'initial') expect(dgram.length).to.be.at.least(1200);
          const lookup: KeyLookup = (h) => ({
            key: keys[version]![SPACE[h.type as keyof typeof SPACE]]!,
            largestPn: Math.max(-1, pn - back - 1),
            expectedKeyPhase: h.type === '1rtt' ? (keyPhase ? 1 : 0) : -1,
          });
          const [p, ...rest] = parseDatagram(dgram, dcid.length, lookup);
          expect(rest).to.have.length(0);
          expect(p!.header.type).to.equal(type);
          expect(hex(p!.header.dcid)).to.equal(hex(dcid));
          if (type !== '1rtt') {
            expect(p!.header.version).to.equal(version);
            expect(hex(p!.header.scid)).to.equal(hex(scid));
          } else {
            expect(Boolean(dgram[0]! & 0x20)).to.equal(spin); // spin bit is not protected
          }
          if (type === 'initial') expect(hex(p!.header.token)).to.equal(hex(token));
          expect(p!.packetNumber).to.equal(pn);
          if (p!.error) {
            // Only a §12.4 placement violation can fail here (e.g. ACK in 0-RTT).
            expect(p!.error.code).to.equal(0x0a);
            expect(type).to.not.equal('1rtt');
            return;
          }
          const got = p!.frames!.filter((f) => f.type !== 'padding').map((f) => f.type);
          expect(got).to.deep.equal(body.filter((f) => f.type !== 'padding').map((f) => f.type));
        },
      ),
      { numRuns: 400 },
    );
  });

  it('builds coalesced Initial + Handshake + 1-RTT, padded to 1200, for every suite', () => {
    for (const version of [QUIC_V1, QUIC_V2]) {
      for (const suite of SUITES) {
        const keys = keysFor(version, suite);
        const b = new PacketBuilder();
        const dcid = randomBytes(8);
        const scid = randomBytes(8);
        b.startDatagram(1452);
        const base = { version, dcid, scid, largestAcked: -1 };
        b.startPacket({ ...base, type: 'initial', packetNumber: 0, keyIndex: 0 });
        b.writeFrame({ type: 'crypto', offset: 0, data: Buffer.from('hello') });
        b.finishPacket();
        b.startPacket({ ...base, type: 'handshake', packetNumber: 0, keyIndex: 2 });
        b.writeFrame({ type: 'ack', largest: 3, ackDelay: 1, ranges: [{ start: 0, end: 3 }] });
        b.finishPacket();
        b.startPacket({ ...base, type: '1rtt', packetNumber: 9, keyIndex: 3 });
        b.writeFrame({
          type: 'stream',
          streamId: 0,
          offset: 0,
          data: Buffer.from('abc'),
          fin: true,
        });
        b.finishPacket();
        expect(b.finishDatagram()).to.equal(1200);
        b.protect(keys);
        const dgram = b.datagram(0);
        const parsed = parseDatagram(dgram, 8, (h) => ({
          key: keys[SPACE[h.type as keyof typeof SPACE]]!,
          largestPn: -1,
          expectedKeyPhase: h.type === '1rtt' ? 0 : -1,
        }));
        expect(parsed.map((p) => [p.header.type, p.packetNumber])).to.deep.equal([
          ['initial', 0],
          ['handshake', 0],
          ['1rtt', 9],
        ]);
        const last = parsed[2]!.frames!;
        expect(last[0]).to.deep.include({ type: 'stream', streamId: 0, fin: true });
        expect(last[1]!.type).to.equal('padding'); // the datagram's padding went into the last packet
      }
    }
  });

  it('finishDatagram(false) leaves an Initial datagram unpadded (server ACK-only Initials)', () => {
    const keys = keysFor(QUIC_V1);
    const b = new PacketBuilder();
    b.startDatagram(1200);
    b.startPacket({
      type: 'initial',
      version: QUIC_V1,
      dcid: randomBytes(8),
      scid: randomBytes(8),
      packetNumber: 3,
      largestAcked: -1,
      keyIndex: 1,
    });
    b.writeFrame({ type: 'ack', largest: 0, ackDelay: 0, ranges: [{ start: 0, end: 0 }] });
    b.finishPacket();
    const len = b.finishDatagram(false);
    expect(len).to.be.lessThan(100);
    b.protect(keys);
    const [p] = parseDatagram(b.datagram(0), 8, () => ({ key: keys[1]!, largestPn: -1 }));
    expect(p!.frames!.map((f) => f.type)).to.deep.equal(['ack']);
  });

  it('pads a tiny payload for the header protection sample and batches many datagrams', () => {
    const keys = keysFor(QUIC_V1);
    const b = new PacketBuilder(64 * 1024, 64);
    for (let i = 0; i < 40; i++) {
      b.startDatagram(1200);
      b.startPacket({
        type: '1rtt',
        version: QUIC_V1,
        dcid: new Uint8Array(0),
        packetNumber: i,
        largestAcked: i - 1,
        keyIndex: 3,
      });
      b.writeFrame({ type: 'ping' });
      expect(b.finishPacket()).to.equal(1 + 1 + 3 + 16); // pn 1 byte + 1 PING + 2 PADDING bytes
      b.finishDatagram();
    }
    b.protect(keys);
    expect(b.datagramCount).to.equal(40);
    for (let i = 0; i < 40; i++) {
      const [p] = parseDatagram(b.datagram(i), 0, () => ({
        key: keys[3]!,
        largestPn: i - 1,
        expectedKeyPhase: 0,
      }));
      expect(p!.packetNumber).to.equal(i);
      expect(p!.frames!.map((f) => f.type)).to.deep.equal(['ping', 'padding']);
    }
  });

  it('builder refuses frames beyond the room and packets beyond the datagram', () => {
    const b = new PacketBuilder(2000, 4);
    b.startDatagram(100);
    expect(
      b.startPacket({
        type: '1rtt',
        version: QUIC_V1,
        dcid: new Uint8Array(8),
        packetNumber: 0,
        largestAcked: -1,
        keyIndex: 0,
      }),
    ).to.equal(true);
    expect(b.room).to.equal(100 - 10 - 16);
    expect(() => b.writeFrame({ type: 'padding', length: 75 })).to.throw(RangeError);
    b.writeFrame({ type: 'padding', length: 74 });
    expect(b.room).to.equal(0);
    b.finishPacket();
    expect(
      b.startPacket({
        type: '1rtt',
        version: QUIC_V1,
        dcid: new Uint8Array(8),
        packetNumber: 1,
        largestAcked: -1,
        keyIndex: 0,
      }),
    ).to.equal(false);
    expect(b.finishDatagram()).to.equal(100);
  });

  it('Version Negotiation: encode and parse; invariants of unknown versions', () => {
    const dcid = randomBytes(5);
    const scid = randomBytes(30); // any length is allowed outside v1 (RFC 8999)
    const vn = encodeVersionNegotiation(dcid, scid, [QUIC_V2, QUIC_V1]);
    const h = parseHeader(vn, 0, vn.length, 0);
    expect(h.type).to.equal('version_negotiation');
    expect(h.supportedVersions).to.deep.equal([QUIC_V2, QUIC_V1]);
    expect(hex(h.scid)).to.equal(hex(scid));
    const unknown = Buffer.concat([
      Buffer.from([0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 3, 1, 2, 3, 0]),
      Buffer.alloc(1200),
    ]);
    expect(() => parseHeader(unknown, 0, unknown.length, 0)).to.throw(
      QuicError,
      'unsupported version',
    );
    expect(parseInvariants(unknown)).to.deep.include({ version: 0x1a2a3a4a });
    expect(hex(parseInvariants(unknown)!.dcid)).to.equal('010203');
  });

  it('Retry: encode, parse, verify; an empty token is dropped', () => {
    for (const version of [QUIC_V1, QUIC_V2]) {
      const odcid = randomBytes(8);
      const retry = encodeRetry(version, randomBytes(4), randomBytes(6), Buffer.from('tok'), odcid);
      const h = parseHeader(retry, 0, retry.length, 0);
      expect(h.type).to.equal('retry');
      expect(Buffer.from(h.token).toString()).to.equal('tok');
      expect(verifyRetry(retry, h, odcid)).to.equal(true);
      retry[retry.length - 1]! ^= 1;
      expect(verifyRetry(retry, h, odcid)).to.equal(false);
      const empty = retry.subarray(0, 7 + 4 + 6);
      expect(() => parseHeader(Buffer.concat([empty, Buffer.alloc(16)]), 0, 33, 0)).to.throw(
        QuicError,
      );
    }
  });

  it('header rules: fixed bit, CID length, Length beyond the datagram', () => {
    const keys = keysFor(QUIC_V1);
    const b = new PacketBuilder();
    b.startDatagram(1200);
    b.startPacket({
      type: 'handshake',
      version: QUIC_V1,
      dcid: randomBytes(8),
      scid: randomBytes(8),
      packetNumber: 0,
      largestAcked: -1,
      keyIndex: 0,
    });
    b.writeFrame({ type: 'ping' });
    b.finishPacket();
    b.finishDatagram();
    b.protect(keys);
    const d = Buffer.from(b.datagram(0));
    const noFixed = Buffer.from(d);
    noFixed[0]! &= ~0x40;
    expect(splitDatagram(noFixed, 0).error?.message).to.contain('fixed bit');
    // RFC 9287: after advertising grease_quic_bit, a fixed bit of 0 is accepted.
    expect(splitDatagram(noFixed, 0, 0, noFixed.length, true).packets[0]!.type).to.equal(
      'handshake',
    );
    const longCid = Buffer.from(d);
    longCid[5] = 21;
    expect(splitDatagram(longCid, 0).error).to.be.instanceOf(QuicError);
    expect(splitDatagram(d.subarray(0, d.length - 1), 0).error?.message).to.contain(
      'Length beyond',
    );
    const short = Buffer.from([0x00, 1, 2, 3]);
    expect(splitDatagram(short, 0).error?.message).to.contain('fixed bit');
  });

  it('stateless reset (§10.3): looks like a short header, recognised by its token only', () => {
    const token = randomBytes(16);
    const reset = encodeStatelessReset(token, 43);
    expect(reset.length).to.equal(43);
    expect(reset[0]! & 0xc0).to.equal(0x40);
    expect(isStatelessReset(reset, token)).to.equal(true);
    expect(isStatelessReset(reset, randomBytes(16))).to.equal(false);
    expect(isStatelessReset(reset.subarray(reset.length - 20), token)).to.equal(false); // < 21 bytes
    expect(() => encodeStatelessReset(token, 20)).to.throw(RangeError);
  });

  it('mutated datagrams (bit flips, truncation, extension) never throw out of parseDatagram', () => {
    const keys = keysFor(QUIC_V1);
    const lookup: KeyLookup = (h) => ({
      key: keys[SPACE[h.type as keyof typeof SPACE]]!,
      largestPn: -1,
      expectedKeyPhase: 0,
    });
    const b = new PacketBuilder();
    b.startDatagram(1300);
    b.startPacket({
      type: 'initial',
      version: QUIC_V1,
      dcid: randomBytes(8),
      scid: randomBytes(8),
      packetNumber: 1,
      largestAcked: -1,
      keyIndex: 0,
    });
    b.writeFrame({ type: 'crypto', offset: 0, data: randomBytes(100) });
    b.finishPacket();
    b.startPacket({
      type: '1rtt',
      version: QUIC_V1,
      dcid: randomBytes(8),
      packetNumber: 5,
      largestAcked: -1,
      keyIndex: 3,
    });
    b.writeFrame({ type: 'stream', streamId: 4, offset: 0, data: randomBytes(50), fin: false });
    b.finishPacket();
    b.finishDatagram();
    b.protect(keys);
    const base = Buffer.from(b.datagram(0));
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 2 }),
        bytes(0, 30),
        (at, bit, how, extra) => {
          let d = Buffer.from(base);
          const i = at % d.length;
          if (how === 0) d[i] = d[i]! ^ (1 << bit);
          else if (how === 1) d = d.subarray(0, i);
          else d = Buffer.concat([d, extra]);
          for (const p of parseDatagram(d, 8, lookup))
            if (p.error) expect(p.error).to.be.instanceOf(QuicError);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('BatchUnprotector: one call for many packets, per-packet results', () => {
    const keys = keysFor(QUIC_V1);
    const b = new PacketBuilder();
    const dcid = randomBytes(4);
    for (let i = 0; i < 6; i++) {
      b.startDatagram(300);
      b.startPacket({
        type: '1rtt',
        version: QUIC_V1,
        dcid,
        packetNumber: 100 + i,
        largestAcked: 99,
        keyIndex: i === 4 ? 1 : 3,
        keyPhase: i === 3 ? 1 : 0,
      });
      b.writeFrame({
        type: 'stream',
        streamId: i * 4,
        offset: 0,
        data: Buffer.from(`packet ${i}`),
        fin: false,
      });
      b.finishPacket();
      b.finishDatagram();
    }
    b.protect(keys);
    b.slab[b.datagram(5).byteOffset + 30]! ^= 1; // corrupt packet 5
    const u = new BatchUnprotector(8);
    const headers = Array.from({ length: 6 }, (_, i) => {
      const d = b.datagram(i);
      const h = parseHeader(b.slab, d.byteOffset, d.byteOffset + d.length, 4);
      expect(u.add(3, h, 99, 0)).to.equal(i);
      return h;
    });
    u.run(keys, b.slab);
    const results = headers.map((_, i) => u.result(i));
    expect(results.slice(0, 4)).to.deep.equal([100, 101, 102, UNPROTECT_KEY_PHASE]);
    // Packet 4 was sealed under another key: its header protection comes off wrong, so the
    // key phase bit is random: either status is a rejection.
    expect([UNPROTECT_KEY_PHASE, UNPROTECT_AUTH_FAILED]).to.include(results[4]);
    expect(results[5]).to.equal(UNPROTECT_AUTH_FAILED);
    const reader = new FrameReader();
    for (const i of [0, 1, 2]) {
      const h = headers[i]!;
      const f = reader.reset(b.slab, payloadStart(b.slab, h), payloadEnd(h), '1rtt').next();
      expect(f).to.deep.include({ type: 'stream', streamId: i * 4 });
      if (f?.type === 'stream') expect(Buffer.from(f.data).toString()).to.equal(`packet ${i}`);
      expect(reader.next()).to.equal(undefined);
    }
  });

  it('ZQUIC_DEBUG_PACKETS: one line per packet sent and received, and per drop', () => {
    const lines: string[] = [];
    const old = sink;
    setSink((l) => lines.push(l));
    setEnabled('packets', true);
    try {
      const keys = keysFor(QUIC_V2);
      const b = new PacketBuilder();
      b.startDatagram(1200);
      b.startPacket({
        type: 'initial',
        version: QUIC_V2,
        dcid: Buffer.from('0102', 'hex'),
        scid: Buffer.from('03', 'hex'),
        packetNumber: 7,
        largestAcked: -1,
        keyIndex: 0,
      });
      b.writeFrame({ type: 'crypto', offset: 0, data: Buffer.alloc(10) });
      b.finishPacket();
      b.finishDatagram();
      b.protect(keys);
      parseDatagram(b.datagram(0), 0, () => ({ key: keys[0]!, largestPn: -1 }));
      parseDatagram(Buffer.from('00'), 0, () => undefined);
    } finally {
      setEnabled('packets', false);
      setSink(old);
    }
    expect(lines[0]).to.equal(
      'zquic:packets tx initial v2 dcid=0102 scid=03 pn=7 len=43 [CRYPTO(off=0,len=10)]',
    );
    expect(lines[1]).to.equal(
      'zquic:packets rx initial v2 dcid=0102 scid=03 pn=7 len=1200 [CRYPTO(off=0,len=10) PADDING(1157)]',
    );
    expect(lines[2]).to.match(/^zquic:packets rx drop datagram: .*fixed bit/);
  });

  it('§12.2: a coalesced packet with another DCID is ignored', () => {
    const keys = keysFor(QUIC_V1);
    const b = new PacketBuilder();
    b.startDatagram(1200);
    const base = { version: QUIC_V1, scid: randomBytes(4), largestAcked: -1, keyIndex: 2 };
    b.startPacket({
      ...base,
      type: 'handshake',
      dcid: Buffer.from('aaaa', 'hex'),
      packetNumber: 0,
    });
    b.writeFrame({ type: 'ping' });
    b.finishPacket();
    b.startPacket({
      ...base,
      type: 'handshake',
      dcid: Buffer.from('bbbb', 'hex'),
      packetNumber: 1,
    });
    b.writeFrame({ type: 'ping' });
    b.finishPacket();
    b.finishDatagram();
    b.protect(keys);
    const parsed = parseDatagram(b.datagram(0), 2, () => ({ key: keys[2]!, largestPn: -1 }));
    expect(parsed.map((p) => p.packetNumber)).to.deep.equal([0, DCID_MISMATCH]);
  });

  it('a long header packet stays within its 2-byte Length field', () => {
    const b = new PacketBuilder(40000, 4);
    b.startDatagram(30000);
    b.startPacket({
      type: 'handshake',
      version: QUIC_V1,
      dcid: randomBytes(8),
      scid: randomBytes(8),
      packetNumber: 0,
      largestAcked: -1,
      keyIndex: 0,
    });
    b.writeFrame({ type: 'padding', length: b.room });
    expect(b.finishPacket() - (1 + 4 + 1 + 8 + 1 + 8 + 2)).to.equal(0x3fff);
  });
});
