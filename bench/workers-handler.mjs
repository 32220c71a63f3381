// The handler module of bench/workers.ts (worker threads load it; plain JavaScript): a stream
// that starts with "get N\n" is answered with N bytes, anything else is echoed.
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

export default function onsession(session) {
  session.closed.catch(() => {}); // a client that goes away is no failure of the server
  session.on('stream', (stream) => {
    stream.on('error', () => {});
    let head = Buffer.alloc(0);
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(10);
      if (nl < 0 && head.length < 64) return;
      stream.off('data', onData);
      const m = /^get (\d+)$/.exec(head.subarray(0, nl).toString());
      if (!m) {
        stream.write(head);
        stream.pipe(stream);
        return;
      }
      stream.resume();
      let left = Number(m[1]);
      const send = () => {
        while (left > 0) {
          const n = Math.min(left, CHUNK.length);
          left -= n;
          if (!stream.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
            stream.once('drain', send);
            return;
          }
        }
        stream.end();
      };
      send();
    };
    stream.on('data', onData);
  });
}
