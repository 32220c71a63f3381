/**
 * Loss recovery and congestion control (RFC 9002, RFC 9438): one import for the connection.
 *
 * Wiring (all times in ms, `now` passed in):
 * - send: `ld.onPacketSent(space, { pn, timeSent: now, size, ackEliciting, inFlight, frames },
 *   now)` after `cc.canSend(size)` and `pacer.nextSendTime(...) <= now` (probes, ACK-only and
 *   CONNECTION_CLOSE packets ignore both); then `pacer.onPacketSent(...)`.
 * - ACK frame: `r = ld.onAckReceived(space, ranges, decodeAckDelay(field, peerExponent), now,
 *   ecnCe)`; `r.error` → close with it; `r.acked` → frames delivered; `r.lost` → requeue frames.
 *   The arrays are reused: consume them before the next call.
 * - timer: `ld.nextTimeout()` joins the connection's deadline; at expiry `ld.onTimeout(now)` →
 *   'lost' (requeue), 'pto' (send `probes` ack-eliciting packets in `space`, even beyond cwnd),
 *   'anti-deadlock' (client: padded Initial or Handshake packet).
 * - state: `onHandshakeKeysAvailable`, `onHandshakeConfirmed`, `setMaxAckDelay` (peer TP),
 *   `setAmplificationLimited` (server; if the timer is then due, call onTimeout),
 *   `discardSpace` (keys dropped), `resetSpace` (Retry, rejected 0-RTT).
 * - `cc.appLimited = true` when the connection had nothing to send while cwnd had room.
 */
import type { CongestionController, CongestionOptions } from './congestion.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export * from './congestion.js';
export * from './cubic.js';
export * from './hystart.js';
export * from './loss-detection.js';
export * from './newreno.js';
export * from './pacer.js';
export * from './pn-skip.js';
export * from './rtt.js';
export * from './sent-packets.js';

/** Congestion controllers selectable by the `cc` option. */
export type CongestionAlgorithm = 'newreno' | 'cubic';

/** Creates the controller named by the `cc` option (default CUBIC). */
export function createCongestionController(
  algorithm: CongestionAlgorithm = 'cubic',
  options: CongestionOptions = {},
): CongestionController {
  if (algorithm === 'cubic') return new Cubic(options);
  if (algorithm === 'newreno') return new NewReno(options);
  throw new RangeError(`cc must be 'newreno' or 'cubic', got ${String(algorithm)}`);
}
