/**
 * zquic TLS 1.3 engine for QUIC (RFC 8446 + RFC 9001), sans-IO.
 *
 * No sockets, no timers, no clocks: every call that needs the time takes `now` (ms since the
 * epoch). The QUIC connection drives an engine the way aioquic/quinn drive theirs:
 *
 *   const tls = new TlsClient({ alpn: ['h3'], servername, transportParameters, ca, session });
 *   tls.start(now);                               // queues the ClientHello
 *   tls.receive(level, cryptoFrameBytes, now);    // CRYPTO data received at a level, in order
 *   for (let ev; (ev = tls.poll()); ) { ... }     // or tls.drain(): the events, in order
 *
 *   const tls = new TlsServer({ alpn: ['h3'], certs, keys, transportParameters, ticketKeys });
 *   (or `sni: { 'example.com': { certs, keys }, '*': { certs, keys } }` to choose by server_name)
 *   tls.receive('initial', clientInitialCrypto, now); ...
 *
 * Encryption levels: 'initial' | 'early' (0-RTT) | 'handshake' | 'application'.
 *
 * Events (TlsEvent), to be applied in queue order:
 *   { type: 'data', level, data }            handshake bytes to send at `level` (CRYPTO frames)
 *   { type: 'secret', level, direction: 'read'|'write', secret, suite }
 *                                            install packet keys: PacketKey.fromSecret(suite.name, secret, version)
 *                                            client: 'early' write after the ClientHello when 0-RTT is attempted;
 *                                            server: 'early' read when 0-RTT is accepted, 'application' write
 *                                            right after its flight (0.5-RTT), 'application' read after the
 *                                            client's Finished
 *   { type: 'transport-parameters', data }   the peer's quic_transport_parameters (opaque bytes)
 *   { type: 'handshake-complete', info }     HandshakeInfo: group, cipher, alpn, resumed, earlyDataAccepted,
 *                                            postQuantum, helloRetryRequest, serverName, signatureScheme,
 *                                            peerCertificate, peerTransportParameters
 *   { type: 'session-ticket', ticket }       client: a SessionTicket to store and pass back as `session`
 *                                            (it remembers ALPN and the server's transport parameters for 0-RTT)
 *
 * Errors: receive() throws TlsAlert (alert number in `.alert`, QUIC error code 0x100 + alert in
 * `.quicErrorCode`) for anything the peer did wrong; the engine is then dead and rethrows it.
 * Options are checked at construction: TypeError/RangeError naming the option.
 *
 * 0-RTT (client): pass `session` and `earlyData: true`; an 'early' write secret follows the
 * ClientHello. Whether the server took it is `info.earlyDataAccepted`; if false, resend as 1-RTT.
 * No EndOfEarlyData in QUIC (RFC 9001 §8.3).
 * 0-RTT (server): `earlyData: true`, a shared `ticketKeys` (TicketKeys) and `antiReplay`
 * (AntiReplay); `ticketAppData` is stored in each ticket (e.g. our transport parameters) and
 * `acceptEarlyData(appData)` decides if they still fit. Early data needs the same ALPN and suite.
 *
 * Groups: default preference X25519MLKEM768 first; the client sends X25519MLKEM768 + X25519
 * shares; `requirePostQuantum` refuses classical groups (alert insufficient_security).
 * Resumption is always psk_dhe_ke with a fresh share, so resumed sessions stay post-quantum.
 *
 * Keys for Wireshark: `keylog: (line) => ...` gets NSS key log lines (keylogLine()); writing
 * SSLKEYLOGFILE is the caller's job. ZQUIC_DEBUG_HANDSHAKE logs each step with its duration.
 *
 * TLS over TCP (interop tests only): `quic: false` and RecordLayer from './record.js'.
 */

export { Alert, TlsAlert, alertName, type AlertName } from './alerts.js';
export { TlsClient, type TlsClientOptions } from './client.js';
export { TlsServer, type TlsServerOptions } from './server.js';
export {
  DEFAULT_GROUPS,
  type HandshakeInfo,
  type Level,
  type TlsCommonOptions,
  type TlsEvent,
  TlsEngine,
} from './engine.js';
export {
  TicketKeys,
  encodeSessionTicket,
  decodeSessionTicket,
  type SessionTicket,
  type TicketState,
} from './session-ticket.js';
export { AntiReplay } from './anti-replay.js';
export { keylogLine, type KeylogLabel } from './keylog.js';
export { RecordLayer } from './record.js';
export { SignatureScheme, DEFAULT_SIGNATURE_SCHEMES, type PemInput } from './certificates.js';
export * from './messages.js';
