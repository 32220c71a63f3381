/** Loss recovery and congestion control (RFC 9002, RFC 9438): one import for the connection. */
import type { CongestionController, CongestionOptions } from './congestion.js';
import { Cubic } from './cubic.js';
import { NewReno } from './newreno.js';

export * from './congestion.js';
export * from './cubic.js';
export * from './loss-detection.js';
export * from './newreno.js';
export * from './pacer.js';
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
