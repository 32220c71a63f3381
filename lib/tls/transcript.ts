// The handshake transcript hash (RFC 8446 §4.4.1). Messages are buffered until the cipher
// suite (and so the hash) is known, then hashed incrementally; intermediate digests copy the
// running state.

import { createHash, type Hash as NodeHash } from 'node:crypto';
import type { Hash } from '../crypto/hkdf.js';
import { messageHash } from './messages.js';

export class Transcript {
  private pending: Buffer[] = [];
  private h: NodeHash | undefined;
  hash: Hash | undefined;

  add(message: Uint8Array): void {
    if (this.h) this.h.update(message);
    else this.pending.push(Buffer.from(message));
  }

  /** Fixes the hash once the cipher suite is chosen; buffered messages are hashed. */
  setHash(hash: Hash): void {
    if (this.hash) return;
    this.hash = hash;
    this.h = createHash(hash);
    for (const m of this.pending) this.h.update(m);
    this.pending = [];
  }

  /** Transcript-Hash of everything added so far. */
  digest(): Buffer {
    if (!this.h) throw new Error('transcript hash not chosen');
    return this.h.copy().digest();
  }

  /** Hash of what was added so far followed by `extra` (e.g. a truncated ClientHello). */
  digestWith(extra: Uint8Array): Buffer {
    if (!this.h) throw new Error('transcript hash not chosen');
    return this.h.copy().update(extra).digest();
  }

  /**
   * After a HelloRetryRequest (§4.4.1): the transcript restarts with
   * message_hash(Hash(ClientHello1)). Call after setHash and before adding the HRR.
   */
  replaceWithMessageHash(): void {
    const ch1 = this.digest();
    this.h = createHash(this.hash!);
    this.h.update(messageHash(ch1));
  }
}

/** Hash of a list of buffers. */
export function hashOf(hash: Hash, ...parts: Uint8Array[]): Buffer {
  const h = createHash(hash);
  for (const p of parts) h.update(p);
  return h.digest();
}
