/**
 * What a Connection reports: its events (poll()), its state, its stats, and what a stream
 * read returns.
 */
import type { HandshakeInfo } from '../tls/engine.js';
import type { SessionTicket } from '../tls/session-ticket.js';
import type { CloseInfo } from './close.js';
import type { Address } from './path.js';
import type { StreamEvent, StreamSetStats } from './stream-set.js';

/** Counters and gauges; the StreamSetStats part is what the streams hold now and refused. */
export interface ConnectionStats extends StreamSetStats {
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
  /** ACKs that claimed a packet number we skipped (RFC 9000 §21.4); the connection closes. */
  optimisticAcks: number;
  /** The largest datagram we send now (path MTU discovery, pmtud.ts), and its probes. */
  pmtu: number;
  pmtuProbesSent: number;
  /** Probes lost (not counted in packetsLost: no loss of data, RFC 9000 §14.4). */
  pmtuProbesLost: number;
}

/** The counters a connection keeps; the rest of its stats are read from their owners when
 * asked for (memory per connection). */
export type ConnectionCounters = Pick<
  ConnectionStats,
  | 'handshakeStart'
  | 'handshakeDurationMs'
  | 'bytesSent'
  | 'bytesReceived'
  | 'packetsSent'
  | 'packetsReceived'
  | 'packetsDropped'
  | 'packetsLost'
  | 'keyUpdates'
>;

export type ConnectionEvent =
  | { type: 'handshake-complete'; info: HandshakeInfo }
  | StreamEvent
  | { type: 'datagram'; data: Uint8Array }
  | { type: 'session-ticket'; ticket: SessionTicket }
  | { type: 'new-token'; token: Uint8Array }
  | { type: 'connection-id'; action: 'add' | 'retire'; cid: Uint8Array }
  | { type: 'path-changed'; remote: Address }
  | { type: 'closed'; error: CloseInfo };

export type ConnectionState = 'handshake' | 'established' | 'closing' | 'draining' | 'closed';
