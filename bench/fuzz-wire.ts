// Mutation fuzz of the wire decoders: valid frames, transport parameter blocks and protected
// datagrams (ours and the RFC 9001 / RFC 9369 examples) are bit-flipped, overwritten,
// truncated, extended and spliced; every decoder must return, drop, or throw QuicError —
// anything else is a failure. `npm run fuzz:wire` runs 1,000,000 cases (`-- --cases N`,
// `-- --seed S`); the test suite runs fewer.
import fc from 'fast-check';
import { pathToFileURL } from 'node:url';

import { PacketKey, QUIC_V1, QUIC_V2, initialSecrets } from '../lib/crypto/index.js';
import { PacketBuilder } from '../lib/quic/builder.js';
import { QuicError } from '../lib/quic/errors.js';
import { decodeFrames, encodeFrame, frameSize, type FramePacketType } from '../lib/quic/frames.js';
import { encodeRetry, encodeVersionNegotiation, splitDatagram } from '../lib/quic/header.js';
import { parseDatagram, type KeyLookup } from '../lib/quic/parser.js';
import {
  decodeTransportParameters,
  encodeTransportParameters,
} from '../lib/quic/transport-params.js';
import { frame, transportParameters } from '../test/support/wire-arbitraries.js';
import * as V from '../test/crypto-vectors.js';

export interface FuzzResult {
  cases: number;
  ok: number;
  quicErrors: number;
  drops: number;
  failures: Array<{ target: string; input: string; error: string }>;
}

// xorshift32: deterministic and fast.
function prng(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

interface Corpus {
  frames: Array<{ bytes: Buffer; type: FramePacketType }>;
  params: Buffer[];
  datagrams: Buffer[];
  lookup: KeyLookup;
}

function buildCorpus(seed: number): Corpus {
  const frames: Corpus['frames'] = [];
  const types: FramePacketType[] = ['initial', '0rtt', 'handshake', '1rtt'];
  const sample = fc.sample(fc.array(frame(), { minLength: 1, maxLength: 4 }), {
    seed,
    numRuns: 300,
  });
  sample.forEach((fs, i) => {
    const buf = Buffer.alloc(fs.reduce((n, f) => n + frameSize(f), 0));
    let p = 0;
    for (const f of fs) p = encodeFrame(buf, p, f);
    frames.push({ bytes: buf, type: types[i % 4]! });
  });
  const params = [
    ...fc
      .sample(transportParameters('server'), { seed, numRuns: 60 })
      .map((tp) => encodeTransportParameters(tp, 'server', { grease: true })),
    ...fc
      .sample(transportParameters('client'), { seed: seed + 1, numRuns: 60 })
      .map((tp) => encodeTransportParameters(tp, 'client')),
  ];

  // Protected datagrams under fixed keys, so mutated copies still reach the AEAD.
  const dcid = Buffer.from('8394c8f03e515708', 'hex');
  const keys = new Map<number, PacketKey[]>();
  for (const version of [QUIC_V1, QUIC_V2]) {
    const s = initialSecrets(version, dcid);
    keys.set(version, [
      PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', s.client, version),
      PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', s.server, version),
      PacketKey.fromSecret('TLS_CHACHA20_POLY1305_SHA256', Buffer.alloc(32, 3), version),
    ]);
  }
  const datagrams: Buffer[] = [
    V.v1ClientProtected,
    V.v1ServerProtected,
    V.v2ClientProtected,
    V.v2ServerProtected,
  ].map((h) => Buffer.from(h, 'hex'));
  datagrams.push(Buffer.from(V.v1Retry, 'hex'), Buffer.from(V.v2Retry, 'hex'));
  datagrams.push(
    encodeVersionNegotiation(dcid, Buffer.alloc(4, 1), [QUIC_V1, QUIC_V2, 0x1a2a3a4a]),
  );
  datagrams.push(encodeRetry(QUIC_V2, dcid, Buffer.alloc(8, 2), Buffer.alloc(40, 9), dcid));
  const b = new PacketBuilder(32768, 32);
  for (const version of [QUIC_V1, QUIC_V2]) {
    sample.slice(0, 12).forEach((fs, i) => {
      b.reset();
      b.startDatagram(1500);
      // Initial (CRYPTO/ACK/PING only) + 1-RTT with the sampled frames, coalesced.
      b.startPacket({
        type: 'initial',
        version,
        dcid,
        scid: Buffer.alloc(i % 9, 5),
        token: Buffer.alloc(i % 3, 6),
        packetNumber: i,
        largestAcked: -1,
        keyIndex: 0,
      });
      b.writeFrame({ type: 'crypto', offset: i * 10, data: Buffer.alloc(30 + i, i) });
      b.writeFrame({
        type: 'ack',
        largest: 10 + i,
        ackDelay: i,
        ranges: [{ start: 3, end: 10 + i }],
      });
      b.finishPacket();
      b.startPacket({
        type: '1rtt',
        version,
        dcid,
        packetNumber: 1000 + i,
        largestAcked: 990,
        keyIndex: 2,
        keyPhase: i & 1,
      });
      for (const f of fs) if (frameSize(f) <= b.room) b.writeFrame(f);
      b.finishPacket();
      b.finishDatagram();
      b.protect(keys.get(version)!);
      datagrams.push(Buffer.from(b.datagram(0)));
    });
  }
  const lookup: KeyLookup = (h) => {
    const k = keys.get(h.type === '1rtt' ? QUIC_V1 : h.version) ?? keys.get(QUIC_V1)!;
    if (h.type === 'initial') return { key: k[h.dcid.length ? 0 : 1]!, largestPn: -1 };
    if (h.type === '1rtt') return { key: k[2]!, largestPn: 990, expectedKeyPhase: -1 };
    return undefined; // no keys for 0-RTT/Handshake: a drop
  };
  return { frames, params, datagrams, lookup };
}

function mutate(src: Buffer, rnd: () => number): Buffer {
  let b = Buffer.from(src);
  const ops = 1 + (rnd() % 3);
  for (let k = 0; k < ops; k++) {
    const len = b.length;
    switch (rnd() % 6) {
      case 0: // bit flip
        if (len) b[rnd() % len] ^= 1 << (rnd() % 8);
        break;
      case 1: // byte overwrite, biased to interesting values
        if (len) b[rnd() % len] = [0x00, 0xff, 0x40, 0x80, 0xc0, 0x3f, rnd() & 0xff][rnd() % 7]!;
        break;
      case 2: // truncation
        b = b.subarray(0, len ? rnd() % len : 0);
        break;
      case 3: {
        // extension with random bytes
        const extra = Buffer.alloc(1 + (rnd() % 24));
        for (let i = 0; i < extra.length; i++) extra[i] = rnd() & 0xff;
        b = Buffer.concat([b, extra]);
        break;
      }
      case 4: {
        // splice: insert random bytes in the middle
        const at = len ? rnd() % len : 0;
        const extra = Buffer.alloc(1 + (rnd() % 8));
        for (let i = 0; i < extra.length; i++) extra[i] = rnd() & 0xff;
        b = Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]);
        break;
      }
      default: {
        // duplicate a segment
        if (!len) break;
        const at = rnd() % len;
        const n = 1 + (rnd() % Math.min(16, len - at));
        b = Buffer.concat([b.subarray(0, at + n), b.subarray(at, at + n), b.subarray(at + n)]);
      }
    }
  }
  return b;
}

/** Runs `cases` mutation cases from `seed`; failures are exceptions other than QuicError. */
export function fuzzWire(cases: number, seed = 1): FuzzResult {
  const corpus = buildCorpus(seed);
  const rnd = prng(seed);
  const result: FuzzResult = { cases, ok: 0, quicErrors: 0, drops: 0, failures: [] };
  const roles = ['client', 'server'] as const;
  const types: FramePacketType[] = ['initial', '0rtt', 'handshake', '1rtt'];
  for (let i = 0; i < cases; i++) {
    const pick = rnd() % 10;
    let target: string;
    let input: Buffer;
    try {
      if (pick < 4) {
        const c = corpus.frames[rnd() % corpus.frames.length]!;
        input = mutate(c.bytes, rnd);
        const type = rnd() % 4 === 0 ? types[rnd() % 4]! : c.type;
        target = `decodeFrames(${type})`;
        decodeFrames(input, 0, input.length, type);
        result.ok++;
      } else if (pick < 6) {
        input = mutate(corpus.params[rnd() % corpus.params.length]!, rnd);
        const role = roles[rnd() & 1]!;
        target = `decodeTransportParameters(${role})`;
        decodeTransportParameters(input, role);
        result.ok++;
      } else {
        input = mutate(corpus.datagrams[rnd() % corpus.datagrams.length]!, rnd);
        target = 'parseDatagram';
        if (splitDatagram(input, 8).error) result.drops++;
        const packets = parseDatagram(input, 8, corpus.lookup);
        for (const p of packets) {
          if (p.error && !(p.error instanceof QuicError)) throw p.error;
          if (p.error) result.quicErrors++;
          else if (p.packetNumber < 0) result.drops++;
          else result.ok++;
        }
        if (packets.length === 0) result.drops++;
      }
    } catch (err) {
      if (err instanceof QuicError) {
        result.quicErrors++;
        continue;
      }
      if (result.failures.length < 20)
        result.failures.push({
          target: target!,
          input: input!.toString('hex'),
          error: String((err as Error).stack ?? err),
        });
    }
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  const arg = (name: string, def: number): number => {
    const i = argv.indexOf(name);
    return i >= 0 ? Number(argv[i + 1]) : def;
  };
  const cases = arg('--cases', 1_000_000);
  const seed = arg('--seed', Date.now() % 2 ** 31);
  const t0 = Date.now();
  const r = fuzzWire(cases, seed);
  const secs = (Date.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      bench: 'fuzz-wire',
      seed,
      cases: r.cases,
      ok: r.ok,
      quicErrors: r.quicErrors,
      drops: r.drops,
      failures: r.failures.length,
      seconds: secs,
    }),
  );
  for (const f of r.failures) console.log(`FAIL ${f.target} ${f.input}\n${f.error}`);
  process.exitCode = r.failures.length ? 1 : 0;
}
