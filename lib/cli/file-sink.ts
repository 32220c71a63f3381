// FileSink: where `zquic client URL... --out DIR` writes a download. The chunks that arrive in
// one event-loop turn are written together with one writev() system call at the end of the turn
// (or sooner, once FLUSH_BYTES are gathered). The write is synchronous: it copies into the page
// cache, and an asynchronous write costs a thread-pool round trip per call (two thread switches
// and a wake-up of the event loop) that, on a busy or pinned core, costs more than the copy.
// Memory stays bounded without backpressure: nothing outlives the turn it arrived in, or
// FLUSH_BYTES.
import { closeSync, openSync, writevSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';

/** Bytes gathered before they are written without waiting for the end of the turn. */
export const FLUSH_BYTES = 4 << 20;

export class FileSink {
  /** Bytes written so far. */
  written = 0;
  private fd: number | undefined;
  private chunks: Uint8Array[] = [];
  private gathered = 0;
  private scheduled: NodeJS.Immediate | undefined;
  private failure: Error | undefined;

  /** Creates (or truncates) `file`; throws the open error (ENOENT, EACCES, ...). */
  constructor(readonly file: string) {
    this.fd = openSync(file, 'w');
  }

  /** Takes a chunk (kept, not copied, until it is written). False once a write failed: the
   * error is thrown by close(). */
  write(chunk: Uint8Array): boolean {
    if (this.failure || this.fd === undefined) return false;
    if (chunk.length === 0) return true;
    this.chunks.push(chunk);
    this.gathered += chunk.length;
    if (this.gathered >= FLUSH_BYTES) this.flush();
    else this.scheduled ??= setImmediate(() => this.flush());
    return this.failure === undefined;
  }

  /** Writes what was gathered (all of it: a short write goes on from where it stopped). */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    const chunks = this.chunks;
    if (chunks.length === 0 || this.fd === undefined || this.failure) return;
    this.chunks = [];
    this.gathered = 0;
    try {
      let i = 0;
      while (i < chunks.length) {
        let n = writevSync(this.fd, i === 0 ? chunks : chunks.slice(i));
        if (n === 0) throw new Error(`writev to ${this.file} wrote nothing`);
        this.written += n;
        // Skip the chunks written whole; the one written in part continues from its rest.
        while (i < chunks.length && n >= chunks[i]!.length) n -= chunks[i++]!.length;
        if (n > 0) chunks[i] = chunks[i]!.subarray(n);
      }
    } catch (err) {
      this.failure = err as Error;
    }
  }

  /** Writes the rest and closes the file; throws the first write error, if any. Idempotent. */
  close(): void {
    this.flush();
    const fd = this.fd;
    this.fd = undefined;
    this.chunks = [];
    if (fd !== undefined) closeSync(fd);
    if (this.failure) throw this.failure;
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
  body.on('data', (c: Uint8Array) => {
    onBytes?.(c.length);
    if (!sink.write(c)) body.destroy();
  });
  let error: unknown;
  try {
    await finished(body);
  } catch (err) {
    error = err;
  }
  try {
    sink.close();
  } catch (err) {
    error = err; // a write error is why the body was destroyed
  }
  if (error !== undefined) throw error;
  return sink.written;
}
