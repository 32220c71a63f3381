// A Node Readable as a web ReadableStream. (Node 20's Readable.toWeb can enqueue into a closed
// controller after cancel(), an uncaught exception; pulling from the async iterator cannot.)
import type { Readable } from 'node:stream';

/** Bytes of `readable` as a web stream: pulled on demand (backpressure), its errors become the
 * stream's, cancel() destroys it. */
export function toWebStream(readable: Readable): ReadableStream<Uint8Array> {
  const it = readable[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await it.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel() {
        readable.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}
