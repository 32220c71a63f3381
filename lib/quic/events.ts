/**
 * What a Connection reports: its events (poll()), its state, its stats, and what a stream
 * read returns.
 */
import type { HandshakeInfo } from '../tls/engine.js';
import type { SessionTicket } from '../tls/session-ticket.js';
import type { CloseInfo } from './close.js';
import type { Address } from './path.js';

export interface ConnectionStats {
  handshakeStart: number;
  handshakeDurationMs: number;
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsReceived: number;
  packetsDropped: number;
  packetsLost: number;
  cwnd: number;
  bytesInFlight: number;
  smoothedRtt: number;
  minRtt: number;
  latestRtt: number;
  keyUpdates: number;
}

export type ConnectionEvent =
  | { type: 'handshake-complete'; info: HandshakeInfo }
  | { type: 'stream-opened'; streamId: number }
  | { type: 'readable'; streamId: number }
  | { type: 'writable'; streamId: number }
  | { type: 'stream-reset'; streamId: number; code: number }
  | { type: 'stop-sending'; streamId: number; code: number }
  /** Both halves reached a terminal state (RFC 9000 §3): everything sent was acknowledged (or
   * the reset was), everything received was read (or reset/stopped). The stream is freed. */
  | { type: 'stream-closed'; streamId: number }
  | { type: 'streams-available'; bidirectional: boolean }
  | { type: 'datagram'; data: Uint8Array }
  | { type: 'session-ticket'; ticket: SessionTicket }
  | { type: 'new-token'; token: Uint8Array }
  | { type: 'connection-id'; action: 'add' | 'retire'; cid: Uint8Array }
  | { type: 'path-changed'; remote: Address }
  | { type: 'closed'; error: CloseInfo };

/** What readChunk() returns: ordered data (a view, or null) and whether the stream's data ends
 * with this call (the FIN is reported exactly once: with the last bytes, or with null data
 * when the FIN arrived after everything was read). */
export interface StreamRead {
  data: Uint8Array | null;
  fin: boolean;
}

export type ConnectionState = 'handshake' | 'established' | 'closing' | 'draining' | 'closed';
