// The addon's mallocTrim (native/memory.cc), which lib/net/memory-trim.ts runs after sessions
// end: freed Buffers go back to the system instead of staying in glibc's heap.
import { expect } from 'chai';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { native } from '../lib/crypto/native.js';

describe('native mallocTrim', () => {
  it('gives the memory of collected Buffers back to the system', function () {
    if (process.platform !== 'linux') this.skip(); // glibc only: elsewhere it does nothing
    // Under npm run test:asan, ASan's allocator replaces glibc's: nothing of glibc's to trim.
    if (/libasan/.test(process.env['LD_PRELOAD'] ?? '')) this.skip();
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // Datagram-sized Buffers, as a burst of connections leaves them: ~100 MB of small blocks.
    let held: Buffer[] | undefined = Array.from({ length: 70_000 }, () => Buffer.alloc(1452, 1));
    expect(held.length).to.equal(70_000);
    const before = process.memoryUsage().rss;
    held = undefined;
    gc();
    gc();
    expect(native.mallocTrim()).to.equal(true);
    const after = process.memoryUsage().rss;
    expect(before - after).to.be.greaterThan(50 << 20);
  });
});
