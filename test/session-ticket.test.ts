// Client session tickets kept across processes: encodeSessionTicket / decodeSessionTicket from the
// package root, and every way bytes that are not such a ticket are refused.
import { expect } from 'chai';
import fc from 'fast-check';

import { decodeSessionTicket, encodeSessionTicket, type SessionTicket } from '../lib/index.js';

const ticket = (over: Partial<SessionTicket> = {}): SessionTicket => ({
  ticket: Buffer.alloc(120, 7),
  psk: Buffer.alloc(32, 9),
  suite: 0x1301,
  ageAdd: 0xdeadbeef,
  lifetime: 7 * 24 * 3600,
  receivedAt: Date.parse('2030-01-01T00:00:00Z'),
  maxEarlyData: 0xffffffff,
  alpn: 'h3',
  serverName: 'example.com',
  transportParameters: Buffer.from([1, 2, 3]),
  ...over,
});

const stale = /^session is a stale or foreign ticket \(/;

describe('session tickets across processes (encodeSessionTicket / decodeSessionTicket)', () => {
  it('round-trips every field, with and without the optional ones', () => {
    for (const t of [
      ticket(),
      ticket({ alpn: undefined, serverName: undefined, transportParameters: undefined }),
      ticket({ psk: Buffer.alloc(48, 1), suite: 0x1302, receivedAt: 2 ** 40 + 5 }),
    ])
      expect(decodeSessionTicket(encodeSessionTicket(t))).to.deep.equal(t);
  });

  it('keeps whole milliseconds of a receive time taken from performance.now()', () => {
    const t = ticket({ receivedAt: 1_767_225_600_000.375 });
    expect(decodeSessionTicket(encodeSessionTicket(t)).receivedAt).to.equal(1_767_225_600_000);
  });

  it('starts with a format version byte; another version is a stale or foreign ticket', () => {
    const enc = encodeSessionTicket(ticket());
    expect(enc[0]).to.equal(1);
    for (const v of [0, 2, 0xff]) {
      const other = Buffer.from(enc);
      other[0] = v;
      expect(() => decodeSessionTicket(other))
        .to.throw(TypeError, stale)
        .with.property('message')
        .that.includes(`format version ${v}`);
    }
  });

  it('refuses every truncation, trailing bytes and bad presence bytes', () => {
    const enc = encodeSessionTicket(ticket());
    for (let n = 0; n < enc.length; n++)
      expect(() => decodeSessionTicket(enc.subarray(0, n)), `${n} bytes`).to.throw(
        TypeError,
        stale,
      );
    expect(() => decodeSessionTicket(Buffer.concat([enc, Buffer.from([0])]))).to.throw(
      TypeError,
      stale,
    );
    const bare = encodeSessionTicket(
      ticket({ alpn: undefined, serverName: undefined, transportParameters: undefined }),
    );
    const flagged = Buffer.from(bare);
    flagged[flagged.length - 1] = 2; // transportParameters presence byte
    expect(() => decodeSessionTicket(flagged)).to.throw(TypeError, /transportParameters/);
  });

  it('refuses garbage with a TypeError, never another error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        try {
          decodeSessionTicket(bytes);
        } catch (e) {
          expect(e).to.be.instanceOf(TypeError);
          expect((e as Error).message).to.match(stale);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('names the argument when it is not bytes or not a SessionTicket', () => {
    for (const v of [undefined, null, 'ticket', [1, 2], {}])
      expect(() => decodeSessionTicket(v as unknown as Uint8Array)).to.throw(
        TypeError,
        /^session must be a Uint8Array/,
      );
    for (const bad of [
      null,
      ticket({ ticket: Buffer.alloc(0) }),
      ticket({ psk: Buffer.alloc(16) }),
      ticket({ suite: -1 }),
      ticket({ lifetime: 2 ** 32 }),
      ticket({ receivedAt: Number.NaN }),
      ticket({ alpn: 'h\u2603' }),
      ticket({ transportParameters: 'tp' as unknown as Buffer }),
    ])
      expect(() => encodeSessionTicket(bad as SessionTicket)).to.throw(
        TypeError,
        /^ticket must be a SessionTicket \(/,
      );
  });
});
