// The HPACK Huffman code (RFC 7541 Appendix B), which QPACK string literals use (RFC 9204 §4.1.2).
// The code is canonical: codes of each length are consecutive in symbol order, so the table is
// given by its code lengths alone (checked against the Appendix B codes in test/qpack-huffman).
import { H3, H3Error } from '../errors.js';

/** Appendix B "len in bits" column, symbols 0..255, then EOS (256). */
// prettier-ignore
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;
/** Code of each symbol (right-aligned) and its length. */
export const HUFFMAN_CODES = new Uint32Array(257);
export const HUFFMAN_LENGTHS = Uint8Array.from(LENGTHS);
/** Decoding tree: node n has children tree[2n] (bit 0) and tree[2n+1] (bit 1); a value >= 0
 * is the next node, -1 - sym is a leaf, 0 (never a child) means no such code. */
const tree = new Int16Array(2 * 256);

(() => {
  const order = [...HUFFMAN_LENGTHS.keys()].sort(
    (a, b) => HUFFMAN_LENGTHS[a]! - HUFFMAN_LENGTHS[b]! || a - b,
  );
  let code = 0;
  let len = HUFFMAN_LENGTHS[order[0]!]!;
  let nodes = 1;
  for (const sym of order) {
    const l = HUFFMAN_LENGTHS[sym]!;
    code *= 2 ** (l - len);
    len = l;
    HUFFMAN_CODES[sym] = code;
    let node = 0;
    for (let i = l - 1; i >= 0; i--) {
      const slot = 2 * node + (Math.floor(code / 2 ** i) & 1);
      if (i === 0) tree[slot] = -1 - sym;
      else node = tree[slot] || (tree[slot] = nodes++);
    }
    code++;
  }
})();

/** Bytes `data` takes Huffman-coded. */
export function huffmanLength(data: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < data.length; i++) bits += HUFFMAN_LENGTHS[data[i]!]!;
  return Math.ceil(bits / 8);
}

/** Writes the Huffman coding of `data` at out[off]; returns the offset after it. The last byte
 * is padded with the most significant bits of EOS (all ones) (RFC 7541 §5.2). */
export function huffmanEncode(data: Uint8Array, out: Uint8Array, off: number): number {
  let acc = 0; // pending bits (at most 7 + 30 < 53)
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const sym = data[i]!;
    const l = HUFFMAN_LENGTHS[sym]!;
    acc = acc * 2 ** l + HUFFMAN_CODES[sym]!;
    n += l;
    while (n >= 8) {
      n -= 8;
      const d = 2 ** n;
      const byte = Math.floor(acc / d);
      out[off++] = byte;
      acc -= byte * d;
    }
  }
  if (n > 0) out[off++] = (acc << (8 - n)) | (0xff >> n);
  return off;
}

/** Decodes a Huffman-coded string. EOS in the data, padding longer than 7 bits or padding that
 * is not all ones is a decoding error (RFC 7541 §5.2): QPACK_DECOMPRESSION_FAILED. Decoding stops
 * after maxLength + 1 bytes. */
export function huffmanDecode(data: Uint8Array, maxLength = Infinity): Uint8Array {
  const out = new Uint8Array(Math.min(Math.floor((data.length * 8) / 5), maxLength + 1));
  let o = 0;
  let node = 0;
  let pad = 0; // bits since the last symbol
  let ones = true; // ... all of them 1
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]!;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >> b) & 1;
      const next = tree[2 * node + bit]!;
      pad++;
      ones &&= bit === 1;
      if (next < 0) {
        const sym = -1 - next;
        if (sym === EOS) throw new H3Error(H3.QPACK_DECOMPRESSION_FAILED, 'Huffman EOS in string');
        if (o === out.length) return out; // longer than maxLength: the caller rejects it
        out[o++] = sym;
        node = 0;
        pad = 0;
        ones = true;
      } else node = next;
    }
  }
  if (pad > 7 || !ones) throw new H3Error(H3.QPACK_DECOMPRESSION_FAILED, 'bad Huffman padding');
  return out.subarray(0, o);
}
