// TLS alerts (RFC 8446 §6). In QUIC an alert is never sent as a record: it closes the
// connection with CRYPTO_ERROR = 0x100 + alert (RFC 9001 §4.8).

export const Alert = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120,
} as const;

export type AlertName = keyof typeof Alert;

const names = new Map<number, AlertName>(
  Object.entries(Alert).map(([k, v]) => [v, k as AlertName]),
);

export function alertName(alert: number): string {
  return names.get(alert) ?? `alert_${alert}`;
}

/** A TLS protocol failure: the handshake is over and `alert` tells the peer why. */
export class TlsAlert extends Error {
  readonly alert: number;
  constructor(alert: number | AlertName, message?: string) {
    const code = typeof alert === 'number' ? alert : Alert[alert];
    super(`TLS alert ${alertName(code)} (${code})${message ? `: ${message}` : ''}`);
    this.name = 'TlsAlert';
    this.alert = code;
  }
  /** The QUIC transport error code for this alert (RFC 9001 §4.8). */
  get quicErrorCode(): number {
    return 0x100 + this.alert;
  }
}

/** Throws a TlsAlert; handy in expressions. */
export function fail(alert: AlertName, message?: string): never {
  throw new TlsAlert(alert, message);
}
