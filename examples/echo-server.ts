// A post-quantum QUIC echo server: every stream and datagram comes back.
// Run: node --import tsx examples/echo-server.ts   (port 4433, or $PORT; then examples/echo-client.ts
// from the same directory: it trusts the certificate this writes there; Ctrl-C stops it)
import { writeFileSync } from 'node:fs';
import { listen, selfSignedCertificate } from '../lib/index.js';

// Bring your own certificate (certs/keys: PEM), or make a self-signed one for localhost.
const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1', '::1']);
writeFileSync('echo-server-cert.pem', cert); // the client pins it as its CA

const endpoint = await listen(
  (session) => {
    session.onstream = (stream) => stream.pipe(stream);
    session.ondatagram = (data) => session.sendDatagram(data);
    session.opened.then((h) => console.log(`session: ${h.group} ${h.cipher}`)).catch(() => {});
  },
  { certs: cert, keys: key, alpn: 'echo', port: Number(process.env.PORT ?? 4433) },
);
console.log(`listening on UDP port ${endpoint.address.port}`);
process.once('SIGINT', () => void endpoint.close());
