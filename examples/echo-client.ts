// Connects to examples/echo-server.ts, echoes one message over a stream, prints the handshake.
// Run: node --import tsx examples/echo-client.ts   (port 4433, or $PORT)
import { readFileSync } from 'node:fs';
import { connect } from '../lib/index.js';

const session = await connect(`localhost:${process.env.PORT ?? 4433}`, {
  alpn: 'echo',
  ca: readFileSync('echo-server-cert.pem', 'utf8'),
});
const info = await session.opened; // { group: 'X25519MLKEM768', cipher, alpn, postQuantum, ... }
console.log(info);

const stream = await session.createBidirectionalStream();
stream.end('hello, post-quantum world');
const chunks: Buffer[] = [];
for await (const chunk of stream) chunks.push(chunk as Buffer);
console.log('echoed:', Buffer.concat(chunks).toString());

await session.close();
