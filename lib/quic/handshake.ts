/**
 * The TLS 1.3 handshake of a connection (RFC 9001 §4): the TLS engine with our transport
 * parameters, the CRYPTO data it reads by encryption level, a server's wait for the whole
 * ClientHello when it prefers another version (RFC 9368 §2.3), post-handshake messages once
 * the engine is gone (§4.1.3), and when the engine may go (memory per connection).
 */
import { Alert } from '../tls/alerts.js';
import { TlsClient, type TlsClientOptions } from '../tls/client.js';
import type { Level, TlsEvent } from '../tls/engine.js';
import { TlsServer, type TlsServerOptions } from '../tls/server.js';
import { cryptoError, QuicError } from './errors.js';
import { HandshakeFraming } from './post-handshake.js';
import type { RecvBuffer } from './recv-buffer.js';
import { encodeTransportParameters, type TransportParameters } from './transport-params.js';

/** RFC 8446 §4: HandshakeType new_session_ticket. */
const NEW_SESSION_TICKET = 4;

export class TlsHandshake {
  /** The engine; a server drops it once the handshake is done (nothing more to say), a client
   * once the handshake is confirmed and a session ticket arrived (later tickets are skipped,
   * following the message framing). */
  private tls: TlsClient | TlsServer | undefined;
  /** TLS options and our transport parameters, while a new engine may still be needed. */
  private options: Record<string, unknown> | undefined;
  private tp: TransportParameters | undefined;
  /** Client: where post-handshake messages start in the 1-RTT CRYPTO stream. */
  private readonly framing: HandshakeFraming | undefined;
  private ticketReceived = false;
  /** Server: the ClientHello so far, while the version waits for all of it (RFC 9368 §2.3). */
  private clientHello: Buffer[] | undefined;

  constructor(
    private readonly role: 'client' | 'server',
    options: TlsClientOptions | TlsServerOptions,
    tp: TransportParameters,
    waitForClientHello: boolean,
  ) {
    this.options = { ...options };
    this.tp = tp;
    if (role === 'client') this.framing = new HandshakeFraming();
    if (waitForClientHello) this.clientHello = [];
    this.tls = this.engine();
  }

  /** Our transport parameters as sent (the version information may change before). */
  get transportParameters(): TransportParameters {
    return this.tp!;
  }

  /** Client: writes the ClientHello. */
  start(wallNow: number): void {
    (this.tls as TlsClient).start(wallNow);
  }

  /** A new engine with the transport parameters as they are now (a version change). */
  restart(): void {
    this.tls?.destroy();
    this.tls = this.engine();
  }

  private engine(): TlsClient | TlsServer {
    // A private copy: a slice of Node's Buffer pool kept by the engine would pin the slab.
    const encoded = encodeTransportParameters(this.tp!, this.role);
    const transportParameters = Buffer.from(new Uint8Array(encoded).buffer);
    const options = { ...this.options, transportParameters };
    return this.role === 'client'
      ? new TlsClient(options as TlsClientOptions)
      : new TlsServer(options as unknown as TlsServerOptions);
  }

  /**
   * Gives the engine the CRYPTO data of `level` that is ready in `recv`. A server waiting for
   * the whole ClientHello first hands it to `onClientHello` (which may change the version and
   * restart()).
   */
  receive(
    level: Level,
    recv: RecvBuffer,
    wallNow: number,
    onClientHello: (clientHello: Buffer) => void,
  ): void {
    if (this.clientHello) {
      for (let d = recv.read(); d; d = recv.read()) this.clientHello.push(Buffer.from(d));
      const all = Buffer.concat(this.clientHello);
      this.clientHello = [all];
      if (all.length < 4 || all.length < 4 + all.readUIntBE(1, 3)) return;
      this.clientHello = undefined;
      onClientHello(all);
      this.tls!.receive(level, all, wallNow);
      return;
    }
    const framing = level === 'application' ? this.framing : undefined;
    const tls = this.tls;
    if (tls) {
      for (let d = recv.read(); d; d = recv.read()) {
        framing?.feed(d);
        tls.receive(level, d, wallNow);
      }
      return;
    }
    // RFC 9001 §4.1.3: a client has no post-handshake messages for a server in QUIC, and a
    // server sends a client only NewSessionTicket (which a client may ignore, RFC 8446 §4.6.1).
    if (framing)
      for (let d = recv.read(); d; d = recv.read())
        framing.feed(d, (type) => {
          if (type !== NEW_SESSION_TICKET)
            throw new QuicError(
              cryptoError(Alert.unexpected_message),
              `post-handshake message type ${type}`,
            );
        });
    else if (recv.readableBytes > 0)
      throw new QuicError(cryptoError(Alert.unexpected_message), 'post-handshake CRYPTO data');
  }

  /** The engine's next event (data to send, secrets, parameters, completion, tickets). */
  poll(): TlsEvent | undefined {
    const ev = this.tls?.poll();
    if (ev?.type === 'session-ticket') this.ticketReceived = true;
    return ev;
  }

  /**
   * Lets the engine go when it has nothing more to do (it wipes the secrets it holds): a
   * server's once its handshake completed (its tickets went with its last flight), a client's
   * once the handshake is confirmed and a ticket arrived, between two messages.
   */
  release(completed: boolean, confirmed: boolean): void {
    if (!this.tls) return;
    const done =
      this.role === 'server'
        ? completed
        : confirmed && this.ticketReceived && this.framing!.atBoundary;
    if (!done) return;
    this.tls.destroy();
    this.tls = undefined;
    this.options = undefined;
  }

  /** The handshake is confirmed: no new engine will be needed. */
  forgetOptions(): void {
    this.options = undefined;
    this.tp = undefined;
  }

  /** The ALPN protocol the handshake chose, while the engine is held (a server knows it once
   * it processed the ClientHello, RFC 7301 §3.2; a client at EncryptedExtensions). */
  get alpn(): string | undefined {
    return this.tls?.alpn;
  }

  /** Whether the engine is still held (memory per connection). */
  get engineHeld(): boolean {
    return this.tls !== undefined;
  }

  destroy(): void {
    this.tls?.destroy();
    this.tls = undefined;
  }
}
