// The interop tooling's own parts, in process (the matrix against ngtcp2 is `npm run interop`,
// run by .ci/run): the lossy relay, the file-serving helpers of `zquic server --www` and
// `zquic client URL... --out`, and one download through the relay with losses.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  connect,
  connectHttp3,
  selfSignedCertificate,
  type QuicSession,
  type SessionTicket,
} from '../lib/index.js';
import { downloadPlan } from '../lib/cli/client.js';
import { startServer } from '../lib/cli/server.js';
import { downloadH3, downloadHq, downloadName, wwwFile } from '../lib/cli/www.js';
import { prng, startRelay } from '../scripts/interop/relay.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('interop tooling', function () {
  this.timeout(30_000);
  let dir: string;
  let www: string;
  const BIG = randomBytes(300_000);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'zquic-interop-'));
    www = join(dir, 'www');
    mkdirSync(join(www, 'sub'), { recursive: true });
    writeFileSync(join(www, 'big.bin'), BIG);
    writeFileSync(join(www, 'index.html'), 'root index\n');
    writeFileSync(join(www, 'sub', 'a b.txt'), 'spaced\n');
    writeFileSync(join(dir, 'secret.txt'), 'outside\n');
    symlinkSync(join(dir, 'secret.txt'), join(www, 'link-out'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('relay', () => {
    it('the PRNG is deterministic per seed and uniform enough to drop about the given rate', () => {
      const a = prng(7);
      const b = prng(7);
      const xs = Array.from({ length: 10_000 }, () => a());
      expect(xs.slice(0, 100)).to.deep.equal(Array.from({ length: 100 }, () => b()));
      expect(prng(8)()).to.not.equal(xs[0]);
      const dropped = xs.filter((x) => x < 0.3).length;
      expect(dropped).to.be.within(2800, 3200);
    });

    it('forwards both ways, drops only among the first N datagrams, and counts them', async () => {
      const server = createSocket('udp4');
      await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
      server.on('message', (m, from) => server.send(m, from.port, from.address)); // echo
      const relay = await startRelay({
        listen: { host: '127.0.0.1', port: 0 },
        target: { host: '127.0.0.1', port: server.address().port },
        loss: 0.5,
        first: 20,
        seed: 3,
      });
      const client = createSocket('udp4');
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
      const got: number[] = [];
      client.on('message', (m) => got.push(m.readUInt32BE(0)));
      for (let i = 0; i < 60; i++) {
        const b = Buffer.alloc(4);
        b.writeUInt32BE(i);
        client.send(b, relay.port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 2));
      }
      await new Promise((r) => setTimeout(r, 200));
      const c = relay.counts;
      expect(c.up.seen).to.equal(60);
      expect(c.up.dropped).to.be.within(1, 20);
      expect(c.down.seen).to.equal(60 - c.up.dropped);
      expect(got.length).to.equal(60 - c.up.dropped - c.down.dropped);
      // Past the first 20 datagrams of each direction, nothing is lost.
      for (let i = 45; i < 60; i++) expect(got).to.include(i);
      await relay.close();
      client.close();
      server.close();
    });

    it('refuses a loss rate outside 0..1', async () => {
      const o = { listen: { host: '127.0.0.1', port: 0 }, target: { host: '127.0.0.1', port: 9 } };
      for (const loss of [-0.1, 1.5, NaN])
        await startRelay({ ...o, loss }).then(
          () => expect.fail(`loss ${loss} accepted`),
          (e: Error) => expect(e).to.be.instanceOf(RangeError),
        );
    });
  });

  describe('www helpers', () => {
    it('wwwFile serves regular files under the root only', () => {
      expect(wwwFile(www, '/big.bin')).to.deep.include({ size: BIG.length });
      expect(wwwFile(www, '/')?.file).to.equal(join(www, 'index.html'));
      expect(wwwFile(www, '/sub/a b.txt')?.size).to.equal(7);
      const bad = ['/../secret.txt', '/sub/../../secret.txt', 'big.bin', '/nope', '/sub/x\0'];
      for (const b of [...bad, '/link-out']) expect(wwwFile(www, b), b).to.equal(undefined);
      expect(wwwFile(www, '/sub')).to.equal(undefined); // a directory without index.html
    });

    it('downloadName keeps the last path segment', () => {
      expect(downloadName('/o', '/a/b/c.bin?x=1')).to.equal(join('/o', 'c.bin'));
      expect(downloadName('/o', '/')).to.equal(join('/o', 'index.html'));
      expect(downloadName('/o', '/sub/a%20b.txt')).to.equal(join('/o', 'a b.txt'));
      expect(downloadName('/o', '/..')).to.equal(join('/o', 'index.html'));
    });

    it('downloadPlan wants https URLs with a port, all on one server, and h3 or hq-interop', () => {
      const p = downloadPlan(['https://[::1]:4433/a', 'https://[::1]:4433/b?c'], undefined);
      expect(p).to.deep.equal({
        authority: '[::1]:4433',
        host: '::1',
        paths: ['/a', '/b?c'],
        alpn: 'h3',
      });
      expect(() => downloadPlan(['http://x:1/a'], undefined)).to.throw(/https/);
      expect(() => downloadPlan(['https://x/a'], undefined)).to.throw(/port/);
      expect(() => downloadPlan(['https://x:1/a', 'https://y:1/a'], undefined)).to.throw(
        /one server/,
      );
      expect(() => downloadPlan(['https://x:1/a'], 'echo')).to.throw(/h3 or hq-interop/);
    });
  });

  it('zquic client URL... / server --www: a bad argument is one line on stderr and exit 2', async () => {
    const cli = fileURLToPath(new URL('../lib/cli/main.ts', import.meta.url));
    const cases: [string[], RegExp][] = [
      [['client', 'https://127.0.0.1/a', '--out', dir], /URL needs a port/],
      [['client', 'https://a:1/x', 'https://b:1/y'], /one server/],
      [['server', '--www', join(dir, 'nope')], /is not a directory/],
    ];
    await Promise.all(
      cases.map(async ([args, message]) => {
        const p = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let err = '';
        p.stderr.on('data', (d: Buffer) => (err += d));
        const code = await new Promise((r) => p.once('close', r));
        expect(code, args.join(' ')).to.equal(2);
        expect(err.trim().split('\n')).to.have.length(1);
        expect(err).to.match(message);
      }),
    );
  });

  describe('zquic server --www: one server, h3 and hq-interop at once', () => {
    const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);

    it('the default ALPNs serve an h3 and an hq-interop client the same bytes, 0-RTT included', async () => {
      const certFile = join(dir, 'both-cert.pem');
      const keyFile = join(dir, 'both-key.pem');
      writeFileSync(certFile, cert);
      writeFileSync(keyFile, key);
      // Per server session: its ALPN when its first stream was delivered, and whether that
      // stream came before the handshake completed (0-RTT).
      const atFirstStream: { alpn: string | undefined; early: boolean }[] = [];
      const { endpoint } = await startServer({
        host: '127.0.0.1',
        port: 0,
        cert: certFile,
        key: keyFile,
        www,
        earlyData: true,
        onsession: (s) =>
          s.once('stream', () =>
            atFirstStream.push({ alpn: s.alpnProtocol, early: s.handshake === undefined }),
          ),
      });
      const authority = `127.0.0.1:${endpoint.address.port}`;
      const tls = { ca: cert, servername: 'localhost' };
      const got: Record<string, Buffer> = {};
      try {
        for (const alpn of ['h3', 'hq-interop'] as const) {
          let ticket: SessionTicket | undefined;
          for (const round of ['full', 'early'] as const) {
            const out = join(dir, `both-${alpn}-${round}`);
            const options = { ...tls, alpn, session: ticket, earlyData: ticket !== undefined };
            let session: QuicSession;
            if (alpn === 'h3') {
              const client = await connectHttp3(authority, options);
              session = client.session;
              const ticketed = once(session, 'ticket');
              await downloadH3(client, ['/big.bin'], out);
              if (round === 'full') [ticket] = (await ticketed) as [SessionTicket];
              expect(session.alpnProtocol).to.equal('h3');
              await client.close();
            } else {
              session = await connect(authority, options);
              const ticketed = once(session, 'ticket');
              await downloadHq(session, ['/big.bin'], out);
              if (round === 'full') [ticket] = (await ticketed) as [SessionTicket];
              expect(session.alpnProtocol).to.equal(alpn);
              await session.close();
            }
            expect(await session.opened).to.include({
              alpn,
              resumed: round === 'early',
              earlyDataAccepted: round === 'early',
            });
            got[`${alpn} ${round}`] = readFileSync(join(out, 'big.bin'));
          }
        }
      } finally {
        endpoint.destroy();
      }
      for (const [name, bytes] of Object.entries(got))
        expect(bytes.equals(BIG), `${name}: bytes differ`).to.equal(true);
      expect(Object.keys(got)).to.have.length(4);
      // The server knew each session's ALPN before its first stream; the resumed clients'
      // requests came as 0-RTT.
      expect(atFirstStream).to.deep.equal([
        { alpn: 'h3', early: false },
        { alpn: 'h3', early: true },
        { alpn: 'hq-interop', early: false },
        { alpn: 'hq-interop', early: true },
      ]);
    });

    it('--www refuses an ALPN it does not serve, in one line', async () => {
      const options = { host: '127.0.0.1', port: 0, www };
      await startServer({ ...options, alpn: ['h3', 'echo'] }).then(
        () => expect.fail('echo accepted with --www'),
        (e: Error) => expect(e.message).to.match(/--www serves h3 and hq-interop, not 'echo'/),
      );
    });
  });

  describe('zquic server --www and client downloads (in process, through the relay)', () => {
    const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);

    for (const alpn of ['h3', 'hq-interop'] as const)
      it(`${alpn}: files SHA-256 equal with 5% loss each way; missing files fail; no path escapes`, async () => {
        const certFile = join(dir, 'cert.pem');
        const keyFile = join(dir, 'key.pem');
        writeFileSync(certFile, cert);
        writeFileSync(keyFile, key);
        const { endpoint } = await startServer({
          host: '127.0.0.1',
          port: 0,
          cert: certFile,
          key: keyFile,
          alpn: [alpn],
          www,
        });
        const relay = await startRelay({
          listen: { host: '127.0.0.1', port: 0 },
          target: { host: '127.0.0.1', port: endpoint.address.port },
          loss: 0.05,
          seed: 11,
        });
        const out = join(dir, `out-${alpn}`);
        const authority = `127.0.0.1:${relay.port}`;
        try {
          const paths = ['/big.bin', '/sub/a%20b.txt', '/'];
          if (alpn === 'h3') {
            const client = await connectHttp3(authority, { ca: cert, servername: 'localhost' });
            const r = await downloadH3(client, paths, out);
            expect(r.map((d) => d.bytes)).to.deep.equal([BIG.length, 7, 11]);
            await downloadH3(client, ['/nope'], out).then(
              () => expect.fail('404 accepted'),
              (e: Error) => expect(e.message).to.match(/status 404/),
            );
            await downloadH3(client, ['/../secret.txt'], out).then(
              () => expect.fail('escaped the root'),
              (e: Error) => expect(e.message).to.match(/status 404/),
            );
            await client.close();
          } else {
            const session = await connect(authority, {
              alpn,
              ca: cert,
              servername: 'localhost',
            });
            const r = await downloadHq(session, paths, out);
            expect(r.map((d) => d.bytes)).to.deep.equal([BIG.length, 7, 11]);
            for (const bad of ['/nope', '/link-out/../../secret.txt'])
              await downloadHq(session, [bad], out).then(
                () => expect.fail(`${bad} served`),
                (e: Error) => expect(e.message).to.match(/reset by the server/),
              );
            await session.close();
          }
          expect(sha(readFileSync(join(out, 'big.bin')))).to.equal(sha(BIG));
          expect(readFileSync(join(out, 'a b.txt'), 'utf8')).to.equal('spaced\n');
          expect(readFileSync(join(out, 'index.html'), 'utf8')).to.equal('root index\n');
          expect(relay.counts.up.dropped + relay.counts.down.dropped).to.be.greaterThan(0);
        } finally {
          await relay.close();
          endpoint.destroy();
        }
      });
  });
});
