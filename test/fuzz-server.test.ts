// The live-server fuzzer (`npm run fuzz:server`, CI runs 100,000 datagrams) and its mutations,
// in a short run: a server child process gets mutated datagrams with valid protection, stays
// up, logs no internal error and still serves a fresh client.
import { expect } from 'chai';

import { Mutator } from '../bench/fuzz-mutate.js';
import { fuzzServer } from '../bench/fuzz-server.js';
import type { Frame } from '../lib/quic/frames.js';
import { prng } from '../scripts/interop/relay.js';

describe('live-server fuzzer', () => {
  it('mutations are reproducible from the seed', () => {
    const run = (seed: number) => {
      const m = new Mutator(prng(seed));
      const d = Buffer.from('40' + '11'.repeat(40), 'hex');
      const f: Frame = { type: 'stream', streamId: 4, offset: 10, data: d, fin: false };
      return [
        m.mutateDatagram(d, [d], 8).toString('hex'),
        JSON.stringify(m.mutateFrame(f)),
        m.mutateBuffer(d).toString('hex'),
      ];
    };
    expect(run(7)).to.deep.equal(run(7));
    expect(run(7)).to.not.deep.equal(run(8));
  });

  it('2,000 mutated datagrams: no crash, no internal error, the server still serves', async function () {
    this.timeout(120_000);
    const r = await fuzzServer({ datagrams: 2000, seed: 5, mode: 'h3' });
    expect(r.crash).to.equal(undefined);
    expect(r.internalStacks).to.deep.equal([]);
    expect(r.internalErrors).to.equal(0);
    expect(r.aliveError).to.equal(undefined);
    expect(r.alive).to.equal(true);
    expect(r.datagrams).to.equal(2000);
    expect(r.ok).to.equal(true);
    // Not vacuous: the forged packets opened (the server closed connections for protocol
    // errors it found in their frames), and mutated ClientHellos reached a server.
    expect(Object.keys(r.closes).some((c) => c.startsWith('transport'))).to.equal(true);
    expect(r.byKind.hello).to.be.greaterThan(0);
    expect(r.endpoint.accepted).to.be.greaterThan(r.connections);
  });
});
