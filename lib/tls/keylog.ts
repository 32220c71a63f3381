// NSS key log format (SSLKEYLOGFILE, as read by Wireshark): "<LABEL> <client_random> <secret>".
// The TLS layer only formats lines; whoever owns files writes them.

export type KeylogLabel =
  | 'CLIENT_EARLY_TRAFFIC_SECRET'
  | 'EARLY_EXPORTER_SECRET'
  | 'CLIENT_HANDSHAKE_TRAFFIC_SECRET'
  | 'SERVER_HANDSHAKE_TRAFFIC_SECRET'
  | 'CLIENT_TRAFFIC_SECRET_0'
  | 'SERVER_TRAFFIC_SECRET_0'
  | 'EXPORTER_SECRET';

export function keylogLine(
  label: KeylogLabel | string,
  clientRandom: Uint8Array,
  secret: Uint8Array,
): string {
  return `${label} ${Buffer.from(clientRandom).toString('hex')} ${Buffer.from(secret).toString('hex')}`;
}
