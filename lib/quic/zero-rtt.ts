/**
 * RFC 9000 §7.4.1: a server accepting 0-RTT must not lower the limits the client remembers
 * from the connection that gave it the ticket. The limits go into the ticket (as its
 * application data) and 0-RTT is accepted only if the current ones are at least as large.
 */
import type { ResolvedTransportParameters } from './transport-params.js';

const ZERO_RTT_LIMITS = [
  'initialMaxData',
  'initialMaxStreamDataBidiLocal',
  'initialMaxStreamDataBidiRemote',
  'initialMaxStreamDataUni',
  'initialMaxStreamsBidi',
  'initialMaxStreamsUni',
  'maxDatagramFrameSize',
] as const;

/** The limits a 0-RTT client may rely on, for the ticket. */
export function encodeZeroRttLimits(p: ResolvedTransportParameters): Buffer {
  const b = Buffer.alloc(8 * ZERO_RTT_LIMITS.length);
  ZERO_RTT_LIMITS.forEach((k, i) => b.writeDoubleBE(p[k], 8 * i));
  return b;
}

/** True when the limits `p` are at least those a ticket remembers. */
export function zeroRttLimitsFit(remembered: Buffer, p: ResolvedTransportParameters): boolean {
  if (remembered.length !== 8 * ZERO_RTT_LIMITS.length) return false;
  return ZERO_RTT_LIMITS.every((k, i) => p[k] >= remembered.readDoubleBE(8 * i));
}
