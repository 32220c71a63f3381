// Debugging a connection: qlog files for qvis and a TLS key log for Wireshark/tshark, written
// to a temp dir (the same as QLOGDIR=dir and SSLKEYLOGFILE=file in the environment).
// Run: node --import tsx examples/qlog-debugging.ts   (starts its own server; exits and keeps
// the temp dir for you to open)
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectHttp3, selfSignedCertificate, serveHttp3 } from '../lib/index.js';

const dir = mkdtempSync(join(tmpdir(), 'zquic-debug-'));
const qlog = join(dir, 'qlog'); // one <odcid>_<role>.sqlog per connection
const keylog = join(dir, 'keys.log'); // NSS key log format, appended to

const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
const server = await serveHttp3((req, res) => void res.end(`hello ${req.url}\n`), {
  certs: cert,
  keys: key,
  host: '127.0.0.1',
  port: 0,
  qlog,
});
const client = await connectHttp3(`localhost:${server.address.port}`, {
  ca: cert,
  qlog,
  keylog,
});
const res = await client.request('/debug-me');
console.log(`${res.status} ${(await res.text()).trim()}`);
await client.close();
await server.close(); // qlog files are complete once their connections closed

console.log(`\nqlog (qlog 0.3 JSON-SEQ) in ${qlog}:`);
for (const f of readdirSync(qlog).sort())
  console.log(`  ${f}  ${statSync(join(qlog, f)).size} bytes`);
const labels = new Set(readFileSync(keylog, 'utf8').match(/^[A-Z_0-9]+/gm));
console.log(`key log ${keylog}: ${[...labels].join(', ')}`);
console.log(`
Next steps:
  qvis:      open https://qvis.quictools.info/, "Load file", pick the .sqlog files above
             (sequence diagram, congestion graph, multiplexing of streams).
  Wireshark: capture while the program runs, e.g. tcpdump -i lo -w cap.pcap udp, then
             tshark -r cap.pcap -o tls.keylog_file:${keylog} -Y quic
             (or Preferences > Protocols > TLS > (Pre)-Master-Secret log filename).
  zquic:     zquic inspect --keylog ${keylog} cap.pcap   decrypts the capture as well.`);
