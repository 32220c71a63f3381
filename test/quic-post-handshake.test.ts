// HandshakeFraming: TLS handshake message boundaries over a CRYPTO byte stream split anywhere.
import { expect } from 'chai';

import { HandshakeFraming } from '../lib/quic/post-handshake.js';

function message(type: number, bodyLength: number): Buffer {
  const m = Buffer.alloc(4 + bodyLength, 0xaa);
  m[0] = type;
  m.writeUIntBE(bodyLength, 1, 3);
  return m;
}

describe('quic/post-handshake: HandshakeFraming', () => {
  const stream = Buffer.concat([
    message(4, 300),
    message(4, 0),
    message(20, 5),
    message(4, 70_000),
  ]);
  const ends = [304, 308, 317, stream.length];

  it('sees each message type once and knows the boundaries, however the stream is split', () => {
    for (const chunk of [1, 2, 3, 5, 7, 64, 1200, stream.length]) {
      const f = new HandshakeFraming();
      const types: number[] = [];
      const boundaries: number[] = [];
      for (let off = 0; off < stream.length; off += chunk) {
        f.feed(stream.subarray(off, off + chunk), (t) => types.push(t));
        const end = Math.min(stream.length, off + chunk);
        if (f.atBoundary) boundaries.push(end);
      }
      expect(types).to.deep.equal([4, 4, 20, 4]);
      // Every chunk end that is a message end, and no other.
      const expected = [];
      for (let off = 0; off < stream.length; off += chunk) {
        const end = Math.min(stream.length, off + chunk);
        if (ends.includes(end)) expected.push(end);
      }
      expect(boundaries, `chunk ${chunk}`).to.deep.equal(expected);
    }
  });

  it('an exception from onMessage stops at that message', () => {
    const f = new HandshakeFraming();
    const seen: number[] = [];
    expect(() =>
      f.feed(stream, (t) => {
        seen.push(t);
        if (t !== 4) throw new RangeError(`type ${t}`);
      }),
    ).to.throw(RangeError, 'type 20');
    expect(seen).to.deep.equal([4, 4, 20]);
  });
});
