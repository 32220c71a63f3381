/**
 * Follows TLS handshake message framing (msg_type, uint24 length; RFC 8446 §4) over the 1-RTT
 * CRYPTO stream without keeping the bytes: a client that let its TLS engine go after the
 * handshake still knows where each later message starts, so it can accept and skip further
 * NewSessionTickets (RFC 8446 §4.6.1; a client may ignore tickets) and refuse anything else
 * (RFC 9001 §4.1.3: no other post-handshake messages in QUIC).
 */
export class HandshakeFraming {
  /** Header bytes of the current message seen so far (0..3), and its length as read. */
  private headerBytes = 0;
  private length = 0;
  /** Body bytes of the current message still to come. */
  private remaining = 0;

  /** Between two messages (nothing of a next one seen yet). */
  get atBoundary(): boolean {
    return this.headerBytes === 0 && this.remaining === 0;
  }

  /** Follows `data`; `onMessage(type)` is called when a message header is seen (it may throw). */
  feed(data: Uint8Array, onMessage?: (type: number) => void): void {
    let i = 0;
    while (i < data.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, data.length - i);
        this.remaining -= n;
        i += n;
        continue;
      }
      const b = data[i++]!;
      if (this.headerBytes === 0) {
        onMessage?.(b);
        this.length = 0;
        this.headerBytes = 1;
        continue;
      }
      this.length = this.length * 256 + b;
      if (++this.headerBytes === 4) {
        this.headerBytes = 0;
        this.remaining = this.length;
      }
    }
  }
}
