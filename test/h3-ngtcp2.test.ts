// HTTP/3 interop smoke test against ngtcp2's example programs (gtlsserver / gtlsclient: ngtcp2 +
// nghttp3 over GnuTLS, classical groups only). Skipped when they are not installed (CI installs
// them with the interop scripts).
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  connectHttp3,
  selfSignedCertificate,
  serveHttp3,
  type GroupName,
  type HandshakeSummary,
} from '../lib/index.js';
import { freePort } from './support/free-port.js';

/** The Debian packages put them in /usr/sbin and /usr/bin. */
const which = (name: string): string =>
  ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']
    .map((d) => join(d, name))
    .find((p) => existsSync(p)) ?? `${name} (not found in /usr/sbin, /usr/bin, /usr/local)`;
const GTLSSERVER = which('gtlsserver');
const GTLSCLIENT = which('gtlsclient');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function exited(p: ChildProcess): Promise<number | null> {
  return new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));
}

describe('HTTP/3 interop with ngtcp2 (gtlsserver / gtlsclient)', function () {
  this.timeout(30_000);
  let dir: string;
  const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
  const FILE = randomBytes(1 << 20);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'zquic-h3-ngtcp2-'));
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'key.pem'), key);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe(`zquic client -> gtlsserver${existsSync(GTLSSERVER) ? '' : ` (${GTLSSERVER} is not installed: skipped)`}`, () => {
    let server: ChildProcess | undefined;
    let port = 0;

    before(async function () {
      if (!existsSync(GTLSSERVER)) return this.skip();
      const www = join(dir, 'www');
      mkdirSync(www);
      writeFileSync(join(www, 'file.bin'), FILE);
      writeFileSync(join(www, 'small.txt'), 'hello from ngtcp2\n');
      port = await freePort();
      server = spawn(
        GTLSSERVER,
        // --send-trailers: every response ends with a trailer section.
        [
          '-q',
          '--send-trailers',
          '-d',
          www,
          '127.0.0.1',
          String(port),
          join(dir, 'key.pem'),
          join(dir, 'cert.pem'),
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      // It prints its document root once listening.
      await new Promise<void>((res, rej) => {
        server!.stdout!.on('data', (d: Buffer) => d.toString().includes('document root') && res());
        server!.once('exit', (c) => rej(new Error(`gtlsserver exited with ${c}`)));
        setTimeout(res, 2000);
      });
    });
    after(async () => {
      if (!server) return;
      server.kill();
      await exited(server);
    });

    async function fetchFrom(groups: GroupName[]): Promise<HandshakeSummary> {
      const client = await connectHttp3(`127.0.0.1:${port}`, {
        ca: cert,
        servername: 'localhost',
        groups,
      });
      const info = client.session.handshake!;
      const [big, small] = await Promise.all([
        client.request('/file.bin'),
        client.request('/small.txt'),
      ]);
      expect(big.status).to.equal(200);
      expect(big.headers['content-length']).to.equal(String(FILE.length));
      expect(sha(await big.bytes())).to.equal(sha(FILE));
      expect(Object.keys(big.trailers)).to.not.be.empty;
      expect(await small.text()).to.equal('hello from ngtcp2\n');
      const missing = await client.request('/nope');
      expect(missing.status).to.equal(404);
      await missing.bytes();
      await client.close();
      return info;
    }

    it('fetches a 1 MB file (SHA-256, trailers) offering X25519MLKEM768 and X25519 shares: X25519 is chosen', async () => {
      const info = await fetchFrom(['X25519MLKEM768', 'X25519']);
      expect(info).to.include({ alpn: 'h3', group: 'X25519', postQuantum: false });
    });

    it('with only an X25519MLKEM768 share and secp256r1 supported, HelloRetryRequest gets secp256r1', async () => {
      // Our only key share is the hybrid (GnuTLS does not know it), so a handshake on secp256r1
      // can only come from a HelloRetryRequest.
      const info = await fetchFrom(['X25519MLKEM768', 'secp256r1']);
      expect(info).to.include({ alpn: 'h3', group: 'secp256r1' });
    });
  });

  describe(`gtlsclient -> zquic serveHttp3${existsSync(GTLSCLIENT) ? '' : ` (${GTLSCLIENT} is not installed: skipped)`}`, () => {
    before(function () {
      if (!existsSync(GTLSCLIENT)) this.skip();
    });

    async function download(
      clientGroups: string | undefined,
    ): Promise<{ seen: string[]; info: HandshakeSummary[] }> {
      const seen: string[] = [];
      const info: HandshakeSummary[] = [];
      const server = await serveHttp3(
        (req, res) => {
          seen.push(`${req.method} ${req.path}`);
          info.push(req.session.handshake!);
          if (req.path === '/file.bin') {
            res.setHeader('content-length', FILE.length);
            res.end(FILE);
          } else res.end(`small ${req.path}\n`);
        },
        { certs: cert, keys: key, host: '127.0.0.1', groups: ['X25519MLKEM768', 'X25519'] },
      );
      const out = mkdtempSync(join(dir, 'dl-'));
      try {
        const p = server.address.port;
        const args = ['-q', '--exit-on-all-streams-close', '--download', out];
        if (clientGroups) args.push(`--groups=${clientGroups}`);
        args.push(
          '127.0.0.1',
          String(p),
          `https://127.0.0.1:${p}/file.bin`,
          `https://127.0.0.1:${p}/a.txt`,
        );
        const child = spawn(GTLSCLIENT, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        expect(await exited(child), stderr).to.equal(0);
        expect(sha(readFileSync(join(out, 'file.bin')))).to.equal(sha(FILE));
        expect(readFileSync(join(out, 'a.txt'), 'utf8')).to.equal('small /a.txt\n');
      } finally {
        await server.close();
      }
      return { seen, info };
    }

    it('downloads a 1 MB file (SHA-256) and a small one; X25519 is negotiated', async () => {
      const { seen, info } = await download(undefined);
      expect(seen.sort()).to.deep.equal(['GET /a.txt', 'GET /file.bin']);
      expect(info[0]).to.include({ alpn: 'h3', group: 'X25519', postQuantum: false });
    });

    it('a client preferring secp256r1 (which we do not offer) is steered to X25519', async () => {
      const { info } = await download('-GROUP-ALL:+GROUP-SECP256R1:+GROUP-X25519');
      expect(info[0]).to.include({ group: 'X25519' });
    });
  });
});
