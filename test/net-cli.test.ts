// The `zquic client` / `zquic server` commands as a user runs them (child processes).
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { formatSummary, parseSize } from '../lib/cli/client.js';
import { Progress } from '../lib/cli/progress.js';
import { startServer } from '../lib/cli/server.js';
import { selfSignedCertificate, serveHttp3 } from '../lib/index.js';

const main = fileURLToPath(new URL('../lib/cli/main.ts', import.meta.url));

type Result = { code: number; stdout: string; stderr: string };
const zquic = (...args: string[]): Promise<Result> => zquicWithEnv({}, ...args);

function zquicWithEnv(env: Record<string, string>, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', main, ...args],
      { timeout: 30_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) =>
        resolve({
          code: err ? ((err as { code?: number }).code ?? 1) : 0,
          stdout,
          stderr: stderr || String(err ?? ''),
        }),
    );
  });
}

describe('cli: zquic client / server', function () {
  this.timeout(60_000);

  it('client --local echoes over a post-quantum handshake and prints a JSON summary', async () => {
    const r = await zquic('client', '--local', '--bytes', '300k', '--streams', '3', '--json');
    expect(r.code, `${r.stderr} ${r.stdout}`).to.equal(0);
    const s = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
    expect(s).to.include({
      group: 'X25519MLKEM768',
      alpn: 'echo',
      postQuantum: true,
      bytes: 300_000,
      streams: 3,
      verified: true,
    });
    expect(s.handshakeMs).to.be.a('number').greaterThan(0);
  });

  it('--io is passed through; ZQUIC_BENCH_GC=1 adds one GC line on stderr', async () => {
    for (const io of ['dgram', 'native', 'auto']) {
      const r = await zquic('client', '--local', '--io', io, '--bytes', '100k', '--json');
      expect(r.code, `${io}: ${r.stderr}`).to.equal(0);
      expect(JSON.parse(r.stdout.trim())).to.include({ bytes: 100_000, verified: true });
      expect(r.stderr, io).to.equal('');
    }
    const g = await zquicWithEnv({ ZQUIC_BENCH_GC: '1' }, 'client', '--local', '--bytes', '1M');
    expect(g.code, g.stderr).to.equal(0);
    const gc = JSON.parse(g.stderr.trim()) as Record<string, unknown>;
    expect(gc.event).to.equal('gc');
    expect(gc.ms).to.be.a('number').at.least(0);
    expect(gc.count).to.be.a('number').at.least(0);
    expect(gc.ms === 0).to.equal(gc.count === 0);
  });

  it('client URL --connections N downloads over N connections into DIR/1..N', async () => {
    const body = randomBytes(200_000);
    const { cert, key } = selfSignedCertificate(['localhost']);
    const srv = await serveHttp3(
      (req, res) => {
        res.writeHead(200);
        res.end(req.path === '/b.bin' ? body : 'small');
      },
      { certs: cert, keys: key, host: '127.0.0.1' },
    );
    const dir = mkdtempSync(join(tmpdir(), 'zquic-cli-conns-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), cert);
      const base = `https://127.0.0.1:${srv.address.port}`;
      const r = await zquic(
        'client',
        `${base}/b.bin`,
        `${base}/s.txt`,
        '--connections',
        '3',
        '--out',
        join(dir, 'out'),
        '--ca',
        join(dir, 'ca.pem'),
        '--servername',
        'localhost',
        '--json',
      );
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout.trim())).to.include({
        connections: 3,
        files: 6,
        bytes: 3 * (body.length + 5),
        closeError: null,
      });
      for (const i of ['1', '2', '3']) {
        expect(readFileSync(join(dir, 'out', i, 'b.bin')).equals(body), i).to.equal(true);
        expect(readFileSync(join(dir, 'out', i, 's.txt'), 'utf8'), i).to.equal('small');
      }
      expect(srv.stats.accepted).to.equal(3);
    } finally {
      srv.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad --io or --connections is one line and exit code 2', async () => {
    for (const [args, message] of [
      [
        ['client', '--connections', '2', 'https://127.0.0.1:1/a', '--session-file', 'x'],
        '--session-file resumes one connection: not with --connections',
      ],
      [
        ['client', '--connections', '1e3', 'https://127.0.0.1:1/a'],
        "--connections must be an integer 1..1000, got '1e3'",
      ],
      [['client', '--connections', '2', '127.0.0.1:1'], '--connections needs URLs'],
    ] as Array<[string[], string]>) {
      const r = await zquic(...args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr, args.join(' ')).to.equal(
        `zquic client: ${message} (see zquic client --help)\n`,
      );
    }
    for (const cmd of ['client', 'server']) {
      const args =
        cmd === 'client' ? [cmd, '--io', 'uring', '127.0.0.1:1'] : [cmd, '--io', 'uring'];
      const r = await zquic(...args);
      expect(r.code, cmd).to.equal(2);
      expect(r.stderr.trim().split('\n'), cmd).to.have.length(1);
      expect(r.stderr).to.equal(
        `zquic ${cmd}: --io must be auto, native, dgram; got 'uring' (see zquic ${cmd} --help)\n`,
      );
    }
  });

  it('bad arguments give one clear line and exit code 2; --help prints usage', async () => {
    for (const args of [
      ['client', '--bytes', 'lots', '127.0.0.1:1'],
      ['client'],
      ['client', '--streams', '0', '127.0.0.1:1'],
      ['server', '--port', '99999'],
      ['server', '--nope'],
    ]) {
      const r = await zquic(...args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr.trim().split('\n')).to.have.length(1);
      expect(r.stderr).to.match(/^zquic (client|server): /);
    }
    const h = await zquic('client', '--help');
    expect(h.code).to.equal(0);
    expect(h.stdout).to.match(/usage: zquic client HOST:PORT/);
  });

  it('parseSize and the summary line', () => {
    expect(parseSize('64k')).to.equal(64_000);
    expect(parseSize('10M')).to.equal(10_000_000);
    expect(parseSize('1Gi')).to.equal(2 ** 30);
    expect(() => parseSize('-1')).to.throw(/--bytes/);
    const line = formatSummary({
      group: 'X25519MLKEM768',
      cipher: 'TLS_AES_128_GCM_SHA256',
      alpn: 'echo',
      postQuantum: true,
      handshakeMs: 1.5,
      bytes: 10_000_000,
      seconds: 0.5,
      goodputMbps: 160,
      srttMs: 0.25,
      lostPackets: 2,
      streams: 4,
      verified: true,
    });
    expect(line).to.equal(
      'X25519MLKEM768 TLS_AES_128_GCM_SHA256 handshake 1.50 ms, 10.0 MB echoed on 4 streams in 0.50 s (160.0 Mbit/s), srtt 0.25 ms, lost 2 packets',
    );
  });
});

describe('cli: options, errors, --version, progress', function () {
  this.timeout(60_000);

  it('zquic --version prints the version in package.json', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const r = await zquic('--version');
    expect(r.code).to.equal(0);
    expect(r.stdout.trim()).to.equal(pkg.version);
  });

  it('every bad option is one line and exit code 2 (also parseArgs errors)', async () => {
    for (const [args, re] of [
      [['server', '--port', '-1'], /^zquic server: --port needs a value \(.*--port=VALUE\)/],
      [['server', '--port=-1'], /^zquic server: --port must be 0\.\.65535, got '-1'/],
      [['server', '--port'], /^zquic server: --port needs a value/],
      [['client', '--nope', '127.0.0.1:1'], /^zquic client: unknown option '--nope'/],
      [['client', '--insecure=yes', '127.0.0.1:1'], /^zquic client: --insecure takes no value/],
      [['server', 'extra'], /^zquic server: unexpected argument 'extra'/],
      [['inspect', '--frobnicate'], /^zquic inspect: unknown option '--frobnicate'/],
    ] as Array<[string[], RegExp]>) {
      const r = await zquic(...args);
      expect(r.code, args.join(' ')).to.equal(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).to.have.length(1);
      expect(r.stderr, args.join(' ')).to.match(re);
    }
  });

  it('--json prints errors as one JSON line', async () => {
    for (const args of [
      ['server', '--json', '--port', '-1'],
      ['client', '--json', '--streams', '0', '127.0.0.1:1'],
      ['inspect', '--json', '--dcid-len', '99', 'c0'],
    ]) {
      const r = await zquic(...args);
      expect(r.code, args.join(' ')).to.equal(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, args.join(' ')).to.have.length(1);
      const e = JSON.parse(lines[0]!) as Record<string, unknown>;
      expect(e).to.include({ event: 'error', command: args[0], exitCode: 2 });
      expect(e.error).to.be.a('string').and.not.match(/\n/);
    }
    // a failure at run time (the server does not speak echo) is JSON too, with exit code 1
    const r = await zquic('client', '--json', '--local', '--alpn', 'h3', '--bytes', '1k');
    expect(r.code).to.equal(1);
    expect(JSON.parse(r.stderr.trim())).to.include({
      event: 'error',
      error: "server chose ALPN 'h3', not echo",
      exitCode: 1,
    });
  });

  it('a server certificate the client does not trust: the error line suggests --ca and --insecure', async () => {
    const www = mkdtempSync(join(tmpdir(), 'zquic-cli-ca-'));
    const servers = await Promise.all([
      startServer({ host: '127.0.0.1', port: 0 }),
      startServer({ host: '127.0.0.1', port: 0, www }),
    ]);
    try {
      const [echo, files] = servers.map((s) => `127.0.0.1:${s.endpoint.address.port}`);
      for (const args of [
        [echo!, '--bytes', '1k'],
        [`https://${files!}/a`, '--out', www],
      ]) {
        const r = await zquic('client', ...args);
        expect(r.code, r.stderr).to.equal(1);
        expect(r.stderr.trim().split('\n')).to.have.length(1);
        expect(r.stderr).to.match(/unknown_ca.*--ca FILE.*--insecure/);
      }
    } finally {
      for (const s of servers) s.endpoint.destroy();
      rmSync(www, { recursive: true, force: true });
    }
  });

  it('--help lists URL downloads and --www; --early-data covers h3 and hq-interop', async () => {
    const top = await zquic('--help');
    expect(top.code).to.equal(0);
    expect(top.stdout).to.include('zquic --version');
    expect(top.stdout).to.match(/zquic server --www DIR/);
    expect(top.stdout).to.match(/zquic client https:\/\/HOST:PORT\/PATH\.\.\. --out/);
    const client = await zquic('client', '--help');
    expect(client.stdout).to.match(/--early-data[^]*h3 and\s+hq-interop/);
    const server = await zquic('server', '--help');
    expect(server.stdout).to.match(/--early-data .*h3, hq-interop/);
  });

  it('the progress line: a bar for a known total, a count for downloads, only on a TTY', () => {
    const written: string[] = [];
    const tty = { isTTY: true, write: (t: string) => written.push(t) };
    const bar = new Progress(2_000_000, 1_000_000, tty);
    bar.update(2_000_000);
    bar.clear();
    expect(written).to.deep.equal([`\r[${'='.repeat(30)}] 100% 2.0/2.0 MB`, '\r\x1b[K']);
    written.length = 0;
    const count = new Progress(undefined, 0, tty);
    count.update(1_500_000);
    count.clear();
    expect(written).to.deep.equal(['\r1.5 MB received', '\r\x1b[K']);
    written.length = 0;
    new Progress(10, 1_000_000, tty).update(10); // below the minimum: silent
    const pipe = new Progress(undefined, 0, {
      isTTY: false,
      write: (t: string) => written.push(t),
    });
    pipe.update(5_000_000);
    pipe.clear();
    expect(written).to.deep.equal([]);
  });
});
