// Crypto benchmark: QUIC packet protection (single call, batch of 64, the raw native loop that
// never crosses N-API, and Node's own crypto per-packet path), X25519 and HKDF-Expand-Label.
// Run: `npm run bench:crypto` or `zquic bench crypto [--json]`. Speed claims are ratios
// measured in the same run, since these machines are shared and noisy.
import { createCipheriv, createDecipheriv, type CipherGCM, type DecipherGCM } from 'node:crypto';
import { pathToFileURL } from 'node:url';

import {
  PacketKey,
  QUIC_V1,
  hkdfExpandLabel,
  protectBatch,
  unprotectBatch,
  x25519,
  x25519KeyPair,
} from '../lib/crypto/index.js';
import { native } from '../lib/crypto/native.js';

/** One measured figure: printed as a JSON line and as a table row. */
export interface Figure {
  group: string;
  name: string;
  size?: number; // packet size in bytes (header + payload + tag)
  pps?: number; // packets per second
  gbps?: number; // Gbit/s of packet bytes
  us?: number; // microseconds per operation
  ratio?: number;
  note?: string;
}

export interface BenchContext {
  /** Measuring time per figure (best of three runs of this length). */
  durationMs: number;
  report(figure: Figure): void;
}

export type BenchSection = (ctx: BenchContext) => void | Promise<void>;

const sections: { name: string; run: BenchSection }[] = [];

/** Hook for other benchmark modules (e.g. bench/kem.ts adds the ML-KEM rows): call at import. */
export function addCryptoBench(name: string, run: BenchSection): void {
  sections.push({ name, run });
}

const now = (): number => Number(process.hrtime.bigint()) / 1e6;

/** Operations per second of `body` (which performs `ops` operations), best of three runs. */
export function rate(body: () => void, ops: number, durationMs: number): number {
  return rates([{ body, ops }], durationMs)[0]!;
}

/** Like rate() for several bodies measured round-robin (three rounds, best of each), so that
 * figures compared with each other see the same machine load. */
export function rates(cases: { body: () => void; ops: number }[], durationMs: number): number[] {
  for (const c of cases) for (let i = 0; i < 3; i++) c.body(); // warm up
  const best = cases.map(() => 0);
  for (let round = 0; round < 3; round++) {
    cases.forEach((c, k) => {
      let calls = 0;
      const t0 = now();
      let elapsed = 0;
      do {
        for (let i = 0; i < 16; i++) c.body();
        calls += 16;
        elapsed = now() - t0;
      } while (elapsed < durationMs);
      best[k] = Math.max(best[k]!, (calls * c.ops * 1000) / elapsed);
    });
  }
  return best;
}

const SIZES = [64, 512, 1350, 1500];
const BATCH = 64;
const HEADER = 11; // 1-RTT short header: first byte, 8-byte DCID, 2-byte packet number
const PN_LENGTH = 2;
const FIRST_BYTE = 0x41; // short header, fixed bit, 2-byte packet number

function packetFigure(
  name: string,
  size: number,
  pps: number,
  extra: Partial<Figure> = {},
): Figure {
  return { group: 'packet', name, size, pps, gbps: (pps * size * 8) / 1e9, ...extra };
}

// Node's own crypto, per packet: a new AES-128-GCM cipher per packet (the nonce changes) and an
// AES-128-ECB header-protection mask from a cipher kept across packets.
class NodePath {
  readonly ecb;
  constructor(
    readonly key: Buffer,
    readonly iv: Buffer,
    hp: Buffer,
  ) {
    this.ecb = createCipheriv('aes-128-ecb', hp, null);
    this.ecb.setAutoPadding(false);
  }
  nonce(pn: number): Buffer {
    const n = Buffer.from(this.iv);
    n[11]! ^= pn & 255;
    n[10]! ^= (pn >> 8) & 255;
    n[9]! ^= (pn >> 16) & 255;
    return n;
  }
  protect(buf: Buffer, start: number, payloadLength: number, pn: number): void {
    const c = createCipheriv('aes-128-gcm', this.key, this.nonce(pn)) as CipherGCM;
    c.setAAD(buf.subarray(start, start + HEADER));
    const p = start + HEADER;
    c.update(buf.subarray(p, p + payloadLength)).copy(buf, p);
    c.final();
    c.getAuthTag().copy(buf, p + payloadLength);
    const mask = this.ecb.update(buf.subarray(p + 4 - PN_LENGTH, p + 20 - PN_LENGTH));
    buf[start]! ^= mask[0]! & 0x1f;
    buf[p - 2]! ^= mask[1]!;
    buf[p - 1]! ^= mask[2]!;
  }
  unprotect(buf: Buffer, start: number, end: number, pn: number): boolean {
    const p = start + HEADER;
    const mask = this.ecb.update(buf.subarray(p + 4 - PN_LENGTH, p + 20 - PN_LENGTH));
    const header = Buffer.from(buf.subarray(start, p));
    header[0]! ^= mask[0]! & 0x1f;
    header[HEADER - 2]! ^= mask[1]!;
    header[HEADER - 1]! ^= mask[2]!;
    const d = createDecipheriv('aes-128-gcm', this.key, this.nonce(pn)) as DecipherGCM;
    d.setAAD(header);
    d.setAuthTag(buf.subarray(end - 16, end));
    const plain = d.update(buf.subarray(p, end - 16));
    try {
      d.final();
    } catch {
      return false;
    }
    header.copy(buf, start);
    plain.copy(buf, p);
    return true;
  }
}

function packetBench(ctx: BenchContext): void {
  const secret = Buffer.alloc(32, 0x2a);
  const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secret, QUIC_V1);
  const label = (l: string, n: number): Buffer =>
    hkdfExpandLabel('sha256', secret, l, Buffer.alloc(0), n);
  const node = new NodePath(label('quic key', 16), label('quic iv', 12), label('quic hp', 16));
  const handle = PacketKey.handleOf(key);
  const d = ctx.durationMs;

  for (const size of SIZES) {
    const payload = size - HEADER - 16;
    const slab = Buffer.alloc(size * BATCH);
    for (let i = 0; i < slab.length; i++) slab[i] = (i * 7) & 255;
    const starts = Array.from({ length: BATCH }, (_, i) => i * size);
    const desc = new Float64Array(BATCH * 6);
    starts.forEach((s, i) => desc.set([0, s, HEADER, PN_LENGTH, payload, 1000 + i], i * 6));
    const keys = [key];
    const resetFirstBytes = (): void => {
      for (const s of starts) slab[s] = FIRST_BYTE;
    };

    // Protect.
    const one = slab.subarray(0, size);
    let pn = 0;
    const [nodePps, single, batch, raw] = rates(
      [
        { body: () => node.protect(one, 0, payload, pn++ & 0xffff), ops: 1 },
        {
          body: () => {
            one[0] = FIRST_BYTE;
            key.protect(one, 0, HEADER, PN_LENGTH, payload, pn++ & 0xffff);
          },
          ops: 1,
        },
        {
          body: () => {
            resetFirstBytes();
            protectBatch(keys, slab, desc, BATCH);
          },
          ops: BATCH,
        },
        {
          body: () => native.benchProtectLoop(handle, one, 0, HEADER, PN_LENGTH, payload, 1024),
          ops: 1024,
        },
      ],
      d,
    ) as [number, number, number, number];
    ctx.report(packetFigure('protect: Node crypto per packet', size, nodePps));
    ctx.report(packetFigure('protect: single call', size, single));
    ctx.report(
      packetFigure(`protect: batch(${BATCH})`, size, batch, {
        ratio: batch / nodePps,
        note: 'x Node',
      }),
    );
    ctx.report(packetFigure('protect: raw native loop', size, raw));
    ctx.report({
      group: 'packet',
      name: 'protect: batch / raw native loop',
      size,
      ratio: batch / raw,
    });

    // Unprotect: restore the protected bytes (a memcpy, measured alone too) before each pass.
    starts.forEach((s, i) => {
      slab[s] = FIRST_BYTE;
      slab.writeUInt16BE(1000 + i, s + HEADER - PN_LENGTH); // the truncated packet number
    });
    protectBatch(keys, slab, desc, BATCH);
    const pristine = Buffer.from(slab);
    const udesc = new Float64Array(BATCH * 6);
    starts.forEach((s, i) => udesc.set([0, s, HEADER - PN_LENGTH, s + size, 999 + i, 0], i * 6));
    const results = new Float64Array(BATCH);
    const first = pristine.subarray(0, size);
    const [unode, usingle, ubatch, copy] = rates(
      [
        {
          body: () => {
            one.set(first);
            node.unprotect(one, 0, size, 1000);
          },
          ops: 1,
        },
        {
          body: () => {
            one.set(first);
            key.unprotect(one, 0, HEADER - PN_LENGTH, size, 999, 0);
          },
          ops: 1,
        },
        {
          body: () => {
            slab.set(pristine);
            unprotectBatch(keys, slab, udesc, BATCH, results);
          },
          ops: BATCH,
        },
        { body: () => slab.set(pristine), ops: BATCH },
      ],
      d,
    ) as [number, number, number, number];
    if (results.some((r, i) => r !== 1000 + i)) throw new Error('benchmark unprotect failed');
    if (node.unprotect(Buffer.from(first), 0, size, 1000) !== true)
      throw new Error('benchmark Node unprotect failed');
    ctx.report(packetFigure('unprotect: Node crypto per packet', size, unode));
    ctx.report(packetFigure('unprotect: single call', size, usingle));
    ctx.report(
      packetFigure(`unprotect: batch(${BATCH})`, size, ubatch, {
        ratio: ubatch / unode,
        note: 'x Node',
      }),
    );
    ctx.report(packetFigure('unprotect: restore copy alone', size, copy));
  }
  key.destroy();
}

// Batch protection at 1350 bytes under each cipher suite (AES-256 and ChaCha20 keys are 32 bytes).
function suiteBench(ctx: BenchContext): void {
  const size = 1350;
  const payload = size - HEADER - 16;
  const suites = [
    ['TLS_AES_128_GCM_SHA256', 32],
    ['TLS_AES_256_GCM_SHA384', 48],
    ['TLS_CHACHA20_POLY1305_SHA256', 32],
  ] as const;
  const slab = Buffer.alloc(size * BATCH, 0x5a);
  const desc = new Float64Array(BATCH * 6);
  for (let i = 0; i < BATCH; i++) desc.set([0, i * size, HEADER, PN_LENGTH, payload, i], i * 6);
  const keys = suites.map(([name, len]) => [
    PacketKey.fromSecret(name, Buffer.alloc(len, 7), QUIC_V1),
  ]);
  const pps = rates(
    keys.map((k) => ({
      body: () => {
        for (let i = 0; i < BATCH; i++) slab[i * size] = FIRST_BYTE;
        protectBatch(k, slab, desc, BATCH);
      },
      ops: BATCH,
    })),
    ctx.durationMs,
  );
  suites.forEach(([name], i) =>
    ctx.report(packetFigure(`protect batch(${BATCH}): ${name}`, size, pps[i]!)),
  );
  keys.forEach(([k]) => k!.destroy());
}

function keyBench(ctx: BenchContext): void {
  const peer = x25519KeyPair().publicKey;
  const xr = rate(
    () => {
      const kp = x25519KeyPair();
      x25519(kp.privateKey, peer);
    },
    1,
    ctx.durationMs,
  );
  ctx.report({ group: 'keys', name: 'X25519 keygen + derive', us: 1e6 / xr });
  const secret = Buffer.alloc(32, 1);
  const empty = Buffer.alloc(0);
  const hr = rate(
    () => hkdfExpandLabel('sha256', secret, 'quic key', empty, 16),
    1,
    ctx.durationMs,
  );
  ctx.report({ group: 'keys', name: 'HKDF-Expand-Label SHA-256 (16 B)', us: 1e6 / hr });
  const s48 = Buffer.alloc(48, 1);
  const h3 = rate(() => hkdfExpandLabel('sha384', s48, 'c hs traffic', s48, 48), 1, ctx.durationMs);
  ctx.report({ group: 'keys', name: 'HKDF-Expand-Label SHA-384 (48 B)', us: 1e6 / h3 });
  const kr = rate(
    () => PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secret, QUIC_V1).destroy(),
    1,
    ctx.durationMs,
  );
  ctx.report({ group: 'keys', name: 'PacketKey.fromSecret (3 labels + contexts)', us: 1e6 / kr });
}

addCryptoBench('packet protection', packetBench);
addCryptoBench('cipher suites', suiteBench);
addCryptoBench('key exchange and derivation', keyBench);

function fmt(n: number | undefined, digits: number): string {
  if (n === undefined) return '';
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n.toFixed(digits);
}

/** A readable table of the figures. */
export function table(figures: Figure[]): string {
  const rows = figures.map((f) => [
    f.name,
    f.size === undefined ? '' : String(f.size),
    fmt(f.pps, 0),
    f.gbps === undefined ? '' : f.gbps.toFixed(2),
    f.us === undefined ? '' : f.us.toFixed(2),
    f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}${f.note ? ' ' + f.note : ''}`,
  ]);
  const head = ['figure', 'bytes', 'pkts/s', 'Gbit/s', 'us/op', 'ratio'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export interface CryptoBenchOptions {
  durationMs?: number;
  /** Called with each figure as it is measured (default: print a JSON line). */
  onFigure?: (figure: Figure) => void;
}

/** Runs every registered section (this file's, then e.g. bench/kem.ts if present). */
export async function runCryptoBench(options: CryptoBenchOptions = {}): Promise<Figure[]> {
  const kem = './kem.js'; // optional module, added by the ML-KEM work
  await import(kem).catch(() => undefined);
  const figures: Figure[] = [];
  const ctx: BenchContext = {
    durationMs: options.durationMs ?? 200,
    report(figure) {
      figures.push(figure);
      (options.onFigure ?? ((f) => console.log(JSON.stringify({ bench: 'crypto', ...f }))))(figure);
    },
  };
  for (const s of sections) await s.run(ctx);
  return figures;
}

// Run directly: no top-level await here, so that bench/kem.ts (which imports this module) can
// finish loading while this module is the entry point.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runCryptoBench().then(
    (figures) => console.log('\n' + table(figures)),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
