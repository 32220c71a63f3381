/**
 * The application keys of a connection: 0-RTT (RFC 9001 §4.6) and 1-RTT with its key phases
 * (RFC 9001 §6). Holds which key reads and writes, the phase bits, when the previous read key
 * may go (§6.5), and whether the current write phase may update again (§6.1).
 */
import type { PacketKey } from '../crypto/packet.js';

/** RFC 9001 §6.6: update well before the confidentiality limit (2^23 packets for AES-GCM; we
 * use 2^22 for every suite). */
const KEY_UPDATE_AFTER_PACKETS = 2 ** 22;

export class AppKeys {
  /** 1-RTT keys of the current phases. */
  read: PacketKey | undefined;
  write: PacketKey | undefined;
  /** 0-RTT: the client writes, the server reads. */
  zeroRttRead: PacketKey | undefined;
  zeroRttWrite: PacketKey | undefined;
  readPhase = 0;
  writePhase = 0;
  /** First packet number received in the current read phase (-1: no 1-RTT packet yet). */
  readPhaseStartPn = -1;
  /** Packets protected with the current write key (§6.6 confidentiality limit). */
  packetsThisKey = 0;
  /** 1-RTT packets that failed authentication (§6.6 integrity limit). */
  authFailures = 0;
  private prevRead: PacketKey | undefined;
  private nextRead: PacketKey | undefined;
  private prevReadDiscardAt = Infinity;
  /** A packet of the current write phase was acknowledged (§6.1: may update again). */
  private writePhaseAcked = false;
  private writePhaseFirstPn = -1;

  /**
   * The key for a 1-RTT packet whose phase bit differs from what was expected (its header
   * protection is already removed, §6.3): the previous key for a reordered packet of the old
   * phase, else the next phase's key. `next` says whether it starts a new phase.
   */
  forPhase(bit: number, pn: number): { key: PacketKey; next: boolean } | undefined {
    if (bit === this.readPhase) return this.read && { key: this.read, next: false };
    if (this.prevRead && pn < this.readPhaseStartPn) return { key: this.prevRead, next: false };
    if (!this.read) return undefined;
    this.nextRead ??= this.read.nextPhase();
    return { key: this.nextRead, next: true };
  }

  /** A packet authenticated with the key forPhase() gave as `next`: the peer updated (§6.2).
   * The previous key is kept for `keepPrevious` ms (§6.5: three times the PTO). Returns true
   * when we must update our write key in answer. */
  onPeerUpdate(pn: number, now: number, keepPrevious: number): boolean {
    this.prevRead?.destroy();
    this.prevRead = this.read;
    this.read = this.nextRead;
    this.nextRead = undefined;
    this.readPhase ^= 1;
    this.readPhaseStartPn = pn;
    this.prevReadDiscardAt = now + keepPrevious;
    return this.writePhase !== this.readPhase;
  }

  /** The first 1-RTT packet received starts the first read phase. */
  onPacketReceived(pn: number): void {
    if (this.readPhaseStartPn < 0) this.readPhaseStartPn = pn;
  }

  /** §6.1: a local update needs an acknowledged packet of the current phase, and the peer to
   * have followed the previous update. */
  get mayUpdate(): boolean {
    return !!this.write && this.writePhaseAcked && this.writePhase === this.readPhase;
  }

  /** §6.6: time for an update on our own. */
  get updateDue(): boolean {
    return this.packetsThisKey >= KEY_UPDATE_AFTER_PACKETS && this.mayUpdate;
  }

  /** Moves the write side to the next phase; `nextPn` is the first packet number it protects.
   * Returns the old key, to destroy once the packets it is protecting are sealed. */
  rotateWrite(nextPn: number): PacketKey {
    const old = this.write!;
    this.write = old.nextPhase();
    this.writePhase ^= 1;
    this.writePhaseAcked = false;
    this.writePhaseFirstPn = nextPn;
    this.packetsThisKey = 0;
    return old;
  }

  /** An acknowledged 1-RTT packet sent in `phase`. */
  onAcked(phase: number, pn: number): void {
    if (phase === this.writePhase && pn >= this.writePhaseFirstPn) this.writePhaseAcked = true;
  }

  get nextTimeout(): number {
    return this.prevReadDiscardAt;
  }

  /** §6.5: the previous read key goes 3xPTO after the update. */
  onTimeout(now: number): void {
    if (now < this.prevReadDiscardAt) return;
    this.prevRead?.destroy();
    this.prevRead = undefined;
    this.prevReadDiscardAt = Infinity;
  }

  /** Wipes every key. */
  destroy(): void {
    for (const k of [this.read, this.write, this.prevRead, this.nextRead, this.zeroRttRead])
      k?.destroy();
    this.zeroRttWrite?.destroy();
    this.read = this.write = this.prevRead = this.nextRead = undefined;
    this.zeroRttRead = this.zeroRttWrite = undefined;
  }
}
