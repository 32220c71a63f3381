// FileSink / saveBody (lib/cli/file-sink.ts): the download sink of `zquic client URL --out`.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { FileSink, HIGH_WATER, saveBody } from '../lib/cli/file-sink.js';

describe('cli: FileSink', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'zquic-sink-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the chunks in order, whole, and closes the file', async () => {
    const file = join(dir, 'a.bin');
    const sink = new FileSink(file);
    const chunks = Array.from({ length: 50 }, (_, i) => randomBytes(1 + i * 37));
    for (const [i, c] of chunks.entries()) {
      expect(sink.write(c)).to.equal(true);
      if (i % 10 === 9) await new Promise((r) => setImmediate(r)); // a write may be in flight
    }
    await sink.close();
    const total = chunks.reduce((n, c) => n + c.length, 0);
    expect(sink.written).to.equal(total);
    expect(readFileSync(file).equals(Buffer.concat(chunks))).to.equal(true);
  });

  it('asks to pause past HIGH_WATER bytes waiting, and calls ondrain once they are written', async () => {
    const file = join(dir, 'b.bin');
    const sink = new FileSink(file);
    let drained = 0;
    sink.ondrain = () => drained++;
    const chunk = randomBytes(1 << 20);
    const n = HIGH_WATER / chunk.length;
    for (let i = 0; i < n - 1; i++) expect(sink.write(chunk)).to.equal(true);
    expect(sink.write(chunk)).to.equal(false);
    while (drained === 0) await new Promise((r) => setTimeout(r, 5));
    expect(drained).to.equal(1);
    expect(sink.failed).to.equal(false);
    await sink.close();
    expect(readFileSync(file).length).to.equal(HIGH_WATER);
  });

  it('refuses writes after close() and a second close()', async () => {
    const file = join(dir, 'c.bin');
    const sink = new FileSink(file);
    sink.write(Buffer.from('hello'));
    const closed = sink.close();
    expect(sink.write(Buffer.from('more'))).to.equal(false);
    expect(() => sink.close()).to.throw(/closed twice/);
    await closed;
    expect(readFileSync(file, 'utf8')).to.equal('hello');
  });

  it('throws the open error', () => {
    expect(() => new FileSink(join(dir, 'missing', 'x'))).to.throw(/ENOENT/);
  });
});

describe('cli: saveBody', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'zquic-sink-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('saves a body spread over many turns and reports every chunk', async () => {
    const parts = Array.from({ length: 20 }, () => randomBytes(10_000));
    const body = new Readable({ read() {} });
    let seen = 0;
    const saved = saveBody(body, join(dir, 'd.bin'), (n) => (seen += n));
    for (const p of parts) {
      body.push(p);
      await new Promise((r) => setImmediate(r));
    }
    body.push(null);
    expect(await saved).to.equal(200_000);
    expect(seen).to.equal(200_000);
    expect(readFileSync(join(dir, 'd.bin')).equals(Buffer.concat(parts))).to.equal(true);
  });

  it("rejects with the body's error", async () => {
    const body = new Readable({ read() {} });
    const saved = saveBody(body, join(dir, 'e.bin'));
    body.push(Buffer.from('part'));
    body.destroy(new Error('connection lost'));
    let err: Error | undefined;
    await saved.catch((e: Error) => (err = e));
    expect(err?.message).to.equal('connection lost');
  });

  it('destroys the body and rejects with a write error (ENOSPC)', async function () {
    if (!existsSync('/dev/full')) this.skip(); // a device whose writes fail: Linux
    const body = new Readable({ read() {} });
    const saved = saveBody(body, '/dev/full');
    body.push(randomBytes(1000));
    let err: NodeJS.ErrnoException | undefined;
    await saved.catch((e: NodeJS.ErrnoException) => (err = e));
    expect(err?.code).to.equal('ENOSPC');
    expect(body.destroyed).to.equal(true);
  });

  it('destroys the body and rejects when the file cannot be opened', async () => {
    const body = new Readable({ read() {} });
    let err: NodeJS.ErrnoException | undefined;
    await saveBody(body, join(dir, 'no', 'f.bin')).catch((e: NodeJS.ErrnoException) => (err = e));
    expect(err?.code).to.equal('ENOENT');
    expect(body.destroyed).to.equal(true);
  });
});
