// The batch descriptor layout is written once in TypeScript (lib/crypto/packet.ts) and once in
// C++ (native/packet_batch.cc, exported as batchLayout); the two must agree field by field.
import { expect } from 'chai';

import { PROTECT_DESC, UNPROTECT_DESC } from '../lib/crypto/packet.js';
import { addon } from '../lib/crypto/native.js';

type Layout = Readonly<Record<string, number>>;
const native = addon['batchLayout'] as { protect: Layout; unprotect: Layout };

describe('crypto/packet batch descriptor layout', () => {
  for (const [name, ts] of [
    ['protect', PROTECT_DESC],
    ['unprotect', UNPROTECT_DESC],
  ] as const) {
    it(`${name}: the addon's field offsets and stride are the TypeScript ones`, () => {
      expect(native[name]).to.deep.equal(ts);
    });

    it(`${name}: every field has its own slot inside the stride`, () => {
      const { stride, ...fields } = ts;
      const offsets = Object.values(fields).sort((a, b) => a - b);
      expect(offsets).to.deep.equal([...Array(stride).keys()]);
    });
  }

  it('neither side can be changed at run time', () => {
    for (const layout of [native, native.protect, native.unprotect, PROTECT_DESC, UNPROTECT_DESC])
      expect(Object.isFrozen(layout)).to.equal(true);
  });
});
