// QuicStream (Duplex) against a fake connection: write backpressure follows write()'s return
// value and 'writable' events; the read side stops pulling when push() returns false.
import { expect } from 'chai';
import { once } from 'node:events';

import {
  QuicStream,
  QuicStreamError,
  STREAM_HIGH_WATER_MARK,
  type StreamHost,
} from '../lib/net/stream.js';

class FakeHost implements StreamHost {
  room = 10;
  written: Buffer[] = [];
  fin = false;
  incoming: Buffer[] = [];
  incomingFin = false;
  reads = 0;
  resets: number[] = [];
  stops: number[] = [];
  kicks = 0;
  released = 0;
  write(_id: number, data: Uint8Array, fin = false): number {
    const n = Math.min(this.room, data.length);
    this.room -= n;
    if (n > 0) this.written.push(Buffer.from(data.subarray(0, n)));
    if (fin && n === data.length) this.fin = true;
    return n;
  }
  finReported = false;
  /** Like Connection.readChunk: the FIN comes with the last chunk (or alone), once. */
  read(): { data: Uint8Array | null; fin: boolean } {
    this.reads++;
    const data = this.incoming.shift() ?? null;
    const fin = this.incomingFin && this.incoming.length === 0 && !this.finReported;
    if (fin) this.finReported = true;
    return { data, fin };
  }
  resetStream(_id: number, code: number): void {
    this.resets.push(code);
  }
  stopSending(_id: number, code: number): void {
    this.stops.push(code);
  }
  kick(): void {
    this.kicks++;
  }
  release(): void {
    this.released++;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('net/stream: QuicStream over a fake connection', () => {
  it('a partial write() holds the callback until a writable event; end() sends FIN', async () => {
    const host = new FakeHost();
    const s = new QuicStream(host, 0, true, true);
    let done = false;
    s.write(Buffer.from('0123456789abcdefghij'), () => (done = true));
    await tick();
    expect(Buffer.concat(host.written).toString()).to.equal('0123456789');
    expect(done).to.equal(false);
    host.room = 100;
    s.onWritable();
    await tick();
    expect(done).to.equal(true);
    expect(Buffer.concat(host.written).toString()).to.equal('0123456789abcdefghij');
    s.end();
    await once(s, 'finish');
    expect(host.fin).to.equal(true);
  });

  it('write() returns false past the high-water mark while the connection is full', () => {
    const host = new FakeHost();
    host.room = 0;
    const s = new QuicStream(host, 0, true, true);
    // Node's default high-water mark differs between versions (16 KiB on 20, 64 KiB on 22+).
    const writes = Math.ceil(s.writableHighWaterMark / 4096) + 1;
    let ok = true;
    for (let i = 0; i < writes && ok; i++) ok = s.write(Buffer.alloc(4096));
    expect(ok).to.equal(false);
  });

  it('the read side stops pulling when push() returns false and resumes on read', async () => {
    const host = new FakeHost();
    const s = new QuicStream(host, 0, true, true);
    const n = s.readableHighWaterMark / 1024 + 50; // more than one high-water mark's worth
    for (let i = 0; i < n; i++) host.incoming.push(Buffer.alloc(1024, i));
    s.onReadable(); // not reading yet: nothing pulled
    expect(host.reads).to.equal(0);
    s.pause();
    s.read(0); // starts _read
    await tick();
    expect(host.incoming.length).to.be.greaterThan(0); // stopped at the high-water mark
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.resume();
    host.incomingFin = true;
    s.onReadable();
    await once(s, 'end');
    expect(Buffer.concat(chunks).length).to.equal(n * 1024);
  });

  it('an echo (s.pipe(s)) whose connection takes nothing holds at most both high-water marks', async () => {
    const host = new FakeHost();
    host.room = 0;
    const s = new QuicStream(host, 0, true, true);
    expect([s.readableHighWaterMark, s.writableHighWaterMark]).to.deep.equal([
      STREAM_HIGH_WATER_MARK,
      STREAM_HIGH_WATER_MARK,
    ]);
    for (let i = 0; i < 200; i++) host.incoming.push(Buffer.alloc(1024, i));
    s.pipe(s);
    for (let i = 0; i < 10; i++) await tick();
    // Taken from the connection (its credit given back) and held by the stream: the readable
    // buffer, the writable buffer and the chunk being written.
    const taken = (200 - host.incoming.length) * 1024;
    expect(taken).to.be.greaterThan(STREAM_HIGH_WATER_MARK);
    expect(taken).to.be.at.most(2 * STREAM_HIGH_WATER_MARK + 1024);
    expect(s.readableLength + s.writableLength).to.equal(taken);
    s.destroy();
  });

  it("'end' follows the last chunk at once: no read() past the FIN", async () => {
    const host = new FakeHost();
    const s = new QuicStream(host, 0, true, true);
    host.incoming.push(Buffer.from('ab'), Buffer.from('cd'));
    host.incomingFin = true;
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    await once(s, 'end');
    expect(Buffer.concat(chunks).toString()).to.equal('abcd');
    expect(host.reads).to.equal(2);
    expect(host.released).to.equal(0); // the write half is still open
  });

  it('a FIN that arrives after the data was read ends the stream', async () => {
    const host = new FakeHost();
    const s = new QuicStream(host, 0, true, true);
    host.incoming.push(Buffer.from('ab'));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    await tick();
    expect(Buffer.concat(chunks).toString()).to.equal('ab');
    let ended = false;
    s.on('end', () => (ended = true));
    await tick();
    expect(ended).to.equal(false);
    host.incomingFin = true;
    s.onReadable();
    await once(s, 'end');
  });

  it('peer reset ends the stream without an error event (peerError has the code)', async () => {
    const host = new FakeHost();
    const s = new QuicStream(host, 4, true, true); // no 'error' listener: must not throw
    const reset = once(s, 'reset');
    const closed = once(s, 'close');
    s.onReset(7);
    expect(((await reset) as [number])[0]).to.equal(7);
    await closed;
    expect(s.peerError).to.be.instanceOf(QuicStreamError);
    expect((s.peerError as QuicStreamError).code).to.equal(7);
    expect(host.resets).to.deep.equal([0]); // our send half was still open: reset with resetCode
  });

  it('destroy() resets and stops the open halves with resetCode', async () => {
    const host = new FakeHost();
    const s = new QuicStream(host, 8, true, true);
    s.resetCode = 3;
    s.destroy();
    await tick();
    expect(host.resets).to.deep.equal([3]);
    expect(host.stops).to.deep.equal([3]);
    expect(host.released).to.equal(1);
  });

  it('stop-sending from the peer completes a pending write and discards later ones', async () => {
    const host = new FakeHost();
    host.room = 0;
    const s = new QuicStream(host, 0, true, true);
    const cb = new Promise<Error | null | undefined>((r) => s.write(Buffer.alloc(10), r));
    await tick();
    s.onStopSending(9);
    expect((await cb) ?? 'no error').to.equal('no error');
    expect((s.peerError as QuicStreamError).code).to.equal(9);
    host.room = 100;
    await new Promise((r) => s.write(Buffer.alloc(5), r));
    expect(host.written).to.have.length(0);
  });
  it("the session's error mid-stream reaches the stream as 'error' (a waiting writer too)", async () => {
    const host = new FakeHost();
    host.room = 0;
    const s = new QuicStream(host, 0, true, true);
    const failed = once(s, 'error').then(([e]) => e as Error);
    const writeCb = new Promise<Error | null | undefined>((r) => s.write(Buffer.alloc(10), r));
    await tick();
    const err = new Error('peer closed: boom (application error 0x42)');
    s.onConnectionClosed(err, 0x42);
    expect(await failed).to.equal(err);
    expect(await writeCb).to.equal(err);
    expect(s.peerError).to.equal(err);
    expect(s.destroyed).to.equal(true);
  });

  it('a clean session close cuts an unfinished stream short with a QuicStreamError', async () => {
    const host = new FakeHost();
    const s = new QuicStream(host, 4, true, true);
    const failed = once(s, 'error').then(([e]) => e as QuicStreamError);
    s.onConnectionClosed(null, 0x100);
    const e = await failed;
    expect(e).to.be.instanceOf(QuicStreamError);
    expect(e.code).to.equal(0x100);
    expect(e.message).to.match(/stream 4 .*session closed/);
  });

  it("without an 'error' listener the connection's end only destroys the stream", async () => {
    const host = new FakeHost();
    const s = new QuicStream(host, 8, true, true);
    s.pipe(s); // pipe's own 'error' listener rethrows: it is not the application's
    const closed = new Promise((r) => s.on('close', r)); // (events.once listens for 'error')
    s.onConnectionClosed(new Error('gone'));
    await closed;
    expect(s.destroyed).to.equal(true);
    expect(s.errored).to.equal(null);
    expect(s.peerError?.message).to.equal('gone');
  });
});
