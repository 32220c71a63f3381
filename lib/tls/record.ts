// A minimal TLS 1.3 record layer (RFC 8446 §5) so the handshake engine can run over a byte
// stream (TCP) for interoperability tests against other TLS stacks. QUIC never uses it.
// Sans-IO: feed received bytes with receive(), send what takeOutput() returns.

import { Aead } from '../crypto/aead.js';
import type { CipherSuite } from '../crypto/suites.js';
import { Alert, TlsAlert } from './alerts.js';
import type { Level, TlsEngine, HandshakeInfo } from './engine.js';
import { trafficKeys } from './key-schedule.js';
import type { SessionTicket } from './session-ticket.js';

export const ContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
} as const;

const MAX_PLAINTEXT = 1 << 14; // §5.1
const MAX_CIPHERTEXT = MAX_PLAINTEXT + 256; // §5.2

interface Protection {
  aead: Aead;
  iv: Buffer;
  seq: bigint;
}

function protection(suite: CipherSuite, secret: Buffer): Protection {
  const { key, iv } = trafficKeys(suite.hash, secret, suite.keyLength);
  return { aead: new Aead(suite.aead, key), iv, seq: 0n };
}

/** §5.3: the per-record nonce is the IV XORed with the 64-bit sequence number. */
function nonce(p: Protection): Buffer {
  const n = Buffer.from(p.iv);
  const s = p.seq;
  for (let i = 0; i < 8; i++) n[11 - i]! ^= Number((s >> BigInt(8 * i)) & 0xffn);
  p.seq++;
  return n;
}

export class RecordLayer {
  private input: Buffer = Buffer.alloc(0);
  private output: Buffer[] = [];
  private read: Protection | undefined;
  private write: Protection | undefined;
  private readLevel: Level = 'initial';
  private writeLevel: Level = 'initial';
  private closed = false;
  /** Set when the peer sends close_notify. */
  peerClosed = false;
  info: HandshakeInfo | undefined;
  readonly tickets: SessionTicket[] = [];

  constructor(readonly engine: TlsEngine) {}

  /** Pulls the engine's events: installs keys and frames its handshake bytes as records. */
  pump(): void {
    for (let ev = this.engine.poll(); ev; ev = this.engine.poll()) {
      switch (ev.type) {
        case 'data':
          if (ev.level !== this.writeLevel)
            throw new Error(
              `engine wrote at ${ev.level} while record keys are at ${this.writeLevel}`,
            );
          for (let i = 0; i < ev.data.length; i += MAX_PLAINTEXT)
            this.emit(
              ContentType.handshake,
              ev.data.subarray(i, Math.min(ev.data.length, i + MAX_PLAINTEXT)),
            );
          break;
        case 'secret':
          if (ev.level === 'early') break; // no 0-RTT over TCP here
          if (ev.direction === 'write') {
            this.write?.aead.destroy();
            this.write = protection(ev.suite, ev.secret);
            this.writeLevel = ev.level;
          } else {
            this.read?.aead.destroy();
            this.read = protection(ev.suite, ev.secret);
            this.readLevel = ev.level;
          }
          break;
        case 'handshake-complete':
          this.info = ev.info;
          break;
        case 'session-ticket':
          this.tickets.push(ev.ticket);
          break;
        case 'transport-parameters':
          break;
      }
    }
  }

  private emit(type: number, data: Uint8Array): void {
    if (!this.write) {
      const h = Buffer.from([type, 3, 3, data.length >> 8, data.length & 0xff]);
      this.output.push(h, Buffer.from(data));
      return;
    }
    // §5.2: TLSInnerPlaintext = content ‖ type (no padding); outer type application_data.
    const inner = Buffer.concat([data, Buffer.from([type])]);
    const len = inner.length + 16;
    const header = Buffer.from([ContentType.application_data, 3, 3, len >> 8, len & 0xff]);
    this.output.push(header, this.write.aead.seal(nonce(this.write), header, inner));
  }

  /** Bytes to send on the socket. */
  takeOutput(): Buffer {
    const out = Buffer.concat(this.output);
    this.output = [];
    return out;
  }

  /** Encrypts application data (after the handshake). */
  send(data: Uint8Array): void {
    if (!this.engine.complete || this.writeLevel !== 'application')
      throw new Error('handshake not complete');
    for (let i = 0; i < data.length; i += MAX_PLAINTEXT)
      this.emit(
        ContentType.application_data,
        data.subarray(i, Math.min(data.length, i + MAX_PLAINTEXT)),
      );
  }

  /** Sends close_notify. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit(ContentType.alert, Buffer.from([1, Alert.close_notify]));
  }

  /** Sends a fatal alert (after the engine or this layer failed). */
  sendAlert(alert: number): void {
    if (this.closed) return;
    this.closed = true;
    this.emit(ContentType.alert, Buffer.from([2, alert]));
  }

  /**
   * Processes received bytes; returns decrypted application data. Throws TlsAlert on any
   * error (the caller should then sendAlert(e.alert) and close the socket).
   */
  receive(data: Uint8Array, now: number): Buffer[] {
    this.input = this.input.length ? Buffer.concat([this.input, data]) : Buffer.from(data);
    const app: Buffer[] = [];
    while (this.input.length >= 5) {
      const type = this.input[0]!;
      const len = this.input.readUInt16BE(3);
      if (len > MAX_CIPHERTEXT) throw new TlsAlert('record_overflow', 'record too long');
      if (this.input.length < 5 + len) break;
      const header = this.input.subarray(0, 5);
      let body = this.input.subarray(5, 5 + len);
      this.input = this.input.subarray(5 + len);
      let inner = type;
      if (type === ContentType.change_cipher_spec) {
        // §5: a compatibility CCS (0x01) is dropped during the handshake.
        if (this.engine.complete || len !== 1 || body[0] !== 1)
          throw new TlsAlert('unexpected_message', 'ChangeCipherSpec');
        continue;
      }
      if (this.read) {
        if (type !== ContentType.application_data)
          throw new TlsAlert('unexpected_message', 'plaintext record after keys were set');
        const plain = this.read.aead.open(nonce(this.read), header, body);
        if (!plain) throw new TlsAlert('bad_record_mac', 'record authentication failed');
        let end = plain.length;
        while (end > 0 && plain[end - 1] === 0) end--;
        if (end === 0) throw new TlsAlert('unexpected_message', 'record without content type');
        inner = plain[end - 1]!;
        body = plain.subarray(0, end - 1);
        if (body.length > MAX_PLAINTEXT)
          throw new TlsAlert('record_overflow', 'plaintext too long');
      }
      switch (inner) {
        case ContentType.handshake:
          if (body.length === 0) throw new TlsAlert('unexpected_message', 'empty handshake record');
          this.engine.receive(this.readLevel, body, now);
          this.pump();
          break;
        case ContentType.application_data:
          if (this.readLevel !== 'application')
            throw new TlsAlert(
              'unexpected_message',
              'application data before the handshake completed',
            );
          app.push(body);
          break;
        case ContentType.alert:
          if (body.length !== 2) throw new TlsAlert('decode_error', 'alert record length');
          if (body[1] === Alert.close_notify) {
            this.peerClosed = true;
            return app;
          }
          throw new TlsAlert(body[1]!, 'received from the peer');
        default:
          throw new TlsAlert('unexpected_message', `record content type ${inner}`);
      }
    }
    return app;
  }
}
