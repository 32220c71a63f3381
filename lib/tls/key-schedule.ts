// TLS 1.3 key schedule (RFC 8446 §7.1) on the native HKDF, plus Finished (§4.4.4), PSK
// binders (§4.2.11.2), resumption PSKs (§4.6.1) and traffic key derivation (§7.3).

import { createHash, timingSafeEqual } from 'node:crypto';
import { hashLength, hkdfExpandLabel, hkdfExtract, type Hash } from '../crypto/hkdf.js';

export type { Hash };

const emptyHashes = new Map<Hash, Buffer>();
/** Hash("") for the given hash (the Derive-Secret context with no messages). */
export function emptyHash(hash: Hash): Buffer {
  let h = emptyHashes.get(hash);
  if (!h) emptyHashes.set(hash, (h = createHash(hash).digest()));
  return h;
}

/** Derive-Secret(Secret, Label, Messages) with the transcript hash already computed. */
export function deriveSecret(
  hash: Hash,
  secret: Uint8Array,
  label: string,
  transcriptHash: Uint8Array,
): Buffer {
  return hkdfExpandLabel(hash, secret, label, transcriptHash, hashLength(hash));
}

/** The three extract stages and every secret derived from them. */
export class KeySchedule {
  readonly hashLen: number;
  readonly earlySecret: Buffer;
  handshakeSecret?: Buffer;
  masterSecret?: Buffer;

  /** psk: the resumption PSK, or undefined for a full handshake (zeros, §7.1). */
  constructor(
    readonly hash: Hash,
    psk?: Uint8Array,
  ) {
    this.hashLen = hashLength(hash);
    const zeros = Buffer.alloc(this.hashLen);
    this.earlySecret = hkdfExtract(hash, zeros, psk ?? zeros);
  }

  derive(secret: Uint8Array, label: string, transcriptHash: Uint8Array): Buffer {
    return deriveSecret(this.hash, secret, label, transcriptHash);
  }

  /** "res binder" for resumption PSKs (§7.1). */
  binderKey(): Buffer {
    return this.derive(this.earlySecret, 'res binder', emptyHash(this.hash));
  }
  clientEarlyTrafficSecret(chHash: Uint8Array): Buffer {
    return this.derive(this.earlySecret, 'c e traffic', chHash);
  }
  earlyExporterMasterSecret(chHash: Uint8Array): Buffer {
    return this.derive(this.earlySecret, 'e exp master', chHash);
  }

  /** Handshake Secret = HKDF-Extract(Derive-Secret(Early, "derived", ""), (EC)DHE). */
  setSharedSecret(sharedSecret: Uint8Array): Buffer {
    const salt = this.derive(this.earlySecret, 'derived', emptyHash(this.hash));
    this.handshakeSecret = hkdfExtract(this.hash, salt, sharedSecret);
    const salt2 = this.derive(this.handshakeSecret, 'derived', emptyHash(this.hash));
    this.masterSecret = hkdfExtract(this.hash, salt2, Buffer.alloc(this.hashLen));
    return this.handshakeSecret;
  }

  handshakeTrafficSecrets(chShHash: Uint8Array): { client: Buffer; server: Buffer } {
    const hs = this.need(this.handshakeSecret);
    return {
      client: this.derive(hs, 'c hs traffic', chShHash),
      server: this.derive(hs, 's hs traffic', chShHash),
    };
  }
  applicationTrafficSecrets(serverFinishedHash: Uint8Array): { client: Buffer; server: Buffer } {
    const ms = this.need(this.masterSecret);
    return {
      client: this.derive(ms, 'c ap traffic', serverFinishedHash),
      server: this.derive(ms, 's ap traffic', serverFinishedHash),
    };
  }
  exporterMasterSecret(serverFinishedHash: Uint8Array): Buffer {
    return this.derive(this.need(this.masterSecret), 'exp master', serverFinishedHash);
  }
  resumptionMasterSecret(clientFinishedHash: Uint8Array): Buffer {
    return this.derive(this.need(this.masterSecret), 'res master', clientFinishedHash);
  }

  /** Overwrites the stage secrets (when the connection is done with them). */
  wipe(): void {
    this.earlySecret.fill(0);
    this.handshakeSecret?.fill(0);
    this.masterSecret?.fill(0);
  }

  private need(s: Buffer | undefined): Buffer {
    if (!s) throw new Error('key schedule used out of order');
    return s;
  }
}

/** finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length) (§4.4.4). */
export function finishedKey(hash: Hash, baseKey: Uint8Array): Buffer {
  return hkdfExpandLabel(hash, baseKey, 'finished', Buffer.alloc(0), hashLength(hash));
}

/**
 * verify_data = HMAC(finished_key, Transcript-Hash(...)) (§4.4.4); also the PSK binder.
 * HKDF-Extract(salt, IKM) is HMAC(salt, IKM) (RFC 5869 §2.2), so the native extract computes
 * it without node:crypto's per-call HMAC key setup.
 */
export function finishedVerifyData(
  hash: Hash,
  baseKey: Uint8Array,
  transcriptHash: Uint8Array,
): Buffer {
  return hkdfExtract(hash, finishedKey(hash, baseKey), transcriptHash);
}

/** Constant-time comparison of a received verify_data / binder with the expected one. */
export function verifyDataEquals(expected: Uint8Array, received: Uint8Array): boolean {
  return expected.length === received.length && timingSafeEqual(expected, received);
}

/** PSK for a ticket: HKDF-Expand-Label(resumption_master_secret, "resumption", nonce, Hash.length). */
export function resumptionPsk(
  hash: Hash,
  resumptionMasterSecret: Uint8Array,
  ticketNonce: Uint8Array,
): Buffer {
  return hkdfExpandLabel(hash, resumptionMasterSecret, 'resumption', ticketNonce, hashLength(hash));
}

/** application_traffic_secret_N+1 (§7.2), used by the record layer's KeyUpdate. */
export function nextTrafficSecret(hash: Hash, secret: Uint8Array): Buffer {
  return hkdfExpandLabel(hash, secret, 'traffic upd', Buffer.alloc(0), hashLength(hash));
}

/** Record-layer key and IV (§7.3). QUIC derives its own with "quic key"/"quic iv" in lib/crypto. */
export function trafficKeys(
  hash: Hash,
  secret: Uint8Array,
  keyLength: number,
): { key: Buffer; iv: Buffer } {
  return {
    key: hkdfExpandLabel(hash, secret, 'key', Buffer.alloc(0), keyLength),
    iv: hkdfExpandLabel(hash, secret, 'iv', Buffer.alloc(0), 12),
  };
}
