// Wire benchmark: 1-RTT packets carrying one STREAM frame, built into the send slab and
// protected with one protectBatch call, then through the receive path the connection uses
// (ReceiveBatch: split, one unprotectBatch call) and parsed back to frames: packets/s per size, next to the crypto core's own batch
// protect + unprotect of the same packets in the same run (goal: wire >= 70% of crypto).
// Run: `npm run bench:wire [-- --json] [-- --duration ms]`.
import { pathToFileURL } from 'node:url';

import { PacketKey, QUIC_V1, protectBatch, unprotectBatch } from '../lib/crypto/index.js';
import { PacketBuilder } from '../lib/quic/builder.js';
import { streamDataCapacity, writeStreamHeader } from '../lib/quic/frames.js';
import { FrameReader, payloadEnd, payloadStart, ReceiveBatch } from '../lib/quic/parser.js';
import { rates, table, type Figure } from './crypto.js';

const BATCH = 64;
const ROUNDS = 7;
const SIZES = [64, 256, 512, 1200, 1452];
const DCID = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);

export interface WireBenchOptions {
  durationMs?: number;
  sizes?: number[];
  onFigure?: (f: Figure) => void;
}

export function runWireBench(options: WireBenchOptions = {}): Figure[] {
  const durationMs = options.durationMs ?? 700;
  const figures: Figure[] = [];
  const report = (f: Figure): void => {
    figures.push(f);
    options.onFigure?.(f);
  };
  const keys = [PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', Buffer.alloc(32, 7), QUIC_V1)];
  const data = new Uint8Array(2000).fill(0x61); // application bytes to send
  for (const size of options.sizes ?? SIZES) {
    // Crypto only: the same packets (10-byte short header, pn length 1) laid out in a slab.
    const slab = new Uint8Array(BATCH * size);
    const pdesc = new Float64Array(6 * BATCH);
    const udesc = new Float64Array(6 * BATCH);
    const results = new Float64Array(BATCH);
    for (let i = 0; i < BATCH; i++) {
      const start = i * size;
      slab[start] = 0x40;
      slab.set(DCID, start + 1);
      slab[start + 9] = 5;
      pdesc.set([0, start, 10, 1, size - 10 - 16, 5], 6 * i);
      udesc.set([0, start, 9, start + size, 4, 0], 6 * i);
    }
    const cryptoBody = (): void => {
      protectBatch(keys, slab, pdesc, BATCH);
      unprotectBatch(keys, slab, udesc, BATCH, results);
      if (results[0] !== 5) throw new Error('crypto round trip failed');
    };

    // Wire: builder -> protect -> receive batch (split, one unprotect call) -> frames.
    const builder = new PacketBuilder(BATCH * size + 64, BATCH);
    const batch = new ReceiveBatch(DCID.length, BATCH);
    const reader = new FrameReader();
    const rx = { key: keys[0]!, largestPn: -1, expectedKeyPhase: 0 };
    const lookup = () => rx;
    let pn = 0;
    let offset = 0;
    const wireBody = (): void => {
      builder.reset();
      const s = builder.slab;
      for (let i = 0; i < BATCH; i++) {
        builder.startDatagram(size);
        builder.startPacket({
          type: '1rtt',
          version: QUIC_V1,
          dcid: DCID,
          packetNumber: pn++,
          largestAcked: pn - 2,
          keyIndex: 0,
        });
        const n = streamDataCapacity(builder.room, 4, offset, false);
        const p = writeStreamHeader(s, builder.pos, 4, offset, n, false, false);
        s.set(data.subarray(0, n), p);
        builder.advance(p - builder.pos + n);
        offset += n;
        builder.finishPacket();
        builder.finishDatagram();
      }
      builder.protect(keys);
      batch.reset(s);
      for (let i = 0; i < BATCH; i++)
        batch.addDatagram(builder.datagramStart(i), builder.datagramEnd(i), i, lookup);
      batch.run();
      for (let i = 0; i < BATCH; i++) {
        const got = batch.status(i);
        if (got < 0) throw new Error(`unprotect failed: ${got}`);
        rx.largestPn = got;
        const h = batch.header(i);
        reader.reset(s, payloadStart(s, h), payloadEnd(h), '1rtt');
        const f = reader.next();
        if (!f || f.type !== 'stream' || f.data.length === 0) throw new Error('no STREAM frame');
      }
    };
    // Noisy shared machines: best rate of each over the run, and the median of the ratios of
    // back-to-back short windows (each pair sees about the same load).
    const ratios: number[] = [];
    let crypto = 0;
    let wire = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const [c, w] = rates(
        [
          { body: cryptoBody, ops: BATCH },
          { body: wireBody, ops: BATCH },
        ],
        durationMs / ROUNDS,
      );
      crypto = Math.max(crypto, c!);
      wire = Math.max(wire, w!);
      ratios.push(w! / c!);
    }
    ratios.sort((a, b) => a - b);
    const median = ratios[ROUNDS >> 1]!;
    report({
      group: 'wire',
      name: 'crypto batch protect+unprotect',
      size,
      pps: crypto,
      gbps: (crypto! * size * 8) / 1e9,
    });
    report({
      group: 'wire',
      name: 'build+protect, unprotect+parse (STREAM)',
      size,
      pps: wire,
      gbps: (wire * size * 8) / 1e9,
      ratio: median,
      note: 'of crypto (median of rounds)',
    });
  }
  keys[0]!.destroy();
  return figures;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const i = argv.indexOf('--duration');
  const durationMs = i >= 0 ? Number(argv[i + 1]) : undefined;
  const figures = runWireBench({
    durationMs,
    onFigure: (f) => {
      if (json) console.log(JSON.stringify({ bench: 'wire', ...f }));
    },
  });
  if (!json) console.log(table(figures));
}
