// Static files over HTTP/3: serveHttp3 serves a directory (content-type by extension, 404 for
// anything else, no way out of the root), and fetchHttp3 downloads from it through a pool.
// Run: node --import tsx examples/file-server.ts   (makes its own temp dir and server; exits)
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { Http3Agent, fetchHttp3, selfSignedCertificate, serveHttp3 } from '../lib/index.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.png': 'image/png',
};

const root = await mkdtemp(join(tmpdir(), 'zquic-files-'));
await writeFile(join(root, 'index.html'), '<h1>served over post-quantum HTTP/3</h1>\n');
await writeFile(join(root, 'data.json'), JSON.stringify({ hello: 'world' }));

const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
const server = await serveHttp3(
  async (req, res) => {
    // req.url is the :path (with any query): decode it and keep it inside the root.
    let name: string;
    try {
      name = decodeURIComponent(new URL(req.url, 'https://localhost').pathname);
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad path\n'); // e.g. '%zz'
      return;
    }
    const path = resolve(root, '.' + (name === '/' ? '/index.html' : name));
    const info = path.startsWith(root + sep) ? await stat(path).catch(() => undefined) : undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (!info?.isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    } else {
      res.writeHead(200, {
        'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
        'content-length': info.size,
      });
      createReadStream(path).pipe(res); // streams with backpressure; HEAD sends no body
    }
  },
  { certs: cert, keys: key, host: '127.0.0.1', port: 0 },
);
const base = `https://localhost:${server.address.port}`;

// One agent: every request below shares one QUIC connection.
const agent = new Http3Agent({ connect: { ca: cert } });
for (const path of ['/', '/data.json', '/missing.txt', '/../etc/passwd', '/bad%zz']) {
  const res = await fetchHttp3(base + path, { agent });
  console.log(
    `${res.status} ${path} ${res.headers.get('content-type')}: ${(await res.text()).trim()}`,
  );
}

await agent.close();
await server.close();
await rm(root, { recursive: true });
