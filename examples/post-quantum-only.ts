// Post-quantum only: with requirePostQuantum the server accepts nothing but hybrid or ML-KEM
// key exchange, so a recording of the traffic stays safe from a future quantum computer
// ("harvest now, decrypt later"). A client offering only classical X25519 is refused.
// Run: node --import tsx examples/post-quantum-only.ts   (starts its own server; exits)
import { QuicSessionError, connect, listen, selfSignedCertificate } from '../lib/index.js';

const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
const endpoint = await listen(
  (session) => {
    session.opened.catch(() => {}); // the refused handshake also rejects on the server side
    session.onstream = (s) => s.pipe(s);
  },
  { certs: cert, keys: key, alpn: 'echo', host: '127.0.0.1', port: 0, requirePostQuantum: true },
);
const authority = `localhost:${endpoint.address.port}`;

// A post-quantum client: requirePostQuantum on this side too, so it never settles for less
// (it drops classical groups from its offer and refuses a server that picks one).
const pq = await connect(authority, { alpn: 'echo', ca: cert, requirePostQuantum: true });
const info = await pq.opened;
console.log(`post-quantum client: group=${info.group} postQuantum=${info.postQuantum}`);
await pq.close();

// A classical-only client: the server ends the handshake with an insufficient_security alert,
// CRYPTO_ERROR 0x147 (RFC 9001 §4.8: 0x100 + alert 71).
const classical = await connect(authority, { alpn: 'echo', ca: cert, groups: ['X25519'] });
try {
  await classical.opened;
  throw new Error('a classical-only client must not get in');
} catch (err) {
  if (!(err instanceof QuicSessionError)) throw err;
  console.log(
    `classical-only client refused: ${err.message} (${err.code}, 0x${err.errorCode.toString(16)})`,
  );
}

await endpoint.close();
