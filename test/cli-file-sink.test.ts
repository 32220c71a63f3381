// FileSink / saveBody (lib/cli/file-sink.ts): the download sink of `zquic client URL --out`.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

import { FileSink, FLUSH_BYTES, saveBody } from '../lib/cli/file-sink.js';

describe('cli: FileSink', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'zquic-sink-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gathers the chunks of a turn and writes them in order, whole, at the end of the turn', async () => {
    const file = join(dir, 'a.bin');
    const sink = new FileSink(file);
    const chunks = Array.from({ length: 50 }, (_, i) => randomBytes(1 + i * 37));
    for (const c of chunks) expect(sink.write(c)).to.equal(true);
    expect(sink.written).to.equal(0); // nothing written within the turn
    await new Promise((r) => setImmediate(r));
    const total = chunks.reduce((n, c) => n + c.length, 0);
    expect(sink.written).to.equal(total);
    sink.close();
    expect(readFileSync(file).equals(Buffer.concat(chunks))).to.equal(true);
  });

  it('writes at once when FLUSH_BYTES are gathered (memory stays bounded within a turn)', () => {
    const file = join(dir, 'b.bin');
    const sink = new FileSink(file);
    const chunk = randomBytes(64 * 1024);
    const n = FLUSH_BYTES / chunk.length;
    for (let i = 0; i < n - 1; i++) sink.write(chunk);
    expect(sink.written).to.equal(0);
    sink.write(chunk);
    expect(sink.written).to.equal(FLUSH_BYTES);
    sink.close();
    expect(readFileSync(file).length).to.equal(FLUSH_BYTES);
  });

  it('close() writes the rest; writes after close() are refused', () => {
    const file = join(dir, 'c.bin');
    const sink = new FileSink(file);
    sink.write(Buffer.from('hello'));
    sink.close();
    sink.close(); // idempotent
    expect(sink.write(Buffer.from('more'))).to.equal(false);
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

  it('destroys the body and rejects when the file cannot be opened', async () => {
    const body = new Readable({ read() {} });
    let err: NodeJS.ErrnoException | undefined;
    await saveBody(body, join(dir, 'no', 'f.bin')).catch((e: NodeJS.ErrnoException) => (err = e));
    expect(err?.code).to.equal('ENOENT');
    expect(body.destroyed).to.equal(true);
  });
});
