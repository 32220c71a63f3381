// Mutual TLS: the server asks every client for a certificate (requestCert) and accepts only
// chains that end at its own CA. Here the client credentials are the repository's test PKI
// (test/fixtures/tls: a root CA, an intermediate, and a client certificate with the
// clientAuth extended key usage); in production they come from your own CA.
// Run: node --import tsx examples/mutual-tls.ts   (starts its own server; exits)
import { readFileSync } from 'node:fs';
import {
  QuicSessionError,
  connect,
  listen,
  selfSignedCertificate,
  type ConnectOptions,
} from '../lib/index.js';

const pki = (name: string) =>
  readFileSync(new URL(`../test/fixtures/tls/${name}`, import.meta.url), 'utf8');

const server = selfSignedCertificate(['localhost', '127.0.0.1']); // the server's own identity
const endpoint = await listen(
  (session) => {
    session.opened.catch(() => {}); // refused handshakes reject here too
    session.onstream = (s) => s.end('hello, authenticated client');
  },
  {
    certs: server.cert,
    keys: server.key,
    alpn: 'demo',
    host: '127.0.0.1',
    port: 0,
    requestCert: true, // RFC 8446 §4.3.2: CertificateRequest; a client without one is refused
    ca: pki('ca.pem'), // the trust anchor for client certificates
  },
);
const authority = `localhost:${endpoint.address.port}`;

async function attempt(name: string, options: Omit<ConnectOptions, 'alpn'>): Promise<void> {
  const session = await connect(authority, { alpn: 'demo', ca: server.cert, ...options });
  try {
    // In TLS 1.3 the client's handshake completes when it sends its Finished (RFC 9001
    // §4.1.1), before the server has checked its certificate: a refusal arrives afterwards,
    // as the server's CONNECTION_CLOSE, and fails whatever the client is doing.
    await session.opened;
    const stream = await session.createBidirectionalStream();
    stream.end();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    console.log(`${name}: accepted, server says "${Buffer.concat(chunks)}"`);
    await session.close();
  } catch {
    const why = await session.closed.then(
      () => 'closed',
      (err: QuicSessionError) => err.message,
    );
    console.log(`${name}: refused (${why})`);
  }
}

// The client's chain: its certificate, then the intermediate that issued it.
await attempt('client with a CA-issued certificate', {
  certs: pki('client.pem') + pki('int.pem'),
  keys: pki('client.key'),
});
await attempt('client without a certificate', {});
const stranger = selfSignedCertificate(['stranger']);
await attempt('client with a self-signed certificate', {
  certs: stranger.cert,
  keys: stranger.key,
});

await endpoint.close();
