// HTTP/3 error codes (RFC 9114 §8.1), QPACK error codes (RFC 9204 §6) and the typed error the
// h3 layer throws for anything a peer sent wrong.

export const H3 = {
  NO_ERROR: 0x100,
  GENERAL_PROTOCOL_ERROR: 0x101,
  INTERNAL_ERROR: 0x102,
  STREAM_CREATION_ERROR: 0x103,
  CLOSED_CRITICAL_STREAM: 0x104,
  FRAME_UNEXPECTED: 0x105,
  FRAME_ERROR: 0x106,
  EXCESSIVE_LOAD: 0x107,
  ID_ERROR: 0x108,
  SETTINGS_ERROR: 0x109,
  MISSING_SETTINGS: 0x10a,
  REQUEST_REJECTED: 0x10b,
  REQUEST_CANCELLED: 0x10c,
  REQUEST_INCOMPLETE: 0x10d,
  MESSAGE_ERROR: 0x10e,
  CONNECT_ERROR: 0x10f,
  VERSION_FALLBACK: 0x110,
  QPACK_DECOMPRESSION_FAILED: 0x200,
  QPACK_ENCODER_STREAM_ERROR: 0x201,
  QPACK_DECODER_STREAM_ERROR: 0x202,
} as const;

export type H3ErrorName = keyof typeof H3;

const names = new Map<number, string>(Object.entries(H3).map(([k, v]) => [v, k]));

/** 'H3_FRAME_ERROR' style name of a code; hex for unknown codes. */
export function h3ErrorName(code: number): string {
  const n = names.get(code);
  if (n === undefined) return `0x${code.toString(16)}`;
  return n.startsWith('QPACK') ? n : `H3_${n}`;
}

/** A protocol error: `code` is the RFC 9114 / RFC 9204 code; `stream` says it is a stream error
 * (reset that stream) rather than a connection error (close the connection) (§8). */
export class H3Error extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly stream = false,
  ) {
    super(`${h3ErrorName(code)}: ${message}`);
    this.name = 'H3Error';
  }
}
