// QUIC error codes (RFC 9000 §20) and the typed error every wire decoder throws.

/** RFC 9000 §20.1 transport error codes (+ RFC 9368 §10.2 VERSION_NEGOTIATION_ERROR). */
export const TransportError = {
  NO_ERROR: 0x00,
  INTERNAL_ERROR: 0x01,
  CONNECTION_REFUSED: 0x02,
  FLOW_CONTROL_ERROR: 0x03,
  STREAM_LIMIT_ERROR: 0x04,
  STREAM_STATE_ERROR: 0x05,
  FINAL_SIZE_ERROR: 0x06,
  FRAME_ENCODING_ERROR: 0x07,
  TRANSPORT_PARAMETER_ERROR: 0x08,
  CONNECTION_ID_LIMIT_ERROR: 0x09,
  PROTOCOL_VIOLATION: 0x0a,
  INVALID_TOKEN: 0x0b,
  APPLICATION_ERROR: 0x0c,
  CRYPTO_BUFFER_EXCEEDED: 0x0d,
  KEY_UPDATE_ERROR: 0x0e,
  AEAD_LIMIT_REACHED: 0x0f,
  NO_VIABLE_PATH: 0x10,
  VERSION_NEGOTIATION_ERROR: 0x11,
  /** RFC 9001 §4.8: CRYPTO_ERROR = 0x100 + TLS alert (0x0100-0x01ff). */
  CRYPTO_ERROR: 0x100,
} as const;

export type TransportErrorName = keyof typeof TransportError;

export const NO_ERROR = TransportError.NO_ERROR;
export const INTERNAL_ERROR = TransportError.INTERNAL_ERROR;
export const FRAME_ENCODING_ERROR = TransportError.FRAME_ENCODING_ERROR;
export const TRANSPORT_PARAMETER_ERROR = TransportError.TRANSPORT_PARAMETER_ERROR;
export const PROTOCOL_VIOLATION = TransportError.PROTOCOL_VIOLATION;
export const CRYPTO_ERROR = TransportError.CRYPTO_ERROR;

const names = new Map<number, string>(Object.entries(TransportError).map(([k, v]) => [v, k]));

/** RFC 9001 §4.8: the transport error code for a TLS alert. */
export function cryptoError(alert: number): number {
  return CRYPTO_ERROR + (alert & 0xff);
}

/** Name of a transport error code: 'PROTOCOL_VIOLATION', 'CRYPTO_ERROR(0x128)', '0x1234'. */
export function transportErrorName(code: number): string {
  const name = names.get(code);
  if (name) return name;
  if (code > CRYPTO_ERROR && code <= 0x1ff) return `CRYPTO_ERROR(0x${code.toString(16)})`;
  return `0x${code.toString(16)}`;
}

/**
 * A QUIC connection error. `code` is a transport error code (RFC 9000 §20.1) carried in a
 * CONNECTION_CLOSE of type 0x1c, or, when `application` is true, an application protocol
 * error code (§20.2) carried in a CONNECTION_CLOSE of type 0x1d.
 */
export class QuicError extends Error {
  readonly code: number;
  readonly application: boolean;
  /** Type of the frame that triggered the error (0x1c close only; 0 when unknown). */
  readonly frameType: number;

  constructor(
    code: number,
    message: string,
    options: { frameType?: number; application?: boolean } = {},
  ) {
    const application = options.application ?? false;
    super(
      application
        ? `application error 0x${code.toString(16)}: ${message}`
        : `${transportErrorName(code)}: ${message}`,
    );
    this.name = 'QuicError';
    this.code = code;
    this.application = application;
    this.frameType = options.frameType ?? 0;
  }

  /** The representation of an application close (CONNECTION_CLOSE type 0x1d). */
  static application(code: number, reason = ''): QuicError {
    return new QuicError(code, reason, { application: true });
  }

  /** RFC 9001 §4.8: a TLS alert as a CRYPTO_ERROR. */
  static fromAlert(alert: number, message: string): QuicError {
    return new QuicError(cryptoError(alert), message);
  }
}
