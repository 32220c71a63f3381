// Server-side stateless logic (sans-IO; time is a parameter): what to do with a datagram whose
// destination connection ID matches no connection — accept it as a new connection, answer with
// Retry (RFC 9000 §8.1.2) or Version Negotiation (§6), send a Stateless Reset (§10.3), or drop
// it. Also address-validation tokens for Retry and NEW_TOKEN (§8.1.3, §8.1.4) and stateless
// reset tokens (§10.3.2). The endpoint decides; connections never see what is dropped here.
import { createHmac } from 'node:crypto';

import { Aead } from '../crypto/aead.js';
import { PacketKey, initialSecrets } from '../crypto/packet.js';
import {
  MIN_INITIAL_DATAGRAM,
  MIN_STATELESS_RESET,
  QUIC_V1,
  QUIC_V2,
  encodeRetry,
  encodeStatelessReset,
  encodeVersionNegotiation,
  isSupportedVersion,
  parseHeader,
  parseInvariants,
} from './header.js';
import { newLocalCid, type CidGenerator } from './cid.js';
import { unprotectPacket } from './parser.js';
import { randomSource, uniform, type RandomSource } from './random.js';

export interface PeerAddress {
  address: string;
  port: number;
  family?: string;
}

export interface StatelessOptions {
  /** Length of the server's connection IDs (short headers carry no length), 4..20, default 8. */
  cidLength?: number;
  /** Static key for stateless reset tokens (>= 16 bytes); keep it across restarts so peers of a
   * crashed server get reset (§10.3.2). Default: random per process. */
  resetKey?: Uint8Array;
  /** Shared token keys (each >= 32 bytes) for Retry and NEW_TOKEN tokens, so that any server of
   * a fleet accepts the tokens of the others: the first seals, all open (rotation: put the new
   * key first and keep the old one for newTokenLifetime). Default: random per process,
   * replaced every newTokenLifetime. */
  tokenKeys?: readonly Uint8Array[];
  /** Makes our CIDs (QUIC-LB, lib/quic/quic-lb.ts): the SCIDs of Retry packets here, and the
   * endpoint gives it to every connection it accepts. Default: random CIDs. */
  cidGenerator?: CidGenerator;
  /** Added to `now` for the time stamped into tokens and checked against it (default 0): with
   * `now + wallClockOffset` the wall clock (ms since the epoch), the servers of a fleet, each
   * with its own `now`, agree on a token's age. */
  wallClockOffset?: number;
  /** How long a Retry token is valid (ms, default 10 s: it is returned at once, §8.1.3). */
  retryTokenLifetime?: number;
  /** How long a NEW_TOKEN token is valid (ms, default 24 h). Token keys rotate at this period. */
  newTokenLifetime?: number;
  /** Stateless resets per second (token bucket, burst the same), default 100. */
  resetRate?: number;
  /** Versions offered in Version Negotiation, preferred first. */
  versions?: readonly number[];
  /** Source of token keys and nonces, Retry SCIDs, the default reset key and the unpredictable
   * bits of Version Negotiation and Stateless Reset packets (default node:crypto). */
  random?: RandomSource;
}

export type FirstPacketDecision =
  | {
      kind: 'accept';
      version: number;
      dcid: Uint8Array;
      /** Set when the client came back after our Retry (transport parameters, §7.3). */
      originalDcid?: Uint8Array;
      retrySourceCid?: Uint8Array;
      /** A valid Retry or NEW_TOKEN token proved the address (§8.1). */
      addressValidated: boolean;
    }
  | { kind: 'retry'; packet: Buffer }
  | { kind: 'version-negotiation'; packet: Buffer }
  | { kind: 'stateless-reset'; packet: Buffer }
  | { kind: 'drop'; reason: string };

const TOKEN_RETRY = 0x52; // 'R'
const TOKEN_NEW = 0x4e; // 'N'
const NONCE = 12;
const TAG = 16;
const TOKEN_HEADER = 2 + NONCE; // type, key id, nonce
const MAX_NEW_TOKEN_SEEN = 10_000;
const MAX_TOKEN_KEYS = 16;
const MIN_TOKEN_KEY = 32;
/** Tokens stamped up to this far (ms) in our future are taken: the clocks of a fleet's servers
 * differ a little. */
const CLOCK_SKEW = 1000;

interface TokenKey {
  id: number;
  aead: Aead;
  created: number;
}

function positive(v: number | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v))
    throw new RangeError(`${name} must be a positive number`);
  return v;
}

/** A shared token key from its secret: the AEAD key and the one-byte id that tokens carry are
 * both derived from it, so every server holding the secret agrees on them. */
function sharedTokenKey(secret: Uint8Array, i: number): TokenKey {
  if (!(secret instanceof Uint8Array)) throw new TypeError(`tokenKeys[${i}] must be a Uint8Array`);
  if (secret.length < MIN_TOKEN_KEY)
    throw new RangeError(`tokenKeys[${i}] must be >= ${MIN_TOKEN_KEY} bytes`);
  const derive = (label: string) => createHmac('sha256', secret).update(label).digest();
  const id = derive('zquic token key id')[0]!;
  return { id, aead: new Aead('aes-256-gcm', derive('zquic token key')), created: 0 };
}

/** Address bytes a token is bound to: IP (and port for Retry tokens). */
function addressAad(type: number, keyId: number, remote: PeerAddress, withPort: boolean): Buffer {
  const ip = Buffer.from(remote.address, 'latin1');
  const aad = Buffer.allocUnsafe(4 + ip.length);
  aad[0] = type;
  aad[1] = keyId;
  aad.writeUInt16BE(withPort ? remote.port : 0, 2);
  aad.set(ip, 4);
  return aad;
}

/**
 * True if the first packet of `datagram` (a client's Initial that decideFirstPacket accepted)
 * opens with the Initial keys of its DCID (RFC 9001 §5.2): a key derivation and one AEAD open
 * on a copy (unprotecting works in place; the connection gets the datagram intact), so that
 * state is made only for an Initial that decrypts (handshake denial of service, RFC 9000 §21.2).
 */
export function initialOpens(datagram: Uint8Array, cidLength: number): boolean {
  let header;
  try {
    header = parseHeader(datagram, 0, datagram.length, cidLength);
  } catch {
    return false;
  }
  if (header.type !== 'initial') return false;
  const { client, server } = initialSecrets(header.version, header.dcid);
  const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', client, header.version);
  client.fill(0);
  server.fill(0);
  try {
    return unprotectPacket(key, Buffer.from(datagram.subarray(0, header.end)), header, -1) >= 0;
  } finally {
    key.destroy();
  }
}

export class StatelessServer {
  readonly cidLength: number;
  readonly versions: readonly number[];
  private readonly resetKey: Buffer;
  private readonly random: RandomSource;
  private readonly retryLifetime: number;
  private readonly newTokenLifetime: number;
  private readonly resetRate: number;
  private readonly wallClockOffset: number;
  private resetBudget: number;
  private resetRefilled = -Infinity;
  private keys: TokenKey[] = [];
  private nextKeyId = 0;
  /** Keys from the tokenKeys option: never replaced. */
  private readonly sharedKeys: boolean;
  /** The cidGenerator option (the endpoint gives it to the connections it accepts). */
  readonly cidGenerator: CidGenerator | undefined;
  /** NEW_TOKEN nonces already used (§8.1.4: SHOULD NOT be accepted twice); bounded. */
  private readonly seenNewTokens = new Map<string, number>();

  constructor(options: StatelessOptions = {}) {
    if (options === null || typeof options !== 'object')
      throw new TypeError('options must be an object');
    const cidLength = options.cidLength ?? 8;
    if (!Number.isInteger(cidLength) || cidLength < 4 || cidLength > 20)
      throw new RangeError('cidLength must be an integer 4..20');
    this.cidLength = cidLength;
    if (options.resetKey !== undefined) {
      if (!(options.resetKey instanceof Uint8Array))
        throw new TypeError('resetKey must be a Uint8Array');
      if (options.resetKey.length < 16) throw new RangeError('resetKey must be >= 16 bytes');
    }
    this.random = randomSource(options.random, 'random');
    if (options.cidGenerator !== undefined && typeof options.cidGenerator !== 'function')
      throw new TypeError('cidGenerator must be a function');
    this.cidGenerator = options.cidGenerator;
    const tokenKeys = options.tokenKeys;
    if (tokenKeys !== undefined) {
      if (!Array.isArray(tokenKeys)) throw new TypeError('tokenKeys must be an array');
      if (tokenKeys.length < 1 || tokenKeys.length > MAX_TOKEN_KEYS)
        throw new RangeError(`tokenKeys must hold 1..${MAX_TOKEN_KEYS} keys`);
      this.keys = tokenKeys.map(sharedTokenKey);
    }
    this.sharedKeys = tokenKeys !== undefined;
    this.resetKey = Buffer.from(options.resetKey ?? this.random(32));
    this.retryLifetime = positive(options.retryTokenLifetime, 'retryTokenLifetime', 10_000);
    this.newTokenLifetime = positive(options.newTokenLifetime, 'newTokenLifetime', 86_400_000);
    this.resetRate = positive(options.resetRate, 'resetRate', 100);
    this.wallClockOffset = options.wallClockOffset ?? 0;
    if (typeof this.wallClockOffset !== 'number' || !Number.isFinite(this.wallClockOffset))
      throw new TypeError('wallClockOffset must be a finite number');
    this.resetBudget = this.resetRate;
    this.versions = options.versions ?? [QUIC_V1, QUIC_V2];
    if (!Array.isArray(this.versions) || this.versions.length === 0)
      throw new TypeError('versions must be a non-empty array');
    for (const v of this.versions)
      if (!isSupportedVersion(v)) throw new RangeError(`versions: 0x${v.toString(16)} unsupported`);
  }

  /** §10.3.2: the stateless reset token of one of our connection IDs, HMAC-SHA256 under the
   * static key, so it can be recomputed without state after a crash. */
  resetToken(cid: Uint8Array): Buffer {
    if (!(cid instanceof Uint8Array)) throw new TypeError('cid must be a Uint8Array');
    return createHmac('sha256', this.resetKey).update(cid).digest().subarray(0, 16);
  }

  /**
   * §10.3: a Stateless Reset answering a short-header datagram for an unknown connection, or
   * undefined when none may be sent: it must be smaller than the trigger (§10.3.3, so two
   * endpoints cannot loop) yet at least 21 bytes, and resets are rate limited.
   */
  statelessReset(datagram: Uint8Array, now: number): Buffer | undefined {
    const n = datagram.length;
    if (n <= MIN_STATELESS_RESET || n < 1 + this.cidLength) return undefined;
    if ((datagram[0]! & 0x80) !== 0) return undefined; // only short headers (§10.3)
    if (!this.takeReset(now)) return undefined;
    // §10.3: answering a packet of 43 bytes or less, be one byte shorter; otherwise pick a
    // size that looks like a short packet (>= 43: 1 + 20-byte CID + payload), still smaller.
    const size =
      n <= 43 ? n - 1 : 43 + Math.floor(uniform(this.random) * (Math.min(n - 1, 200) - 42));
    const cid = datagram.subarray(1, 1 + this.cidLength);
    return encodeStatelessReset(this.resetToken(cid), size, this.random);
  }

  private takeReset(now: number): boolean {
    if (now > this.resetRefilled) {
      const elapsed = this.resetRefilled === -Infinity ? Infinity : now - this.resetRefilled;
      this.resetBudget = Math.min(
        this.resetRate,
        this.resetBudget + (elapsed * this.resetRate) / 1000,
      );
      this.resetRefilled = now;
    }
    if (this.resetBudget < 1) return false;
    this.resetBudget -= 1;
    return true;
  }

  /** The token key in use at `now`, rotated every newTokenLifetime; the previous key is kept
   * so tokens issued just before a rotation stay valid for their whole lifetime. */
  private currentKey(now: number): TokenKey {
    const cur = this.keys[0];
    if (cur && (this.sharedKeys || now - cur.created < this.newTokenLifetime)) return cur;
    const key: TokenKey = {
      id: this.nextKeyId,
      aead: new Aead('aes-256-gcm', this.random(32)),
      created: now,
    };
    this.nextKeyId = (this.nextKeyId + 1) & 0xff;
    const dropped = this.keys.slice(1);
    this.keys = cur ? [key, cur] : [key];
    for (const k of dropped) k.aead.destroy();
    return key;
  }

  private seal(type: number, remote: PeerAddress, now: number, body: Uint8Array): Buffer {
    const key = this.currentKey(now);
    const out = Buffer.allocUnsafe(TOKEN_HEADER + 8 + body.length + TAG);
    out[0] = type;
    out[1] = key.id;
    out.set(this.random(NONCE), 2);
    const plain = Buffer.allocUnsafe(8 + body.length);
    plain.writeDoubleBE(now + this.wallClockOffset, 0);
    plain.set(body, 8);
    const aad = addressAad(type, key.id, remote, type === TOKEN_RETRY);
    key.aead.seal(out.subarray(2, TOKEN_HEADER), aad, plain).copy(out, TOKEN_HEADER);
    return out;
  }

  /** Opens a token of `type`; undefined unless authentic, bound to `remote`, and unexpired. */
  private open(
    token: Uint8Array,
    type: number,
    remote: PeerAddress,
    now: number,
    lifetime: number,
  ): Buffer | undefined {
    if (token.length < TOKEN_HEADER + 8 + TAG || token[0] !== type) return undefined;
    // Shared keys derive their ids, which may collide: each key with the id is tried.
    let plain: Buffer | null = null;
    for (const key of this.keys) {
      if (key.id !== token[1]) continue;
      const aad = addressAad(type, key.id, remote, type === TOKEN_RETRY);
      plain = key.aead.open(token.subarray(2, TOKEN_HEADER), aad, token.subarray(TOKEN_HEADER));
      if (plain) break;
    }
    if (!plain) return undefined;
    const issued = plain.readDoubleBE(0);
    const t = now + this.wallClockOffset;
    if (!(issued <= t + CLOCK_SKEW && t - issued <= lifetime)) return undefined;
    return plain.subarray(8);
  }

  /** §8.1.2: a Retry token binding the client's address and port, the original DCID, our
   * Retry SCID (the DCID the client must use next) and the issue time. */
  retryToken(
    remote: PeerAddress,
    originalDcid: Uint8Array,
    retryScid: Uint8Array,
    now: number,
  ): Buffer {
    const body = Buffer.allocUnsafe(2 + originalDcid.length + retryScid.length);
    body[0] = originalDcid.length;
    body.set(originalDcid, 1);
    body[1 + originalDcid.length] = retryScid.length;
    body.set(retryScid, 2 + originalDcid.length);
    return this.seal(TOKEN_RETRY, remote, now, body);
  }

  /** Checks a Retry token from an Initial whose DCID is `dcid`: the original DCID, or undefined. */
  validateRetryToken(
    token: Uint8Array,
    remote: PeerAddress,
    dcid: Uint8Array,
    now: number,
  ): Buffer | undefined {
    const body = this.open(token, TOKEN_RETRY, remote, now, this.retryLifetime);
    if (!body || body.length < 2) return undefined;
    const odcidLen = body[0]!;
    if (2 + odcidLen > body.length) return undefined;
    const scid = body.subarray(2 + odcidLen);
    if (body[1 + odcidLen] !== scid.length || !scid.equals(dcid)) return undefined;
    return body.subarray(1, 1 + odcidLen);
  }

  /** §8.1.3: a token for a NEW_TOKEN frame, bound to the client's IP address (a later
   * connection comes from another port) and the issue time. */
  newToken(remote: PeerAddress, now: number): Buffer {
    return this.seal(TOKEN_NEW, remote, now, Buffer.alloc(0));
  }

  /** True for an authentic, unexpired NEW_TOKEN token for this IP, not seen before (§8.1.4:
   * tokens from NEW_TOKEN SHOULD NOT be accepted twice; the memory of used ones is bounded). */
  validateNewToken(token: Uint8Array, remote: PeerAddress, now: number): boolean {
    if (!this.open(token, TOKEN_NEW, remote, now, this.newTokenLifetime)) return false;
    const id = Buffer.from(token.subarray(1, TOKEN_HEADER)).toString('base64');
    for (const [k, expiry] of this.seenNewTokens) {
      if (expiry > now && this.seenNewTokens.size < MAX_NEW_TOKEN_SEEN) break;
      this.seenNewTokens.delete(k);
    }
    if (this.seenNewTokens.has(id)) return false;
    this.seenNewTokens.set(id, now + this.newTokenLifetime);
    return true;
  }

  /**
   * What to do with a datagram that matched no connection. `retry` forces address
   * validation (the `retry` option, or the endpoint under handshake load).
   */
  decideFirstPacket(
    datagram: Uint8Array,
    remote: PeerAddress,
    now: number,
    options: { retry?: boolean } = {},
  ): FirstPacketDecision {
    if (datagram.length === 0) return { kind: 'drop', reason: 'empty datagram' };
    if ((datagram[0]! & 0x80) === 0) {
      const packet = this.statelessReset(datagram, now);
      return packet
        ? { kind: 'stateless-reset', packet }
        : { kind: 'drop', reason: 'short header for an unknown connection' };
    }
    const inv = parseInvariants(datagram);
    if (!inv) return { kind: 'drop', reason: 'malformed long header' };
    // §6.1: never answer a Version Negotiation packet.
    if (inv.version === 0) return { kind: 'drop', reason: 'version negotiation packet' };
    if (!isSupportedVersion(inv.version)) {
      // §5.2.2 / §14.1: answer only datagrams a client's first Initial could be (>= 1200),
      // so VN is never an amplifier.
      if (datagram.length < MIN_INITIAL_DATAGRAM)
        return { kind: 'drop', reason: 'unsupported version in a short datagram' };
      if (inv.dcid.length > 255 || inv.scid.length > 255)
        return { kind: 'drop', reason: 'bad CID' };
      return {
        kind: 'version-negotiation',
        packet: encodeVersionNegotiation(inv.scid, inv.dcid, this.versions, this.random(1)[0]),
      };
    }
    let header;
    try {
      header = parseHeader(datagram, 0, datagram.length, this.cidLength);
    } catch (err) {
      return { kind: 'drop', reason: (err as Error).message };
    }
    // 0-RTT or Handshake for no connection (reordered or stale): the client resends (§12.2).
    if (header.type !== 'initial')
      return { kind: 'drop', reason: `${header.type} for no connection` };
    // §14.1: Initial datagrams below 1200 bytes are discarded.
    if (datagram.length < MIN_INITIAL_DATAGRAM)
      return { kind: 'drop', reason: 'Initial datagram < 1200 bytes' };
    // §7.2: a client's first DCID is at least 8 bytes.
    if (header.dcid.length < 8) return { kind: 'drop', reason: 'Initial DCID < 8 bytes' };
    const { version, dcid, scid, token } = header;
    if (token.length > 0) {
      if (token[0] === TOKEN_RETRY) {
        const odcid = this.validateRetryToken(token, remote, dcid, now);
        // §8.1.3: an invalid Retry token is not proof; we drop rather than keep state for it.
        if (!odcid) return { kind: 'drop', reason: 'invalid Retry token' };
        return {
          kind: 'accept',
          version,
          dcid,
          originalDcid: odcid,
          retrySourceCid: dcid,
          addressValidated: true,
        };
      }
      // §8.1.3: an invalid NEW_TOKEN token is ignored (proceed as if there were none).
      if (this.validateNewToken(token, remote, now))
        return { kind: 'accept', version, dcid, addressValidated: true };
    }
    if (options.retry) {
      // QUIC-LB (draft-ietf-quic-load-balancers-21 §4.2): a balancer routes the client's next
      // Initial by the DCID chosen here, so it carries our server ID like every CID we issue.
      const retryScid = this.newCid();
      const t = this.retryToken(remote, dcid, retryScid, now);
      const unused = this.random(1)[0];
      return { kind: 'retry', packet: encodeRetry(version, scid, retryScid, t, dcid, unused) };
    }
    return { kind: 'accept', version, dcid, addressValidated: false };
  }

  /** A new CID of ours (cidGenerator's, else random). */
  private newCid(): Uint8Array {
    return newLocalCid(this.cidLength, this.random, this.cidGenerator);
  }

  /** Wipes the token keys. */
  destroy(): void {
    for (const k of this.keys) k.aead.destroy();
    this.keys = [];
    this.resetKey.fill(0);
  }
}
