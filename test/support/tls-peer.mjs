// A Node (OpenSSL >= 3.5) TLS 1.3 peer for interop tests, run as a child process by
// test/tls-interop.test.ts. argv[2] is a JSON config. It prints one JSON line per event.
//   server: listens on 127.0.0.1, prints {listening: port}; per connection prints
//           {connected, cipher, protocol, alpn, resumed}, echoes data back prefixed with 'echo:'.
//   client: connects, prints {connected, cipher, ephemeral, protocol, alpn, resumed}, sends 'ping',
//           prints {data} for the reply, prints {session} (base64) for tickets, then closes.
import tls from 'node:tls';

const cfg = JSON.parse(process.argv[2]);
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const common = {
  minVersion: 'TLSv1.3',
  maxVersion: 'TLSv1.3',
  ...(cfg.groups ? { ecdhCurve: cfg.groups } : {}),
  ...(cfg.ciphers ? { ciphersuites: cfg.ciphers } : {}),
  ...(cfg.alpn ? { ALPNProtocols: cfg.alpn } : {}),
};

if (cfg.mode === 'server') {
  const server = tls.createServer(
    {
      ...common,
      key: cfg.key,
      cert: cfg.cert,
      ...(cfg.ca ? { ca: cfg.ca, requestCert: true, rejectUnauthorized: true } : {}),
    },
    (s) => {
      print({
        connected: true,
        cipher: s.getCipher().standardName,
        protocol: s.getProtocol(),
        alpn: s.alpnProtocol || null,
        resumed: s.isSessionReused(),
        peerCert: cfg.ca ? (s.getPeerCertificate().subject?.CN ?? null) : null,
      });
      s.on('data', (d) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
      s.on('error', (e) => print({ error: e.message }));
      s.on('end', () => s.end());
    },
  );
  server.on('tlsClientError', (e) => print({ error: e.message }));
  if (cfg.keylog) server.on('keylog', (line) => print({ keylog: line.toString().trim() }));
  server.listen(0, '127.0.0.1', () => print({ listening: server.address().port }));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
} else {
  const s = tls.connect({
    ...common,
    host: '127.0.0.1',
    port: cfg.port,
    servername: cfg.servername,
    ca: cfg.ca,
    ...(cfg.cert ? { cert: cfg.cert, key: cfg.key } : {}),
    ...(cfg.session ? { session: Buffer.from(cfg.session, 'base64') } : {}),
  });
  let sessions = 0;
  s.on('session', (sess) => {
    if (sessions++ === 0) print({ session: sess.toString('base64') });
  });
  s.on('secureConnect', () => {
    print({
      connected: true,
      cipher: s.getCipher().standardName,
      ephemeral: s.getEphemeralKeyInfo(),
      protocol: s.getProtocol(),
      alpn: s.alpnProtocol || null,
      resumed: s.isSessionReused(),
    });
    s.write('ping');
  });
  s.on('data', (d) => {
    print({ data: d.toString() });
    setTimeout(() => s.end(), 50); // give tickets time to arrive
  });
  s.on('error', (e) => {
    print({ error: e.message });
    process.exit(1);
  });
  s.on('close', () => process.exit(0));
}
