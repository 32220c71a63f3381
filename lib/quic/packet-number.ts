// Packet number encoding and decoding (RFC 9000 §17.1, Appendix A.2 and A.3).

/**
 * RFC 9000 A.2: bytes (1..4) needed to encode `pn` so that a receiver whose largest
 * acknowledged is `largestAcked` (-1 if none) decodes it: twice the unacknowledged range.
 */
export function packetNumberLength(pn: number, largestAcked: number): 1 | 2 | 3 | 4 {
  const numUnacked = largestAcked < 0 ? pn + 1 : pn - largestAcked;
  // At least one bit more than the base-2 logarithm of the number of contiguous unacked pns.
  if (numUnacked < 0x80) return 1;
  if (numUnacked < 0x8000) return 2;
  if (numUnacked < 0x800000) return 3;
  return 4;
}

/** Writes the low `len` bytes of pn big-endian at buf[off]; returns the offset after it. */
export function writePacketNumber(buf: Uint8Array, off: number, pn: number, len: number): number {
  // At most 4 bytes: the low 32 bits suffice (>>> takes an integer double modulo 2^32 exactly).
  const v = pn >>> 0;
  if (len > 3) buf[off++] = v >>> 24;
  if (len > 2) buf[off++] = (v >>> 16) & 0xff;
  if (len > 1) buf[off++] = (v >>> 8) & 0xff;
  buf[off++] = v & 0xff;
  return off;
}

/** Reads a truncated packet number of `len` bytes at buf[off] (caller checked the bounds). */
export function readTruncatedPacketNumber(buf: Uint8Array, off: number, len: number): number {
  let v = 0;
  for (let i = 0; i < len; i++) v = v * 256 + buf[off + i]!;
  return v;
}

/** RFC 9000 A.3: the full packet number from `truncated` (`len` bytes) and the largest
 * packet number successfully processed in the space (-1 if none). */
export function decodePacketNumber(largestPn: number, truncated: number, len: number): number {
  const win = 2 ** (8 * len);
  const hwin = win / 2;
  const expected = largestPn + 1;
  const candidate = expected - (expected % win) + truncated;
  if (candidate <= expected - hwin && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}
