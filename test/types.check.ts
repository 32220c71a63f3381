// Compile-time checks of the public types, run by `npm run lint` (tsc): each @ts-expect-error
// line must be an error, so the check fails when a type becomes too loose. Not a mocha spec.
import {
  connect,
  connectHttp3,
  listen,
  serveHttp3,
  type QuicEndpoint,
  type QuicSession,
  type QuicSessionEvents,
  type QuicStream,
} from '../lib/index.js';

export function sessionEvents(s: QuicSession): void {
  s.on('ticket', (t) => t.ticket.length);
  s.once('stream', (stream) => stream.end());
  s.on('alpn', (protocol) => protocol.toUpperCase());
  s.on('close', () => {});
  // @ts-expect-error a misspelt event name
  s.on('tikcet', () => {});
  // @ts-expect-error a stream listener gets a QuicStream
  s.on('stream', (n: number) => n);
  // @ts-expect-error 'datagram' carries bytes
  s.emit('datagram', 'text');
  // @ts-expect-error the ALPN is a string
  s.on('alpn', (p: Uint8Array) => p);
}

export function streamEvents(stream: QuicStream): void {
  stream.on('reset', (code) => code.toFixed());
  stream.once('stop-sending', (code) => code + 1);
  stream.on('data', (chunk: Buffer) => chunk.length); // a Duplex's own events as Node types them
  stream.on('end', () => {});
  // @ts-expect-error a reset carries its numeric code
  stream.on('reset', (code: string) => code);
  // @ts-expect-error 'stop-sending' too
  stream.off('stop-sending', (why: Error) => why);
}

export function endpointEvents(endpoint: QuicEndpoint): void {
  // @ts-expect-error an endpoint emits no events (its `closed` promise says when it is gone)
  endpoint.on('close', () => {});
}

export async function alpnRequired(certs: string, keys: string): Promise<void> {
  // @ts-expect-error raw QUIC needs an ALPN (RFC 9001 §8.1)
  await listen(() => {}, { certs, keys });
  // @ts-expect-error on both sides
  await connect('localhost:4433', { ca: certs });
  await listen(() => {}, { certs, keys, alpn: 'echo' });
  await connect('localhost:4433', { alpn: ['echo'] });
  // HTTP/3 defaults it to 'h3'.
  await serveHttp3(() => {}, { certs, keys });
  await connectHttp3('localhost:4433', { ca: certs });
}

export type HandshakeArgs = QuicSessionEvents['handshake'];
