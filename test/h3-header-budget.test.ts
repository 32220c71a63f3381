// The bytes of unfinished HEADERS one HTTP/3 connection holds for all its request streams
// (maxUnfinishedHeaderBytes): a peer that stops many streams mid-HEADERS is bounded by it.
import { expect } from 'chai';

import { H3Connection, type H3Event } from '../lib/h3/connection.js';
import { H3 } from '../lib/h3/errors.js';
import { FrameType, encodeFrame, frameHeader } from '../lib/h3/frames.js';
import { encodeFieldSection, type Field } from '../lib/h3/qpack.js';

const REQ: Field[] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':authority', 'a'],
  [':path', '/'],
];

/** A HEADERS frame announcing `length` bytes, with only its first `sent` bytes. */
function unfinished(length: number, sent: number): Uint8Array {
  return Buffer.concat([frameHeader(FrameType.HEADERS, length), Buffer.alloc(sent, 0x61)]);
}

function drain(c: H3Connection): H3Event[] {
  const out: H3Event[] = [];
  for (let e; (e = c.poll());) out.push(e);
  return out;
}

const aborts = (ev: H3Event[]) =>
  ev.flatMap((e) => (e.type === 'abort' ? [{ stream: e.stream, code: e.code }] : []));

describe('HTTP/3 connection: unfinished HEADERS budget', () => {
  it('the stream whose bytes go over the budget is reset with H3_EXCESSIVE_LOAD; the rest go on', () => {
    const s = new H3Connection({ role: 'server', grease: false, maxUnfinishedHeaderBytes: 10_000 });
    for (const id of [0, 4, 8]) s.receive(id, unfinished(8000, 3000));
    expect(s.unfinishedHeaders).to.deep.equal({ bytes: 9000, refused: 0 });
    s.receive(12, unfinished(8000, 3000));
    const ev = drain(s);
    // A stream error, not a connection error: only the stream that went over is refused (its
    // bytes given back); the other requests of the connection are not punished for it.
    expect(aborts(ev)).to.deep.equal([{ stream: 12, code: H3.EXCESSIVE_LOAD }]);
    expect(ev.some((e) => e.type === 'close')).to.equal(false);
    expect(s.unfinishedHeaders).to.deep.equal({ bytes: 9000, refused: 1 });
    // The stream's end, a reset, and a completed header block each give their bytes back.
    s.streamReset(0, H3.REQUEST_CANCELLED);
    expect(s.unfinishedHeaders.bytes).to.equal(6000);
    s.abort(4);
    expect(s.unfinishedHeaders.bytes).to.equal(3000);
    const block = encodeFieldSection([...REQ, ['x-pad', 'p'.repeat(4000)]]);
    const frame = encodeFrame(FrameType.HEADERS, block);
    s.receive(16, frame.subarray(0, 2000));
    expect(s.unfinishedHeaders.bytes).to.be.greaterThan(3000);
    s.receive(16, frame.subarray(2000), true);
    expect(drain(s).filter((e) => e.type === 'request')).to.have.length(1);
    expect(s.unfinishedHeaders.bytes).to.equal(3000);
    s.shutdown();
    expect(s.unfinishedHeaders.bytes).to.equal(0);
  });

  it('the default holds 1 MiB: four 250 kB header blocks fit, a fifth is refused', () => {
    const s = new H3Connection({ role: 'server', grease: false });
    for (const id of [0, 4, 8, 12]) s.receive(id, unfinished(260_000, 250_000));
    expect(aborts(drain(s))).to.deep.equal([]);
    s.receive(16, unfinished(260_000, 250_000));
    expect(aborts(drain(s))).to.deep.equal([{ stream: 16, code: H3.EXCESSIVE_LOAD }]);
    expect(s.unfinishedHeaders).to.deep.equal({ bytes: 1_000_000, refused: 1 });
    // Later bytes for the refused stream are ignored, not held.
    s.receive(16, Buffer.alloc(5000));
    expect(s.unfinishedHeaders.bytes).to.equal(1_000_000);
  });

  it('a client holds unfinished response HEADERS under the same budget', () => {
    const c = new H3Connection({ role: 'client', grease: false, maxUnfinishedHeaderBytes: 4000 });
    for (const id of [0, 4])
      c.sendRequest(id, { method: 'GET', scheme: 'https', authority: 'a', path: '/' }, true);
    drain(c);
    c.receive(0, unfinished(5000, 3000));
    c.receive(4, unfinished(5000, 3000));
    expect(aborts(drain(c))).to.deep.equal([{ stream: 4, code: H3.EXCESSIVE_LOAD }]);
    expect(c.unfinishedHeaders).to.deep.equal({ bytes: 3000, refused: 1 });
  });

  it('maxUnfinishedHeaderBytes must be a positive integer', () => {
    for (const v of [0, -1, 1.5, Number.NaN, Infinity])
      expect(
        () => new H3Connection({ role: 'server', maxUnfinishedHeaderBytes: v }),
        String(v),
      ).to.throw(RangeError, /maxUnfinishedHeaderBytes/);
  });
});
