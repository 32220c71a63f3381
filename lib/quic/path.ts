/**
 * The network path of a connection: the peer's address, address validation and the
 * anti-amplification limit (RFC 9000 §8), path validation (§8.2) and NAT rebinding (§9.3).
 */

export interface Address {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.address === b.address && a.port === b.port;
}

import type { FrameWriter } from './builder.js';
import { appended, emptyArray } from './empty.js';
import { dequeue } from './queue.js';
import type { SentFrame } from './spaces.js';

/** §19.17/§19.18: PATH_CHALLENGE / PATH_RESPONSE: type byte + 8 bytes of data. */
const PATH_FRAME_SIZE = 9;

/** §8.2.2: PATH_RESPONSE frames we keep to send (more challenges are ignored). */
const MAX_PATH_RESPONSES = 4;

export class Path {
  /** Bytes sent and received on this path (for the §8.1 limit). */
  bytesSent = 0;
  bytesReceived = 0;
  /** PATH_CHALLENGE data we sent and wait to see answered, and whether to (re)send it. */
  challenge: Uint8Array | undefined;
  challengePending = false;
  /** PATH_RESPONSE data to send. */
  responses: Uint8Array[] = emptyArray();

  constructor(
    public remote: Address,
    public validated: boolean,
  ) {}

  /** §8.1: bytes we may still send before the peer's address is validated. */
  amplificationRoom(): number {
    return this.validated ? Infinity : 3 * this.bytesReceived - this.bytesSent;
  }

  get amplificationLimited(): boolean {
    return !this.validated && this.bytesSent >= 3 * this.bytesReceived;
  }

  /** §9.3: the peer moved to `remote`: validate it with `challenge` (8 unpredictable bytes).
   * Congestion state is kept (RFC 9002 §9.4 allows it for a NAT rebinding). */
  migrate(remote: Address, challenge: Uint8Array): void {
    this.remote = remote;
    this.bytesSent = this.bytesReceived = 0;
    this.validated = false;
    this.challenge = challenge;
    this.challengePending = true;
  }

  onChallenge(data: Uint8Array): void {
    if (this.responses.length < MAX_PATH_RESPONSES)
      this.responses = appended(this.responses, Buffer.from(data));
  }

  /** §8.2.3: a PATH_RESPONSE echoing our challenge validates the path. True if it did. */
  onResponse(data: Uint8Array): boolean {
    const c = this.challenge;
    if (!c || c.length !== data.length || !c.every((b, i) => b === data[i])) return false;
    this.challenge = undefined;
    this.validated = true;
    return true;
  }

  /** §8.2.1: a lost PATH_CHALLENGE is sent again while the path is not validated. */
  onChallengeLost(): void {
    if (this.challenge) this.challengePending = true;
  }

  get hasFrames(): boolean {
    return this.challengePending || this.responses.length > 0;
  }

  /** PATH_RESPONSE and PATH_CHALLENGE frames due, as many as fit. */
  writeFrames(w: FrameWriter, frames: SentFrame[]): boolean {
    let wrote = false;
    while (this.responses.length && w.room >= PATH_FRAME_SIZE) {
      w.writeFrame({ type: 'path_response', data: dequeue(this.responses)! });
      frames.push({ t: 'other', name: 'path_response' });
      wrote = true;
    }
    if (this.challengePending && this.challenge && w.room >= PATH_FRAME_SIZE) {
      w.writeFrame({ type: 'path_challenge', data: this.challenge });
      frames.push({ t: 'challenge' });
      this.challengePending = false;
      wrote = true;
    }
    return wrote;
  }
}
