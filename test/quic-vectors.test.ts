// RFC test vectors through the wire layer: RFC 9000 Appendix A (varints, packet numbers),
// RFC 9001 Appendix A.2-A.5 and RFC 9369 Appendix A packets through the datagram parser.
import { expect } from 'chai';

import { PacketKey, QUIC_V1, QUIC_V2, initialSecrets } from '../lib/crypto/index.js';
import { decodeClientHello, decodeServerHello, HandshakeType } from '../lib/tls/messages.js';
import { parseHeader, splitDatagram, verifyRetry, encodeRetry } from '../lib/quic/header.js';
import {
  decodePacketNumber,
  packetNumberLength,
  writePacketNumber,
} from '../lib/quic/packet-number.js';
import { parseDatagram, type ParsedPacket } from '../lib/quic/parser.js';
import { decodeTransportParameters } from '../lib/quic/transport-params.js';
import { Reader, readVarint, writeVarint, writeVarintN } from '../lib/quic/varint.js';
import * as V from './crypto-vectors.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const ODCID = hex('8394c8f03e515708');

describe('quic/varint: RFC 9000 Appendix A.1 examples', () => {
  const examples: Array<[string, number]> = [
    ['9d7f3e7d', 494878333],
    ['7bbd', 15293],
    ['25', 37],
    ['4025', 37],
  ];
  for (const [h, value] of examples) {
    it(`${h} decodes to ${value}`, () => {
      const { value: got, length } = readVarint(hex(h));
      expect(got).to.equal(value);
      expect(length).to.equal(h.length / 2);
    });
  }
  it('c2197c5eff14e88c (above 2^53) decodes to the smallest double not below 151288809941952652', () => {
    const got = BigInt(readVarint(hex('c2197c5eff14e88c')).value);
    const exact = 151288809941952652n;
    expect(got >= exact && got - exact < 32n).to.equal(true); // a double's spacing here is 32
  });
  it('encodes the exact examples with their lengths', () => {
    const buf = new Uint8Array(8);
    expect(
      Buffer.from(buf.subarray(0, writeVarintN(buf, 0, 494878333, 4))).toString('hex'),
    ).to.equal('9d7f3e7d');
    expect(Buffer.from(buf.subarray(0, writeVarint(buf, 0, 15293))).toString('hex')).to.equal(
      '7bbd',
    );
    expect(Buffer.from(buf.subarray(0, writeVarint(buf, 0, 37))).toString('hex')).to.equal('25');
    expect(Buffer.from(buf.subarray(0, writeVarintN(buf, 0, 37, 2))).toString('hex')).to.equal(
      '4025',
    );
  });
  it('truncated varints are FRAME_ENCODING_ERROR', () => {
    for (const h of ['c2197c5eff14e8', '9d7f3e', '7b', '']) {
      expect(() => new Reader(hex(h)).varint('x')).to.throw('FRAME_ENCODING_ERROR');
    }
  });
});

describe('quic/packet-number: RFC 9000 Appendix A.2 and A.3 examples', () => {
  it('A.2: 0xac5c02 after ack of 0xabe8b3 takes 16 bits; 0xace8fe takes 24 bits', () => {
    expect(packetNumberLength(0xac5c02, 0xabe8b3)).to.equal(2);
    expect(packetNumberLength(0xace8fe, 0xabe8b3)).to.equal(3);
  });
  it('A.3: 0x9b32 after 0xa82f30ea decodes to 0xa82f9b32', () => {
    expect(decodePacketNumber(0xa82f30ea, 0x9b32, 2)).to.equal(0xa82f9b32);
  });
  it('encodes and decodes around the window', () => {
    const buf = new Uint8Array(4);
    for (const [pn, largest] of [
      [0, -1],
      [1000, 990],
      [0xa82f9b32, 0xa82f30ea],
      [2 ** 40 + 5, 2 ** 40 - 100],
    ]) {
      const len = packetNumberLength(pn!, largest!);
      writePacketNumber(buf, 0, pn!, len);
      let t = 0;
      for (let i = 0; i < len; i++) t = t * 256 + buf[i]!;
      expect(decodePacketNumber(largest!, t, len)).to.equal(pn);
    }
  });
});

interface VersionCase {
  name: string;
  version: number;
  clientProtected: string;
  clientPayload: string;
  serverProtected: string;
  serverPayload: string;
  retry: string;
  chacha: string;
}

const CASES: VersionCase[] = [
  {
    name: 'RFC 9001 Appendix A (QUIC v1)',
    version: QUIC_V1,
    clientProtected: V.v1ClientProtected,
    clientPayload: V.v1ClientPayload,
    serverProtected: V.v1ServerProtected,
    serverPayload: V.v1ServerPayload,
    retry: V.v1Retry,
    chacha: '4cfe4189655e5cd55c41f69080575d7999c25a5bfb',
  },
  {
    name: 'RFC 9369 Appendix A (QUIC v2)',
    version: QUIC_V2,
    clientProtected: V.v2ClientProtected,
    clientPayload: V.v2ClientPayload,
    serverProtected: V.v2ServerProtected,
    serverPayload: V.v2ServerPayload,
    retry: V.v2Retry,
    chacha: '5558b1c60ae7b6b932bc27d786f4bc2bb20f2162ba',
  },
];

function one(packets: ParsedPacket[]): ParsedPacket {
  expect(packets).to.have.length(1);
  return packets[0]!;
}

for (const c of CASES) {
  describe(`quic/parser: ${c.name}`, () => {
    const secrets = initialSecrets(c.version, ODCID);

    it('A.2: client Initial: header, decryption, CRYPTO + PADDING, ClientHello', () => {
      const dgram = hex(c.clientProtected);
      expect(dgram.length).to.equal(1200);
      const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secrets.client, c.version);
      const p = one(parseDatagram(dgram, 0, () => ({ key, largestPn: -1 })));
      expect(p.header.type).to.equal('initial');
      expect(p.header.version).to.equal(c.version);
      expect(Buffer.from(p.header.dcid).toString('hex')).to.equal('8394c8f03e515708');
      expect(p.header.scid.length).to.equal(0);
      expect(p.header.token.length).to.equal(0);
      expect(p.packetNumber).to.equal(2);
      expect(p.error).to.equal(undefined);
      const frames = p.frames!;
      expect(frames.map((f) => f.type)).to.deep.equal(['crypto', 'padding']);
      const crypto = frames[0]!;
      if (crypto.type !== 'crypto') throw new Error('not crypto');
      expect(crypto.offset).to.equal(0);
      expect(crypto.data.length).to.equal(241);
      // The data is a view into the datagram, not a copy.
      expect(crypto.data.buffer).to.equal(dgram.buffer);
      // Plaintext in place equals the RFC's unprotected payload.
      const payload = hex(c.clientPayload);
      const start = crypto.data.byteOffset - dgram.byteOffset - 4; // 06 00 40 f1
      expect(Buffer.from(dgram.subarray(start, start + payload.length)).equals(payload)).to.equal(
        true,
      );
      // 1200 - 22 header - 16 tag = 1162 payload bytes; the RFC lists the first 245.
      expect(payload.length).to.equal(245);
      expect(frames[1]).to.deep.equal({ type: 'padding', length: 1162 - 245 });
      expect(crypto.data[0]).to.equal(HandshakeType.client_hello);
      const ch = decodeClientHello(crypto.data.subarray(4));
      expect(ch.extensions.serverName).to.equal('example.com');
      expect(ch.extensions.alpn).to.deep.equal(['alpn']);
      expect(ch.cipherSuites).to.deep.equal([0x1301, 0x1302]);
      const tp = decodeTransportParameters(ch.extensions.quicTransportParameters!, 'client');
      expect(Buffer.from(tp.initialSourceConnectionId!).toString('hex')).to.equal(
        '8394c8f03e515708',
      );
      expect(tp.initialMaxData).to.equal(2 ** 62 - 1); // nearest double
      expect(tp.initialMaxStreamDataBidiLocal).to.equal(0xffff);
      expect(tp.maxIdleTimeout).to.equal(30000);
      expect(tp.initialMaxStreamDataBidiRemote).to.equal(0xffff);
      expect(tp.initialMaxStreamsUni).to.equal(16);
      expect(tp.initialMaxStreamsBidi).to.equal(16);
    });

    it('A.3: server Initial: ACK + CRYPTO with the ServerHello', () => {
      const dgram = hex(c.serverProtected);
      const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secrets.server, c.version);
      const p = one(parseDatagram(dgram, 0, () => ({ key, largestPn: -1 })));
      expect(p.header.type).to.equal('initial');
      expect(Buffer.from(p.header.scid).toString('hex')).to.equal('f067a5502a4262b5');
      expect(p.header.dcid.length).to.equal(0);
      expect(p.packetNumber).to.equal(1);
      const [ack, crypto] = p.frames!;
      expect(ack).to.deep.equal({
        type: 'ack',
        largest: 0,
        ackDelay: 0,
        ranges: [{ start: 0, end: 0 }],
      });
      if (crypto?.type !== 'crypto') throw new Error('not crypto');
      expect(crypto.data.length).to.equal(90);
      const sh = decodeServerHello(crypto.data.subarray(4));
      expect(sh.cipherSuite).to.equal(0x1301);
      expect(sh.extensions.keyShare!.group).to.equal(0x001d);
    });

    it('A.4: Retry: header fields and integrity tag', () => {
      const dgram = hex(c.retry);
      const { packets, error } = splitDatagram(dgram, 0);
      expect(error).to.equal(undefined);
      const h = packets[0]!;
      expect(h.type).to.equal('retry');
      expect(h.version).to.equal(c.version);
      expect(Buffer.from(h.scid).toString('hex')).to.equal('f067a5502a4262b5');
      expect(Buffer.from(h.token).toString()).to.equal('token');
      expect(verifyRetry(dgram, h, ODCID)).to.equal(true);
      expect(verifyRetry(dgram, h, hex('8394c8f03e515709'))).to.equal(false);
      // Our encoder produces the same bytes given the same unused first-byte bits.
      const again = encodeRetry(c.version, h.dcid, h.scid, h.token, ODCID, h.firstByte & 0x0f);
      expect(again.toString('hex')).to.equal(c.retry);
      expect(one(parseDatagram(dgram, 0, () => undefined)).packetNumber).to.equal(-5);
    });

    it('A.5: ChaCha20-Poly1305 short header packet carries PING', () => {
      const secret = hex('9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b');
      const key = PacketKey.fromSecret('TLS_CHACHA20_POLY1305_SHA256', secret, c.version);
      const dgram = hex(c.chacha);
      const p = one(
        parseDatagram(dgram, 0, () => ({ key, largestPn: 654360563, expectedKeyPhase: 0 })),
      );
      expect(p.header.type).to.equal('1rtt');
      expect(p.packetNumber).to.equal(654360564);
      expect(p.frames).to.deep.equal([{ type: 'ping' }]);
    });

    it('wrong keys: authentication failure is a status, not an exception', () => {
      const dgram = hex(c.clientProtected);
      const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secrets.server, c.version);
      const p = one(parseDatagram(dgram, 0, () => ({ key, largestPn: -1 })));
      expect(p.packetNumber).to.equal(-2);
      expect(p.frames).to.equal(undefined);
    });

    it('coalesced: client Initial + server Initial in one datagram split at the Length', () => {
      const a = hex(c.clientProtected);
      const b = hex(c.serverProtected);
      const { packets } = splitDatagram(Buffer.concat([a, b]), 0);
      expect(packets.map((h) => [h.start, h.end])).to.deep.equal([
        [0, a.length],
        [a.length, a.length + b.length],
      ]);
      expect(parseHeader(b, 0, b.length, 0).end).to.equal(b.length);
    });
  });
}
