// The `zquic client` / `zquic server` commands as a user runs them (child processes).
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { formatSummary, parseSize } from '../lib/cli/client.js';

const main = fileURLToPath(new URL('../lib/cli/main.ts', import.meta.url));

function zquic(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', main, ...args],
      { timeout: 30_000 },
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
