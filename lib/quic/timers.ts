/**
 * A connection's deadlines and what happens when they pass: the idle timeout (RFC 9000 §10.1),
 * loss detection and PTO (RFC 9002 §6), delayed ACKs (RFC 9000 §13.2.1), pacing, the
 * discarding of old 1-RTT keys (RFC 9001 §6.5) and the end of the closing or draining period
 * (RFC 9000 §10.2). Time is a parameter: the caller's clock.
 */
import { PacketSpace } from './ack-tracker.js';
import { onLost } from './ack-dispatch.js';
import type { ConnectionCore } from './connection-core.js';
import { MIN_INITIAL_DATAGRAM } from './header.js';

const { Initial, Handshake, ApplicationData: App } = PacketSpace;

export function nextDeadline(c: ConnectionCore): number {
  if (c._state === 'closed') return Infinity;
  if (c.period) return c.period.deadline;
  let t = Math.min(idleDeadline(c), c.ld.nextTimeout(), c.keys.nextTimeout);
  // Send timers only when sending is possible (no wake-ups while amplification-bound).
  if (c.path.amplificationRoom() >= MIN_INITIAL_DATAGRAM) {
    for (const sp of c.spaces) {
      const key = sp === c.spaces[App] ? c.keys.write : sp.writeKey;
      if (key) t = Math.min(t, sp.acks.nextTimeout());
    }
    if (c.packets.pacingAt > 0) t = Math.min(t, c.packets.pacingAt);
  }
  return t;
}

function idleDeadline(c: ConnectionCore): number {
  return c.lastActivity + Math.max(c.idleTimeout, 3 * pto(c));
}

export function pto(c: ConnectionCore): number {
  return c.ld.rtt.ptoBase() + c.ld.maxAckDelay;
}

export function runTimers(c: ConnectionCore, now: number): void {
  try {
    if (c.period) {
      if (now >= c.period.deadline) c.terminate();
      return;
    }
    if (now >= idleDeadline(c)) {
      // RFC 9000 §10.1: silently closed.
      const info = { code: 0, reason: 'idle timeout', application: false, remote: false };
      return c.beginClose({ kind: 'idle', ...info }, now);
    }
    c.keys.onTimeout(now);
    if (c.packets.pacingAt > 0 && now >= c.packets.pacingAt) c.packets.pacingAt = 0;
    if (now >= c.ld.nextTimeout()) {
      const a = c.ld.onTimeout(now);
      if (a.kind === 'lost') {
        for (const p of a.lost) onLost(c, a.space, p, now);
      } else if (a.kind === 'pto') {
        onPto(c, a.space, a.probes);
      } else if (a.kind === 'anti-deadlock') {
        c.spaces[a.space].probes = 1;
      }
    }
  } catch (e) {
    c.fatal(e, now);
  }
}

function onPto(c: ConnectionCore, space: PacketSpace, probes: number): void {
  const sp = c.spaces[space];
  if (!sp.writeKey && !(space === App && c.keys.write)) {
    // RFC 9002 §6.2.4: probe in a space we can send in.
    for (const s of [Handshake, Initial] as const)
      if (c.spaces[s].writeKey) return onPto(c, s, probes);
    return;
  }
  sp.probes = probes;
  // RFC 9002 §6.2.4: probes carry unacknowledged CRYPTO data when there is some.
  sp.resendCrypto();
  // §6.2.4: and "ack-eliciting packets from other packet number spaces with in-flight data".
  // A client whose HANDSHAKE_DONE was lost probes Handshake packets the server can no longer
  // read: its 1-RTT probe is what lets the server see a new address after a NAT rebinding
  // (RFC 9000 §9.3) and answer there.
  if (space !== App && c.ld.spaces[App].ackElicitingInFlight > 0 && c.oneRttAllowed)
    c.spaces[App].probes = Math.max(c.spaces[App].probes, 1);
}
