/**
 * The application space's frames that belong to no stream: HANDSHAKE_DONE (RFC 9000 §19.20),
 * the connection's control frames (MAX_DATA, MAX_STREAMS, NEW_CONNECTION_ID, NEW_TOKEN, ...:
 * queued by their owners, and queued again by them when lost, §13.3), and DATAGRAM frames
 * (RFC 9221 §5: never retransmitted).
 */
import type { FrameWriter } from './builder.js';
import { appended, emptyArray } from './empty.js';
import { frameSize, type Frame } from './frames.js';
import { dequeue } from './queue.js';
import type { SentFrame } from './spaces.js';

/** DATAGRAM frames queued at most; the oldest goes first when more come (RFC 9221 §5 lets a
 * sender drop them). */
const MAX_QUEUED_DATAGRAMS = 128;

export class ControlFrames {
  /** The server's HANDSHAKE_DONE is due. */
  handshakeDonePending = false;
  /** Control frames in the order they are sent. */
  readonly queue: Frame[] = [];
  private datagrams: Uint8Array[] = emptyArray();

  /** Queues a DATAGRAM frame's payload (the caller checked that it fits a packet). */
  queueDatagram(data: Uint8Array): void {
    if (this.datagrams.length >= MAX_QUEUED_DATAGRAMS) dequeue(this.datagrams);
    this.datagrams = appended(this.datagrams, data);
  }

  /** The peer does not take DATAGRAM frames (any more): forget the queued ones. */
  clearDatagrams(): void {
    this.datagrams = emptyArray();
  }

  hasData(datagramsAllowed: boolean): boolean {
    return (
      this.handshakeDonePending ||
      this.queue.length > 0 ||
      (datagramsAllowed && this.datagrams.length > 0)
    );
  }

  /** HANDSHAKE_DONE and the queued control frames, as many as fit. */
  write(w: FrameWriter, frames: SentFrame[]): boolean {
    let wrote = false;
    if (this.handshakeDonePending && w.room >= 1) {
      w.writeFrame({ type: 'handshake_done' });
      frames.push({ t: 'handshake_done' });
      this.handshakeDonePending = false;
      wrote = true;
    }
    while (this.queue.length) {
      const f = this.queue[0]!;
      if (frameSize(f) > w.room) break;
      w.writeFrame(f);
      frames.push({ t: 'ctrl', f });
      dequeue(this.queue);
      wrote = true;
    }
    return wrote;
  }

  /** Queued DATAGRAM frames, as many as fit. */
  writeDatagrams(w: FrameWriter, frames: SentFrame[]): boolean {
    let wrote = false;
    while (this.datagrams.length) {
      const data = this.datagrams[0]!;
      const f: Frame = { type: 'datagram', data };
      if (frameSize(f) > w.room) {
        // Too big for what is left of this packet: the next one (an empty packet takes it).
        if (frames.length > 0) break;
        dequeue(this.datagrams);
        continue;
      }
      w.writeFrame(f);
      dequeue(this.datagrams);
      frames.push({ t: 'other', name: 'datagram' });
      wrote = true;
    }
    return wrote;
  }
}
