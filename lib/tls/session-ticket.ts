// Stateless session tickets (RFC 8446 §4.6.1, RFC 5077 style): the server's resumption state
// is sealed with AES-256-GCM under a rotating server key and handed to the client as the
// ticket. Any key within the retention window can open a ticket; older ones are dropped.
// A fleet shares its keys instead (TicketKeys.fromSecrets): any server resumes any ticket, and
// 0-RTT stays with the server that issued the ticket (see TicketKeys.open).

import { createHmac } from 'node:crypto';
import { Aead } from '../crypto/aead.js';
import { randomBuffer, randomSource, type RandomSource } from '../crypto/random.js';
import { Reader, Writer } from './codec.js';
import { TlsAlert } from './alerts.js';

/** What the server needs to resume a session. */
export interface TicketState {
  suite: number;
  group: number; // the group of the original handshake (informational)
  psk: Buffer;
  createdAt: number; // ms
  lifetime: number; // s
  ageAdd: number;
  maxEarlyData: number;
  alpn: string;
  serverName: string;
  /** Opaque application data, e.g. the server's transport parameters for 0-RTT (RFC 9000 §7.4.1). */
  appData: Buffer;
}

interface TicketKey {
  id: Buffer; // 16 bytes
  aead: Aead;
  createdAt: number;
}

/** Layout of the sealed state; 2 added the issuer. Tickets of another layout do not open. */
const VERSION = 2;
const ISSUER = 16;
const MIN_SECRET = 32;
const MAX_SECRETS = 16;

/** A shared key from its secret: the AEAD key and the 16-byte id that tickets carry are both
 * derived from it, so every server holding the secret agrees on them. */
function sharedKey(secret: Uint8Array, i: number): TicketKey {
  if (!(secret instanceof Uint8Array)) throw new TypeError(`secrets[${i}] must be a Uint8Array`);
  if (secret.length < MIN_SECRET)
    throw new RangeError(`secrets[${i}] must be >= ${MIN_SECRET} bytes`);
  const derive = (label: string) => createHmac('sha256', secret).update(label).digest();
  return {
    id: derive('zquic ticket key id').subarray(0, 16),
    aead: new Aead('aes-256-gcm', derive('zquic ticket key')),
    createdAt: 0,
  };
}

/** The server's ticket keys. Share one instance between connections of an endpoint. */
export class TicketKeys {
  private keys: TicketKey[] = [];
  /** Sealed into every ticket of this instance: only this instance accepts 0-RTT with it. */
  private issuer: Buffer;
  /** Source of the keys, the issuer and the nonces. */
  private readonly random: RandomSource;
  /** @internal The secrets of a fromSecrets() instance (a worker pool hands them on); its
   * keys are never rotated nor aged out here (the operator rotates them). */
  secrets: readonly Uint8Array[] | undefined;

  /**
   * Keys shared by the servers of a fleet, so that a ticket from one resumes on any other:
   * each secret (>= 32 random bytes) is a key, the first seals, all open. Rotation: deploy the
   * new secret first in the list with the old ones after it, and drop an old one once the
   * tickets it sealed have expired (the ticket lifetime, 7 days at most: RFC 8446 §4.6.1).
   */
  static fromSecrets(secrets: readonly Uint8Array[], random?: RandomSource): TicketKeys {
    if (!Array.isArray(secrets)) throw new TypeError('secrets must be an array');
    if (secrets.length < 1 || secrets.length > MAX_SECRETS)
      throw new RangeError(`secrets must hold 1..${MAX_SECRETS} keys`);
    const keys = new TicketKeys(undefined, undefined, random);
    keys.keys = secrets.map(sharedKey);
    keys.secrets = secrets.map((s) => Uint8Array.from(s));
    return keys;
  }

  /** @internal fromSecrets() with a given `issuer` (16 bytes): the worker threads of one server
   * seal the same one, since their 0-RTT replay memory is shared too. */
  static withIssuer(secrets: readonly Uint8Array[], issuer: Uint8Array): TicketKeys {
    if (!(issuer instanceof Uint8Array) || issuer.length !== ISSUER)
      throw new RangeError(`issuer must be ${ISSUER} bytes`);
    const keys = TicketKeys.fromSecrets(secrets);
    keys.issuer = Buffer.from(issuer);
    return keys;
  }

  /**
   * rotateAfter: a new key is made when the current one is older (ms);
   * retain: how long an old key can still open tickets (ms, at least the ticket lifetime);
   * random: source of keys, issuer and nonces (default node:crypto's; a seeded one for runs
   * that repeat).
   */
  constructor(
    readonly rotateAfter = 3600_000,
    readonly retain = 7 * 24 * 3600_000,
    random?: RandomSource,
  ) {
    if (!(rotateAfter > 0)) throw new RangeError('rotateAfter must be positive');
    if (!(retain >= rotateAfter)) throw new RangeError('retain must be >= rotateAfter');
    this.random = randomSource(random, 'random');
    this.issuer = randomBuffer(this.random, ISSUER);
  }

  private current(now: number): TicketKey {
    const k = this.keys[0];
    if (k && (this.secrets || now - k.createdAt < this.rotateAfter)) return k;
    const key: TicketKey = {
      id: randomBuffer(this.random, 16),
      aead: new Aead('aes-256-gcm', this.random(32)),
      createdAt: now,
    };
    this.keys.unshift(key);
    while (
      this.keys.length > 1 &&
      now - this.keys[this.keys.length - 1]!.createdAt > this.retain + this.rotateAfter
    )
      this.keys.pop()!.aead.destroy();
    return key;
  }

  seal(state: TicketState, now: number): Buffer {
    const key = this.current(now);
    const w = new Writer(256);
    w.u8(VERSION).u16(state.suite).u16(state.group).vec8(state.psk);
    w.u32(Math.floor(state.createdAt / 2 ** 32)).u32(state.createdAt % 2 ** 32);
    w.u32(state.lifetime).u32(state.ageAdd).u32(state.maxEarlyData);
    w.vec8(Buffer.from(state.alpn, 'latin1'))
      .vec16(Buffer.from(state.serverName, 'latin1'))
      .vec16(state.appData)
      .bytes(this.issuer);
    const nonce = this.random(12);
    return Buffer.concat([key.id, nonce, key.aead.seal(nonce, key.id, w.finish())]);
  }

  /**
   * Opens a ticket; undefined if it is not ours, tampered with, or its key has been retired.
   * A ticket another instance issued (another server of a fleet, or this one before a restart)
   * resumes, but comes back with maxEarlyData 0, so the server refuses its 0-RTT: replay
   * protection is the issuing server's memory of used tickets (lib/tls/anti-replay.ts), which
   * no other process shares (RFC 8446 §8, RFC 9001 §9.2).
   */
  open(ticket: Uint8Array, now: number): TicketState | undefined {
    if (ticket.length < 16 + 12 + 16) return undefined;
    const t = Buffer.from(ticket.buffer, ticket.byteOffset, ticket.length);
    const id = t.subarray(0, 16);
    const key = this.keys.find((k) => k.id.equals(id));
    if (!key || (!this.secrets && now - key.createdAt > this.retain + this.rotateAfter))
      return undefined;
    const plain = key.aead.open(t.subarray(16, 28), id, t.subarray(28));
    if (!plain) return undefined;
    try {
      const r = new Reader(plain);
      if (r.u8() !== VERSION) return undefined;
      const suite = r.u16();
      const group = r.u16();
      const psk = Buffer.from(r.vec8());
      const createdAt = r.u32() * 2 ** 32 + r.u32();
      const lifetime = r.u32();
      const ageAdd = r.u32();
      const maxEarlyData = r.u32();
      const alpn = r.vec8().toString('latin1');
      const serverName = r.vec16().toString('latin1');
      const appData = Buffer.from(r.vec16());
      const ours = r.bytes(ISSUER).equals(this.issuer);
      r.expectEnd('ticket');
      return {
        suite,
        group,
        psk,
        createdAt,
        lifetime,
        ageAdd,
        maxEarlyData: ours ? maxEarlyData : 0,
        alpn,
        serverName,
        appData,
      };
    } catch (e) {
      if (e instanceof TlsAlert) return undefined;
      throw e;
    }
  }

  destroy(): void {
    for (const k of this.keys) k.aead.destroy();
    this.keys = [];
  }
}

/** What a client stores to resume (one per NewSessionTicket). */
export interface SessionTicket {
  ticket: Buffer;
  psk: Buffer;
  suite: number;
  ageAdd: number;
  lifetime: number; // s
  receivedAt: number; // ms
  maxEarlyData: number;
  alpn: string | undefined;
  serverName: string | undefined;
  /** The server's transport parameters of the original connection (RFC 9000 §7.4.1). */
  transportParameters: Buffer | undefined;
}

/** The first byte of encodeSessionTicket()'s output: the layout below. Bumped whenever that
 * layout changes, so that a ticket saved by another zquic version is refused, not misread. */
const SESSION_VERSION = 1;

const u32 = (v: unknown): boolean =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) < 2 ** 32;
const latin1 = (v: unknown, max: number): boolean =>
  typeof v === 'string' && v.length <= max && !/[^\x00-\xff]/.test(v);

/** Why `t` is not a SessionTicket this module can encode, or undefined when it is one. */
function invalidTicket(t: SessionTicket): string | undefined {
  if (t === null || typeof t !== 'object') return 'an object';
  if (!(t.ticket instanceof Uint8Array) || t.ticket.length < 1 || t.ticket.length > 0xffff)
    return 'ticket: 1..65535 bytes';
  if (!(t.psk instanceof Uint8Array) || t.psk.length < 32 || t.psk.length > 0xff)
    return 'psk: 32..255 bytes';
  if (!Number.isInteger(t.suite) || t.suite < 0 || t.suite > 0xffff) return 'suite: a u16';
  if (!u32(t.ageAdd) || !u32(t.lifetime) || !u32(t.maxEarlyData))
    return 'ageAdd, lifetime, maxEarlyData: u32 values';
  if (!(t.receivedAt >= 0 && t.receivedAt <= Number.MAX_SAFE_INTEGER))
    return 'receivedAt: a time in ms';
  if (t.alpn !== undefined && !latin1(t.alpn, 0xff)) return 'alpn: up to 255 latin1 characters';
  if (t.serverName !== undefined && !latin1(t.serverName, 0xffff))
    return 'serverName: a latin1 string';
  if (
    t.transportParameters !== undefined &&
    (!(t.transportParameters instanceof Uint8Array) || t.transportParameters.length > 0xffff)
  )
    return 'transportParameters: up to 65535 bytes';
  return undefined;
}

/** Serializes a client SessionTicket (from a session's 'ticket' event) to keep it across process
 * restarts; the first byte is the format version. TypeError for anything but a SessionTicket. */
export function encodeSessionTicket(t: SessionTicket): Buffer {
  const invalid = invalidTicket(t);
  if (invalid !== undefined) throw new TypeError(`ticket must be a SessionTicket (${invalid})`);
  const w = new Writer(512);
  const opt = (v: Uint8Array | undefined, fill: (b: Uint8Array) => void) => {
    w.u8(v === undefined ? 0 : 1);
    if (v !== undefined) fill(v);
  };
  w.u8(SESSION_VERSION).vec16(t.ticket).vec8(t.psk).u16(t.suite).u32(t.ageAdd).u32(t.lifetime);
  // Whole milliseconds (the clock may give fractions): ticket ages are in ms (RFC 8446 §4.6.1).
  const receivedAt = Math.floor(t.receivedAt);
  w.u32(Math.floor(receivedAt / 2 ** 32))
    .u32(receivedAt % 2 ** 32)
    .u32(t.maxEarlyData);
  opt(t.alpn === undefined ? undefined : Buffer.from(t.alpn, 'latin1'), (b) => w.vec8(b));
  opt(t.serverName === undefined ? undefined : Buffer.from(t.serverName, 'latin1'), (b) =>
    w.vec16(b),
  );
  opt(t.transportParameters, (b) => w.vec16(b));
  return Buffer.from(w.finish());
}

/** Parses encodeSessionTicket() output. TypeError, naming `session` and saying "stale or foreign
 * ticket", for bytes of another format version, truncated, with trailing bytes, or garbage. */
export function decodeSessionTicket(data: Uint8Array): SessionTicket {
  if (!(data instanceof Uint8Array)) throw new TypeError('session must be a Uint8Array');
  const refuse = (why: string): TypeError =>
    new TypeError(`session is a stale or foreign ticket (${why})`);
  if (data.length === 0) throw refuse('empty');
  if (data[0] !== SESSION_VERSION)
    throw refuse(`format version ${data[0]}, this zquic reads ${SESSION_VERSION}`);
  try {
    const r = new Reader(data);
    r.u8();
    const ticket = Buffer.from(r.vec16('ticket', 1));
    const psk = Buffer.from(r.vec8('psk', 32));
    const suite = r.u16();
    const ageAdd = r.u32();
    const lifetime = r.u32();
    const receivedAt = r.u32() * 2 ** 32 + r.u32();
    const maxEarlyData = r.u32();
    const flag = (what: string): boolean => {
      const f = r.u8(what);
      if (f > 1) throw refuse(`${what} presence byte ${f}`);
      return f === 1;
    };
    const alpn = flag('alpn') ? r.vec8().toString('latin1') : undefined;
    const serverName = flag('serverName') ? r.vec16().toString('latin1') : undefined;
    const transportParameters = flag('transportParameters') ? Buffer.from(r.vec16()) : undefined;
    r.expectEnd('session');
    if (!Number.isSafeInteger(receivedAt)) throw refuse('receivedAt out of range');
    return {
      ticket,
      psk,
      suite,
      ageAdd,
      lifetime,
      receivedAt,
      maxEarlyData,
      alpn,
      serverName,
      transportParameters,
    };
  } catch (e) {
    if (e instanceof TlsAlert) throw refuse(e.message);
    throw e;
  }
}
