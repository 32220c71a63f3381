// Mutations for the live-server fuzzer (bench/fuzz-server.ts), all driven by one seeded PRNG so
// a run is reproducible: frame-level (a frame's numbers set to boundary values, its bytes
// flipped, cut or extended, a stream frame moved to a fresh stream) and byte-level (bit flips,
// overwrites, truncation, splicing two datagrams, a different DCID, coalescing packets).
import type { Frame } from '../lib/quic/frames.js';

/** Values at the edges of QUIC's varint classes and of the limits a server enforces. */
const EDGES = [
  0,
  1,
  2,
  3,
  4,
  7,
  63,
  64,
  255,
  256,
  1199,
  1200,
  16383,
  16384,
  65535,
  65536,
  2 ** 20,
  2 ** 30 - 1,
  2 ** 30,
  2 ** 32,
  2 ** 52,
  Number.MAX_SAFE_INTEGER,
];

export class Mutator {
  constructor(readonly random: () => number) {}

  /** An integer in 0..n-1. */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** A number near an edge, or near `around` (a value the peer has seen). */
  number(around: number): number {
    const base = this.chance(0.5) ? this.pick(EDGES) : around;
    return Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, base + this.pick([-1, 0, 0, 1, 4096])));
  }

  /** `b` with a few bytes flipped, overwritten, cut off or appended. */
  mutateBuffer(b: Uint8Array): Buffer {
    const out = Buffer.from(b);
    switch (this.int(4)) {
      case 0:
        for (let i = 1 + this.int(4); i > 0 && out.length; i--)
          out[this.int(out.length)]! ^= 1 << this.int(8);
        return out;
      case 1:
        for (let i = 1 + this.int(4); i > 0 && out.length; i--)
          out[this.int(out.length)] = this.pick([0, 0xff, 0x40, 0x80, 0x3f, this.int(256)]);
        return out;
      case 2:
        return out.subarray(0, this.int(out.length + 1));
      default:
        return Buffer.concat([out, this.bytes(1 + this.int(64))]);
    }
  }

  /** One field of `f` changed (numbers to edges, byte strings mutated). */
  mutateFrame(f: Frame): Frame {
    const g = { ...f } as Record<string, unknown>;
    const keys = Object.keys(g).filter((k) => k !== 'type');
    if (keys.length === 0) return f;
    const k = this.pick(keys);
    const v = g[k];
    if (typeof v === 'number') g[k] = this.number(v);
    else if (typeof v === 'boolean') g[k] = !v;
    else if (v instanceof Uint8Array) g[k] = this.mutateBuffer(v);
    else if (Array.isArray(v) && k === 'ranges') {
      // ACK ranges: one end moved (possibly past the largest, or overlapping).
      const ranges = v.map((r: { start: number; end: number }) => ({ ...r }));
      const r = this.pick(ranges);
      if (this.chance(0.5)) r.start = this.number(r.start);
      else r.end = this.number(r.end);
      g[k] = ranges;
    }
    return g as unknown as Frame;
  }

  /** Byte-level mutation of a datagram; `others` are for splicing and coalescing. */
  mutateDatagram(d: Uint8Array, others: readonly Uint8Array[], dcidLength: number): Buffer {
    switch (this.int(6)) {
      case 0: {
        // Bit flips anywhere, the header included (reserved bits, key phase, lengths).
        const out = Buffer.from(d);
        for (let i = 1 + this.int(3); i > 0 && out.length; i--)
          out[this.int(out.length)]! ^= 1 << this.int(8);
        return out;
      }
      case 1:
        return Buffer.from(d.subarray(0, this.int(d.length)));
      case 2: {
        const o = this.pick(others);
        const at = this.int(d.length);
        return Buffer.concat([d.subarray(0, at), o.subarray(this.int(o.length))]).subarray(0, 1500);
      }
      case 3: {
        // Another DCID: a short header's CID bytes, or a long header's CID rewritten.
        const out = Buffer.from(d);
        const long = (out[0]! & 0x80) !== 0;
        const start = long ? 6 : 1;
        const len = long ? (out[5] ?? 0) : dcidLength;
        for (let i = start; i < Math.min(start + len, out.length); i++)
          if (this.chance(0.5)) out[i] = this.int(256);
        return out;
      }
      case 4: {
        // Coalesced: this datagram followed by others (§12.2), up to 1500 bytes.
        const parts = [d];
        for (let i = 1 + this.int(3); i > 0; i--) parts.push(this.pick(others));
        return Buffer.concat(parts).subarray(0, 1500);
      }
      default:
        return this.mutateBuffer(d);
    }
  }
}
