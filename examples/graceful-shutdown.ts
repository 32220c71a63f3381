// Graceful shutdown: on SIGTERM the server sends GOAWAY (RFC 9114 §5.2), lets the requests in
// progress finish, then closes each connection with H3_NO_ERROR. A request made after the
// GOAWAY is refused on that connection; the client then knows to go elsewhere.
// Run: node --import tsx examples/graceful-shutdown.ts   (signals itself; exits)
import { setTimeout as sleep } from 'node:timers/promises';
import { connectHttp3, selfSignedCertificate, serveHttp3 } from '../lib/index.js';

// What a service does in production: stop on SIGTERM (from systemd, Kubernetes, docker stop).
const sigterm = new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));

const PATHS = ['/a', '/b', '/c'];
let arrived = 0;
let allArrived: () => void;
const requestsInProgress = new Promise<void>((resolve) => (allArrived = resolve));

const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
const server = await serveHttp3(
  async (req, res) => {
    if (++arrived === PATHS.length) allArrived();
    await sigterm; // slow requests: still running when the shutdown starts
    await sleep(100);
    res.end(`done: ${req.url}\n`);
  },
  { certs: cert, keys: key, host: '127.0.0.1', port: 0 },
);
const stopped = sigterm.then(() => {
  console.log('SIGTERM: closing gracefully');
  return server.close(); // GOAWAY; resolves when every connection has closed
});

const client = await connectHttp3(`localhost:${server.address.port}`, { ca: cert });
const goaway = new Promise((resolve) => client.session.once('goaway', resolve));
const inFlight = PATHS.map((path) =>
  client.request(path).then(async (res) => `${res.status} ${(await res.text()).trim()}`),
);

await requestsInProgress;
process.kill(process.pid, 'SIGTERM');
console.log(`client got GOAWAY (stream id ${String(await goaway)})`);

// New work on this connection is refused cleanly: the client sends it to another server.
await client.request('/late').then(
  (res) => console.log(`late request unexpectedly answered: ${res.status}`),
  (err: Error) => console.log(`late request refused: ${err.message}`),
);
for (const line of await Promise.all(inFlight)) console.log(`in-flight request: ${line}`);

await stopped;
console.log('server closed');
await client.close();
