import { expect } from 'chai';
import { createRequire } from 'node:module';

describe('addon', () => {
  it('loads', () => {
    const addon = createRequire(import.meta.url)('bindings')('zquic');
    expect(addon).to.be.an('object');
  });
});
