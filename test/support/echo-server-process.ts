// An echo server in a process of its own, for tests that need a server to die without a word
// (SIGKILL: no CONNECTION_CLOSE, all state lost). argv: port (0: any), stateless reset key
// (hex). Prints the bound port on one line once it listens.
import { listen } from '../../lib/index.js';
import { serverCreds } from './tls-pair.js';

const [port = '0', resetKey] = process.argv.slice(2);
const server = await listen((s) => (s.onstream = (st) => st.pipe(st)), {
  ...serverCreds(),
  alpn: 'echo',
  host: '127.0.0.1',
  port: Number(port),
  statelessResetKey: resetKey === undefined ? undefined : Buffer.from(resetKey, 'hex'),
});
console.log(server.address.port);
