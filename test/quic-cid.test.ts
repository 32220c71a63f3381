/** Connection ID bookkeeping (RFC 9000 §5.1, §19.15, §19.16). */
import { expect } from 'chai';
import { ConnectionIds } from '../lib/quic/cid.js';
import { QuicError } from '../lib/quic/errors.js';

const cid = (n: number): Buffer => Buffer.alloc(8, n);
const token = Buffer.alloc(16, 0xaa);

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(QuicError);
    return (e as QuicError).code;
  }
  return -1;
}

describe('quic connection IDs', () => {
  it('issues CIDs up to the limit and retires them by sequence', () => {
    const ids = new ConnectionIds(cid(0), cid(100), 8);
    const issued = ids.issue(4);
    expect(issued.map((i) => i.seq)).to.deep.equal([1, 2, 3]);
    expect(ids.issue(4)).to.deep.equal([]);
    expect(ids.isLocal(issued[1]!.cid)).to.equal(true);
    expect(ids.onRetire(2)).to.deep.equal(issued[1]!.cid);
    expect(ids.onRetire(2)).to.equal(undefined);
    expect(ids.isLocal(issued[1]!.cid)).to.equal(false);
    expect(ids.issue(4).map((i) => i.seq)).to.deep.equal([4]);
    // RFC 9000 §19.16: a sequence never issued.
    expect(code(() => ids.onRetire(99))).to.equal(0x0a);
  });

  it('retire_prior_to retires older CIDs and moves the current one (RFC 9000 §5.1.2)', () => {
    const ids = new ConnectionIds(cid(0), cid(100), 8);
    ids.setPeerFirst(cid(100), token);
    expect(ids.onNew(1, 0, cid(101), token, 4)).to.deep.equal([]);
    expect(ids.onNew(2, 2, cid(102), token, 4).sort()).to.deep.equal([0, 1]);
    expect(ids.current).to.deep.equal(cid(102));
    // A CID below the retire_prior_to seen is retired at once; a repeat is ignored.
    expect(ids.onNew(1, 0, cid(101), token, 4)).to.deep.equal([1]);
    expect(ids.onNew(2, 2, cid(102), token, 4)).to.deep.equal([]);
  });

  it('violations: limit, reused sequence, retire_prior_to > sequence, zero-length CIDs', () => {
    const ids = new ConnectionIds(cid(0), cid(100), 8);
    ids.setPeerFirst(cid(100), token);
    ids.onNew(1, 0, cid(101), token, 2);
    expect(code(() => ids.onNew(2, 0, cid(102), token, 2))).to.equal(0x09);
    expect(code(() => ids.onNew(1, 0, cid(7), token, 8))).to.equal(0x0a);
    expect(code(() => ids.onNew(5, 6, cid(105), token, 8))).to.equal(0x07);
    const zero = new ConnectionIds(cid(0), Buffer.alloc(0), 8);
    expect(code(() => zero.onNew(1, 0, cid(1), token, 8))).to.equal(0x0a);
  });
});
