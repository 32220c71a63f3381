// The 0-RTT replay memory (lib/tls/anti-replay.ts), alone and shared through a
// SharedArrayBuffer by several instances (as the worker threads of one server share it).
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { AntiReplay, SharedAntiReplay } from '../lib/tls/anti-replay.js';
import { buildDist } from './support/dist.js';

describe('tls anti-replay', () => {
  it('accepts an identity once until its expiry, and refuses when full', () => {
    const ar = new AntiReplay(3);
    const ids = [randomBytes(40), randomBytes(40), randomBytes(40), randomBytes(40)];
    expect(ar.accept(ids[0]!, 1000, 0)).to.equal(true);
    expect(ar.accept(ids[0]!, 1000, 1)).to.equal(false);
    expect(ar.accept(ids[1]!, 1000, 2)).to.equal(true);
    expect(ar.accept(ids[2]!, 1000, 3)).to.equal(true);
    expect(ar.accept(ids[3]!, 1000, 4)).to.equal(false); // full: early data refused
    expect(ar.accept(ids[3]!, 2000, 1001)).to.equal(true); // the others expired
  });

  it('shared: one instance per thread over one memory; an identity is accepted once by all', () => {
    const memory = SharedAntiReplay.memory(1000);
    const a = new SharedAntiReplay(memory);
    const b = new SharedAntiReplay(memory);
    const ids = Array.from({ length: 500 }, () => randomBytes(60));
    for (const [i, id] of ids.entries()) {
      expect((i % 2 ? a : b).accept(id, 10_000, i)).to.equal(true);
      expect((i % 2 ? b : a).accept(id, 10_000, i)).to.equal(false);
      expect((i % 2 ? a : b).accept(id, 10_000, i)).to.equal(false);
    }
    expect(a.size).to.equal(500);
    expect(b.size).to.equal(500);
  });

  it('shared: bounded by maxEntries; expired entries make room; a used identity stays refused', () => {
    const memory = SharedAntiReplay.memory(64);
    const ar = new SharedAntiReplay(memory);
    const ids = Array.from({ length: 200 }, () => randomBytes(32));
    const accepted = ids.filter((id) => ar.accept(id, 100, 0)).length;
    expect(accepted).to.be.at.most(64);
    expect(accepted).to.be.greaterThan(32);
    expect(ar.size).to.equal(accepted);
    expect(ids.some((id) => ar.accept(id, 100, 50))).to.equal(false);
    // Later, the first batch has expired: a sweep gives new identities their slots.
    const more = Array.from({ length: 30 }, () => randomBytes(32));
    expect(more.every((id) => ar.accept(id, 10_000, 5000))).to.equal(true);
    expect(ar.size).to.be.at.most(64);
  });

  it('shared: threads racing with the same identities accept each exactly once', async function () {
    this.timeout(120_000);
    // The threads run the compiled module (Node 20 gives worker threads no TypeScript loader).
    const module = pathToFileURL(join(dirname(buildDist()), 'tls', 'anti-replay.js')).href;
    const memory = SharedAntiReplay.memory(10_000);
    const ids = Array.from({ length: 3000 }, () => randomBytes(32));
    const code = `
      const { parentPort, workerData: { module, memory, ids } } = require('node:worker_threads');
      import(module).then(({ SharedAntiReplay }) => {
        const ar = new SharedAntiReplay(memory);
        let wins = 0;
        for (const id of ids) if (ar.accept(id, 1e15, 0)) wins++;
        parentPort.postMessage(wins);
      });
    `;
    const wins = await Promise.all(
      [0, 1, 2].map(async () => {
        const w = new Worker(code, { eval: true, workerData: { module, memory, ids } });
        const [n] = (await once(w, 'message')) as [number];
        await w.terminate();
        return n;
      }),
    );
    expect(wins.reduce((x, y) => x + y)).to.equal(ids.length);
    expect(new SharedAntiReplay(memory).size).to.equal(ids.length);
  });

  it('shared: checks its memory', () => {
    expect(() => new SharedAntiReplay(new ArrayBuffer(64) as never)).to.throw(TypeError);
    expect(() => new SharedAntiReplay(new SharedArrayBuffer(64))).to.throw(RangeError);
    expect(() => SharedAntiReplay.memory(0)).to.throw(RangeError);
    expect(() => SharedAntiReplay.memory(2 ** 25)).to.throw(RangeError);
  });
});
