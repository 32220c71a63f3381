// Mutation fuzz of every wire decoder (the same engine as `npm run fuzz:wire`, fewer cases):
// only QuicError or a drop, never another exception.
import { expect } from 'chai';

import { fuzzWire } from '../bench/fuzz-wire.js';

describe('quic wire mutation fuzz', () => {
  it('20,000 mutated frames, parameter blocks and datagrams: only QuicError or a drop', function () {
    this.timeout(60000);
    const seed = Number(process.env.ZQUIC_FUZZ_SEED ?? 20261125);
    const r = fuzzWire(20000, seed);
    expect(r.failures, JSON.stringify(r.failures[0])).to.deep.equal([]);
    // The mutations reach every outcome (so the run is not vacuous).
    expect(r.ok).to.be.greaterThan(1000);
    expect(r.quicErrors).to.be.greaterThan(1000);
    expect(r.drops).to.be.greaterThan(1000);
  });
});
