// Typed errors of the crypto layer.

/** A peer's key share is unusable (bad length, bad point or key, zero shared secret): the TLS
 * layer answers with the illegal_parameter alert (RFC 8446 §4.2.8). */
export class KeyShareError extends Error {
  readonly alert = 'illegal_parameter' as const;
  override name = 'KeyShareError';
}
