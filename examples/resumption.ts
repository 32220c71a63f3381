// Session resumption and 0-RTT: the first connection stores the server's ticket (as bytes, so
// it could as well go to a file or a database), the second one resumes with it and sends its
// first stream data in 0-RTT, before the handshake completes.
// Run: node --import tsx examples/resumption.ts   (starts its own server; exits)
import {
  connect,
  decodeSessionTicket,
  encodeSessionTicket,
  listen,
  selfSignedCertificate,
  type QuicSession,
} from '../lib/index.js';

const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
// earlyData: accept 0-RTT (the server issues single-use tickets that allow it).
const endpoint = await listen((session) => (session.onstream = (s) => s.pipe(s)), {
  certs: cert,
  keys: key,
  alpn: 'echo',
  host: '127.0.0.1',
  port: 0,
  earlyData: true,
});
const authority = `localhost:${endpoint.address.port}`;

/** A ticket store keyed by authority; encodeSessionTicket gives bytes that survive restarts. */
const tickets = new Map<string, Buffer>();

async function echo(session: QuicSession, text: string): Promise<string> {
  const stream = await session.createBidirectionalStream();
  stream.end(text);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

for (const attempt of ['first', 'second']) {
  const stored = tickets.get(authority);
  const session = await connect(authority, {
    alpn: 'echo',
    ca: cert,
    // decodeSessionTicket throws a TypeError for stale or foreign bytes: start afresh then.
    ...(stored ? { session: decodeSessionTicket(stored), earlyData: true } : {}),
  });
  const ticketArrived = new Promise<void>((resolve) =>
    session.once('ticket', (ticket) => {
      tickets.set(authority, encodeSessionTicket(ticket));
      resolve();
    }),
  );
  // With a ticket and earlyData this stream is written before the handshake: 0-RTT.
  const reply = echo(session, `hello from the ${attempt} connection`);
  const { resumed, earlyDataAccepted, group } = await session.opened;
  console.log(`${attempt}: resumed=${resumed} earlyDataAccepted=${earlyDataAccepted} (${group})`);
  console.log(`  echoed: ${await reply}`);
  await ticketArrived; // the server sends its ticket after the handshake (RFC 8446 §4.6.1)
  await session.close();
}

await endpoint.close();
