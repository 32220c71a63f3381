// Served files read from the page cache on the event loop (lib/cli/cached-read.ts over the
// addon's fileReadCached, native/file_read.cc), through the threadpool otherwise.
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { readCached } from '../lib/cli/cached-read.js';
import { addon } from '../lib/crypto/native.js';

const fileReadCached = (addon as { fileReadCached: (...args: unknown[]) => number }).fileReadCached;

describe('cached file reads', () => {
  let dir: string;
  let file: string;
  const content = randomBytes(200_000);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'zquic-cached-read-'));
    file = join(dir, 'f.bin');
    writeFileSync(file, content);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file piece by piece at the positions given, 0 at its end', async () => {
    const fh = await open(file, 'r');
    try {
      const got: Buffer[] = [];
      for (let position = 0; ;) {
        const pieces = [Buffer.alloc(65_536), Buffer.alloc(65_536)];
        const n = await readCached(fh, pieces, position);
        if (n === 0) break;
        got.push(Buffer.concat(pieces).subarray(0, n));
        position += n;
      }
      expect(Buffer.concat(got).equals(content)).to.equal(true);
    } finally {
      await fh.close();
    }
  });

  it('reads a file just written from the page cache without the threadpool (Linux)', async function () {
    if (process.platform !== 'linux') this.skip(); // elsewhere always -1: the threadpool reads
    const fh = await open(file, 'r');
    try {
      const piece = Buffer.alloc(1000);
      expect(fileReadCached(fh.fd, [piece], 5000)).to.equal(1000);
      expect(piece.equals(content.subarray(5000, 6000))).to.equal(true);
      expect(fileReadCached(fh.fd, [piece], content.length)).to.equal(0);
    } finally {
      await fh.close();
    }
  });

  it("falls back to the threadpool's read, which reports the error (a directory)", async function () {
    if (process.platform !== 'linux') this.skip(); // opening a directory for reading
    const fh = await open(dir, 'r');
    try {
      expect(fileReadCached(fh.fd, [Buffer.alloc(10)], 0)).to.equal(-1);
      const err = await readCached(fh, [Buffer.alloc(10)], 0).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      );
      expect(err?.code).to.equal('EISDIR');
    } finally {
      await fh.close();
    }
  });

  it('gives a closed handle to the threadpool read, which rejects', async () => {
    const fh = await open(file, 'r');
    await fh.close();
    const err = await readCached(fh, [Buffer.alloc(10)], 0).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err).to.be.instanceOf(Error);
    expect(err?.code).to.equal('EBADF');
  });

  it('throws TypeError or RangeError naming the argument for junk', async () => {
    const fh = await open(file, 'r');
    try {
      const fd = fh.fd;
      const b = Buffer.alloc(8);
      const detached = new Uint8Array(8);
      structuredClone(detached.buffer, { transfer: [detached.buffer] });
      const cases: [unknown[], ErrorConstructor, RegExp][] = [
        [['3', [b], 0], TypeError, /fd must be a number/],
        [[-1, [b], 0], RangeError, /fd must be an integer/],
        [[1.5, [b], 0], RangeError, /fd must be an integer/],
        [[fd, b, 0], TypeError, /buffers must be an array/],
        [[fd, [], 0], RangeError, /buffers must hold 1 to 1024/],
        [[fd, Array.from({ length: 1025 }, () => b), 0], RangeError, /buffers must hold/],
        [[fd, [b, 'x'], 0], TypeError, /buffers\[1\] must be a Uint8Array/],
        [[fd, [new Uint16Array(4)], 0], TypeError, /buffers\[0\] must be a Uint8Array/],
        [[fd, [detached], 0], TypeError, /buffers\[0\] is backed by a detached/],
        [[fd, [b], -1], RangeError, /position must be an integer/],
        [[fd, [b], NaN], RangeError, /position must be an integer/],
        [[fd, [b], 2 ** 53], RangeError, /position must be an integer/],
        [[fd, [b]], TypeError, /position must be a number/],
      ];
      for (const [args, type, message] of cases)
        expect(() => fileReadCached(...args), String(args[0])).to.throw(type, message);
    } finally {
      await fh.close();
    }
  });
});
