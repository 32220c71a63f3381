// Reads of a served file that skip libuv's threadpool when the page cache has the data: the
// addon's fileReadCached (native/file_read.cc, Linux preadv2 with RWF_NOWAIT) reads on the event
// loop or reports that it would have to wait for the disk; only then does the read go through
// the threadpool (FileHandle.readv). A threadpool read costs a pool thread's wake-up and a
// completion callback; on a server pinned to one CPU the pool thread also takes that CPU.
import type { FileHandle } from 'node:fs/promises';

import { addon } from '../crypto/native.js';

interface FileReadAddon {
  /** Bytes read (0 at the end), or -1: not cached, not supported, or failed (read again). */
  fileReadCached(fd: number, buffers: Uint8Array[], position: number): number;
}

const fileRead = addon as unknown as FileReadAddon;

/** Reads into `buffers` from `position` of `fh` (like fh.readv): from the page cache at once
 * when it holds the data, else through the threadpool. Resolves with the bytes read (fewer
 * than asked only at the end of the file, or when only part of it was cached). */
export async function readCached(
  fh: FileHandle,
  buffers: Uint8Array[],
  position: number,
): Promise<number> {
  // (A closed handle's fd is -1: its readv reports that.)
  const n = fh.fd >= 0 ? fileRead.fileReadCached(fh.fd, buffers, position) : -1;
  if (n >= 0) return n;
  return (await fh.readv(buffers, position)).bytesRead;
}
