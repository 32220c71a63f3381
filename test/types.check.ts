// Compile-time checks of the public types, run by `npm run lint` (tsc): each @ts-expect-error
// line must be an error, so the check fails when a type becomes too loose. Not a mocha spec.
import type { QuicSession, QuicSessionEvents } from '../lib/index.js';

export function sessionEvents(s: QuicSession): void {
  s.on('ticket', (t) => t.ticket.length);
  s.once('stream', (stream) => stream.end());
  s.on('close', () => {});
  // @ts-expect-error a misspelt event name
  s.on('tikcet', () => {});
  // @ts-expect-error a stream listener gets a QuicStream
  s.on('stream', (n: number) => n);
  // @ts-expect-error 'datagram' carries bytes
  s.emit('datagram', 'text');
}

export type HandshakeArgs = QuicSessionEvents['handshake'];
