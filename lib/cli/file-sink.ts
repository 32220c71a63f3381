// FileSink: where `zquic client URL... --out DIR` writes a download. One write at a time runs
// on the thread pool (the event loop never waits for the disk), and everything that arrives
// meanwhile, or within one event-loop turn, goes out in the next one: a single writev() of many
// chunks, where a WriteStream made one thread-pool round trip (two thread switches and a
// wake-up of the event loop) per 16-64 KB chunk. Past HIGH_WATER bytes waiting, write()
// returns false and the caller pauses its source until `ondrain`.
import { close, openSync, writev } from 'node:fs';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

/** Bytes waiting to be written beyond which write() asks the caller to pause. */
export const HIGH_WATER = 8 << 20;

export class FileSink {
  /** Bytes written so far. */
  written = 0;
  /** Called when, after write() returned false, the bytes waiting fell below HIGH_WATER, and
   * when a write fails (then `failed` is true). */
  ondrain: () => void = () => {};
  private fd: number;
  private chunks: Uint8Array[] = [];
  /** Bytes in `chunks` and in the write in flight. */
  private waiting = 0;
  private writing = false;
  private scheduled = false;
  private full = false;
  private failure: Error | undefined;
  private closing = false;
  /** Closes the file once the last write is done (set by close()). */
  private finish: (() => void) | undefined;

  /** A write failed: close() rejects with its error. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Creates (or truncates) `file`; throws the open error (ENOENT, EACCES, ...). */
  constructor(readonly file: string) {
    this.fd = openSync(file, 'w');
  }

  /** Takes a chunk (kept, not copied, until it is written). Returns false when the caller
   * should pause (HIGH_WATER bytes are waiting) or a write failed (close() rejects with it). */
  write(chunk: Uint8Array): boolean {
    if (this.failure || this.closing) return false;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.waiting += chunk.length;
      if (!this.writing && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.next();
        });
      }
    }
    this.full = this.waiting >= HIGH_WATER;
    return !this.full;
  }

  /** Writes everything, then closes the file; rejects with the first write error. Once. */
  close(): Promise<void> {
    if (this.closing) throw new Error('FileSink closed twice');
    this.closing = true;
    return new Promise<void>((resolve, reject) => {
      this.finish = () =>
        close(this.fd, (err) => {
          const e = this.failure ?? err;
          if (e) reject(e);
          else resolve();
        });
      this.next();
    });
  }

  /** Starts the next write, or closes the file when nothing is left and close() was called. */
  private next(): void {
    if (this.writing) return;
    if (this.failure || this.chunks.length === 0) {
      this.chunks = [];
      const finish = this.finish;
      this.finish = undefined;
      finish?.();
      return;
    }
    const chunks = this.chunks;
    this.chunks = [];
    this.writing = true;
    this.writeAll(chunks, (err) => {
      this.writing = false;
      if (err) this.failure = err;
      if (err || (this.full && this.waiting < HIGH_WATER)) {
        this.full = false;
        this.ondrain();
      }
      this.next();
    });
  }

  /** One writev() of `chunks`; a short write goes on from where it stopped. */
  private writeAll(chunks: Uint8Array[], done: (err: Error | null) => void): void {
    writev(this.fd, chunks, (err, n) => {
      if (err) return done(err);
      if (n === 0) return done(new Error(`writev to ${this.file} wrote nothing`));
      this.written += n;
      this.waiting -= n;
      let i = 0;
      // Skip the chunks written whole; the one written in part continues from its rest.
      while (i < chunks.length && n >= chunks[i]!.length) n -= chunks[i++]!.length;
      if (i === chunks.length) return done(null);
      const rest = chunks.slice(i);
      rest[0] = rest[0]!.subarray(n);
      this.writeAll(rest, done);
    });
  }
}

/** Saves `body` into `file`; resolves with its size once all of it is written and the file
 * closed. An open or write error destroys `body` and rejects; so does an error of `body`. */
export async function saveBody(
  body: Readable,
  file: string,
  onBytes?: (n: number) => void,
): Promise<number> {
  let sink: FileSink;
  try {
    sink = new FileSink(file);
  } catch (err) {
    body.destroy(); // the rest of the response is not wanted
    throw err;
  }
  sink.ondrain = () => (sink.failed ? body.destroy() : body.resume());
  body.on('data', (c: Uint8Array) => {
    onBytes?.(c.length);
    if (sink.write(c)) return;
    if (sink.failed) body.destroy();
    else body.pause();
  });
  let error: unknown;
  try {
    await finished(body);
  } catch (err) {
    error = err;
  }
  try {
    await sink.close();
  } catch (err) {
    error = err; // a write error is why the body was destroyed
  }
  if (error !== undefined) throw error;
  return sink.written;
}
