// Admission limits of a server endpoint (sans-IO; time is a parameter): how many handshakes
// may be in progress per source host and per source network, how long a handshake may stay
// half-open, and how hard Initials that made no connection push the endpoint toward Retry.
// Retry alone cannot bound these: a host that completes a Retry round trip proved only its
// address (RFC 9000 §8.1.2) and may then hold handshakes open from it; RFC 9000 §21.6 (Slowloris)
// asks for limits per source address and on how long a peer may hold state.

export interface AdmissionLimits {
  /** Handshakes in progress from one host: an IPv4 address, or an IPv6 /64. */
  maxHandshakesPerAddress: number;
  /** Handshakes in progress from one network: an IPv4 /24, or an IPv6 /48. */
  maxHandshakesPerPrefix: number;
  /** Milliseconds a handshake may stay half-open (see Admission). */
  halfOpenTimeout: number;
}

export type Refusal = 'refusedPerAddress' | 'refusedPerPrefix';

/** How fast the count of failed Initials decays (ms): it counts about the last second. */
const FAILURE_DECAY = 1000;

/** The 16-bit groups of an IPv6 address (zone dropped, embedded IPv4 as two groups), or
 * undefined when `a` is not one. */
function ipv6Groups(a: string): number[] | undefined {
  const zone = a.indexOf('%');
  const s = (zone >= 0 ? a.slice(0, zone) : a).toLowerCase();
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const words = part.split(':');
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (i === words.length - 1 && w.includes('.')) {
        const v4 = ipv4Octets(w);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-f]{1,4}$/.test(w)) out.push(parseInt(w, 16));
      else return undefined;
    }
    return out;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

function ipv4Octets(a: string): number[] | undefined {
  const parts = a.split('.');
  if (parts.length !== 4) return undefined;
  const out = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : 256));
  return out.every((o) => o <= 255) ? out : undefined;
}

/**
 * The host and the network a source address is limited under: an IPv4 address and its /24;
 * an IPv6 /64 (one host may use any address of its /64, RFC 8981) and its /48 (the usual
 * site allocation). IPv4-mapped IPv6 addresses (a dual-stack socket) count as IPv4. Anything
 * else is its own host and network.
 */
export function sourceKeys(address: string): { host: string; prefix: string } {
  const v4 = ipv4Octets(address);
  if (v4) return { host: v4.join('.'), prefix: v4.slice(0, 3).join('.') };
  const g = ipv6Groups(address);
  if (!g) return { host: address, prefix: address };
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    const o = [g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff];
    return { host: o.join('.'), prefix: o.slice(0, 3).join('.') };
  }
  const hex = g.map((w) => w.toString(16));
  return { host: hex.slice(0, 4).join(':') + '::/64', prefix: hex.slice(0, 3).join(':') + '::/48' };
}

interface Slot {
  readonly host: string;
  readonly prefix: string;
}

function bump(counts: Map<string, number>, k: string, by: number): void {
  const n = (counts.get(k) ?? 0) + by;
  if (n > 0) counts.set(k, n);
  else counts.delete(k);
}

/** How often (ms) a half-open handshake is checked for a stall: about the initial PTO
 * (RFC 9002 §6.2.2), the least time in which a handshake can be expected to move. A constant,
 * so the queue of checks stays in time order. */
export const STALL_CHECK_INTERVAL = 1000;

/**
 * The handshakes in progress of a server endpoint, keyed by connection (`T`), counted per host
 * and per network; the half-open ones in order of their deadline; and a decaying count of
 * Initials that made no connection (load, like handshakes in progress, for the Retry decision).
 *
 * A handshake is half-open from its acceptance until the endpoint sees progress (for a server
 * connection: the client's first Handshake packet, which shows it processed our first flight,
 * RFC 9000 §8.1, RFC 9001 §4.9.1). One still half-open `halfOpenTimeout` ms after acceptance is
 * expired: the deadline is fixed, so trickling packets does not extend it. Before that, one
 * that stalls (the caller says when, see expire()) is expired at the first check after:
 * every STALL_CHECK_INTERVAL ms.
 */
export class Admission<T> {
  private readonly limits: AdmissionLimits;
  private readonly slots = new Map<T, Slot>();
  private readonly perHost = new Map<string, number>();
  private readonly perPrefix = new Map<string, number>();
  /** Half-open handshakes and their deadlines; insertion order is deadline order (the clock
   * given to start() never goes back and the timeout is one constant). */
  private readonly halfOpen = new Map<T, number>();
  /** Half-open handshakes and when to check them for a stall next; in time order likewise. */
  private readonly checks = new Map<T, number>();
  private failures = 0;
  private failuresAt = 0;

  constructor(limits: AdmissionLimits) {
    this.limits = limits;
  }

  /** Handshakes in progress. */
  get size(): number {
    return this.slots.size;
  }

  /** Why a new handshake from `address` must be refused now, or undefined. */
  refusal(address: string): Refusal | undefined {
    const { host, prefix } = sourceKeys(address);
    if ((this.perHost.get(host) ?? 0) >= this.limits.maxHandshakesPerAddress)
      return 'refusedPerAddress';
    if ((this.perPrefix.get(prefix) ?? 0) >= this.limits.maxHandshakesPerPrefix)
      return 'refusedPerPrefix';
    return undefined;
  }

  /** A handshake from `address` accepted at `now` (monotonic). */
  start(handshake: T, address: string, now: number): void {
    if (this.slots.has(handshake)) return;
    const slot = sourceKeys(address);
    this.slots.set(handshake, slot);
    bump(this.perHost, slot.host, 1);
    bump(this.perPrefix, slot.prefix, 1);
    this.halfOpen.set(handshake, now + this.limits.halfOpenTimeout);
    this.checks.set(handshake, now + STALL_CHECK_INTERVAL);
  }

  /** The handshake completed or its connection is gone (no-op when not in progress). */
  end(handshake: T): void {
    const slot = this.slots.get(handshake);
    if (!slot) return;
    this.slots.delete(handshake);
    this.halfOpen.delete(handshake);
    this.checks.delete(handshake);
    bump(this.perHost, slot.host, -1);
    bump(this.perPrefix, slot.prefix, -1);
  }

  /** The earliest half-open deadline or stall check (Infinity: none). */
  nextTimeout(): number {
    let t = Infinity;
    for (const deadline of this.halfOpen.values()) {
      t = deadline;
      break;
    }
    for (const check of this.checks.values()) return Math.min(t, check);
    return t;
  }

  /**
   * The half-open handshakes to give up at `now`: `expired`, past their half-open deadline;
   * `stalled`, checked and found stalled. `stallAt(h)` says when `h` counts as stalled if it
   * makes no more progress (the time may move on as it does), or -1 when it is no longer
   * half-open. The returned handshakes are no longer counted; those no longer half-open stop
   * being checked.
   */
  expire(now: number, stallAt: (handshake: T) => number): { expired: T[]; stalled: T[] } {
    const expired: T[] = [];
    const stalled: T[] = [];
    for (const [handshake, deadline] of this.halfOpen) {
      if (deadline > now) break;
      this.halfOpen.delete(handshake);
      if (stallAt(handshake) < 0) {
        this.checks.delete(handshake);
        continue;
      }
      this.end(handshake);
      expired.push(handshake);
    }
    for (const [handshake, check] of this.checks) {
      if (check > now) break; // (an entry re-added below comes after those due)
      this.checks.delete(handshake);
      const at = stallAt(handshake);
      if (at < 0) this.halfOpen.delete(handshake);
      else if (at <= now) {
        this.end(handshake);
        stalled.push(handshake);
      } else this.checks.set(handshake, now + STALL_CHECK_INTERVAL);
    }
    return { expired, stalled };
  }

  /** An Initial made no connection (did not decrypt, or its connection refused it). */
  failed(now: number): void {
    this.failures = this.failureLoad(now) + 1;
    this.failuresAt = now;
  }

  /** Initials that made no connection in about the last second (exponential decay). */
  failureLoad(now: number): number {
    return this.failures * Math.exp(-Math.max(0, now - this.failuresAt) / FAILURE_DECAY);
  }
}
