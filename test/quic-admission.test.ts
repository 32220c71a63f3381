/**
 * lib/quic/admission.ts on its own: which host and network an address counts under, the
 * counts per source, the half-open queue, and the decaying load of failed Initials.
 */
import { expect } from 'chai';

import { Admission, STALL_CHECK_INTERVAL, sourceKeys } from '../lib/quic/admission.js';

const limits = { maxHandshakesPerAddress: 2, maxHandshakesPerPrefix: 3, halfOpenTimeout: 100 };

describe('quic/admission', () => {
  it('sourceKeys: IPv4 address and /24; IPv6 /64 and /48 whatever the spelling', () => {
    expect(sourceKeys('192.0.2.77')).to.deep.equal({ host: '192.0.2.77', prefix: '192.0.2' });
    // A dual-stack socket reports IPv4 peers as IPv4-mapped IPv6 addresses.
    expect(sourceKeys('::ffff:192.0.2.77')).to.deep.equal(sourceKeys('192.0.2.77'));
    expect(sourceKeys('::FFFF:c000:024d')).to.deep.equal(sourceKeys('192.0.2.77'));
    const a = sourceKeys('2001:db8:1:2:aaaa::1');
    expect(a).to.deep.equal({ host: '2001:db8:1:2::/64', prefix: '2001:db8:1::/48' });
    // Same /64 in another spelling (zero padding, case, zone, embedded IPv4 in the low bits).
    expect(sourceKeys('2001:0DB8:0001:0002:ffff:0:0:9%eth0')).to.deep.equal(a);
    expect(sourceKeys('2001:db8:1:2::192.0.2.1')).to.deep.equal(a);
    // Another /64 of the same /48.
    expect(sourceKeys('2001:db8:1:3::1')).to.deep.equal({
      host: '2001:db8:1:3::/64',
      prefix: '2001:db8:1::/48',
    });
    expect(sourceKeys('::1')).to.deep.equal({ host: '0:0:0:0::/64', prefix: '0:0:0::/48' });
    // Not an IP address: its own host and network.
    for (const s of ['localhost', '1.2.3', '1.2.3.256', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', ''])
      expect(sourceKeys(s), s).to.deep.equal({ host: s, prefix: s });
  });

  it('counts handshakes per host and per network; end() frees them once', () => {
    const adm = new Admission<string>(limits);
    adm.start('a1', '10.0.0.1', 0);
    expect(adm.refusal('10.0.0.1')).to.equal(undefined);
    adm.start('a2', '10.0.0.1', 0);
    expect(adm.refusal('10.0.0.1')).to.equal('refusedPerAddress');
    expect(adm.refusal('::ffff:10.0.0.1')).to.equal('refusedPerAddress');
    expect(adm.refusal('10.0.0.2')).to.equal(undefined);
    adm.start('b1', '10.0.0.2', 0);
    expect(adm.refusal('10.0.0.3')).to.equal('refusedPerPrefix');
    expect(adm.refusal('10.0.1.3')).to.equal(undefined);
    adm.end('a1');
    adm.end('a1');
    expect(adm.size).to.equal(2);
    expect(adm.refusal('10.0.0.1')).to.equal(undefined);
    expect(adm.refusal('10.0.0.3')).to.equal(undefined);
  });

  it('expires half-open handshakes at their deadline, in order; progress keeps the count', () => {
    const adm = new Admission<string>(limits);
    adm.start('a', '10.0.0.1', 0);
    adm.start('b', '10.0.0.2', 10);
    adm.start('c', '10.0.0.3', 20);
    expect(adm.nextTimeout()).to.equal(100);
    // (Infinity: still half-open, never stalls; -1: no longer half-open.)
    const none = { expired: [], stalled: [] };
    expect(adm.expire(99, () => Infinity)).to.deep.equal(none);
    expect(adm.expire(110, (h) => (h === 'b' ? -1 : Infinity))).to.deep.equal({
      expired: ['a'],
      stalled: [],
    });
    // 'b' made progress: no longer half-open, still a handshake in progress.
    expect(adm.nextTimeout()).to.equal(120);
    expect(adm.size).to.equal(2);
    adm.end('c');
    expect(adm.nextTimeout()).to.equal(Infinity);
    expect(adm.expire(1000, () => Infinity)).to.deep.equal(none);
    expect(adm.size).to.equal(1);
  });

  it('checks half-open handshakes for a stall every STALL_CHECK_INTERVAL, in order', () => {
    const adm = new Admission<string>({ ...limits, halfOpenTimeout: 10_000 });
    adm.start('a', '10.0.0.1', 0);
    adm.start('b', '10.0.0.2', 10);
    adm.start('c', '10.0.0.3', 20);
    const I = STALL_CHECK_INTERVAL;
    expect(adm.nextTimeout()).to.equal(I);
    // 'a' stalls at 1.5 I, 'b' at 1.9 I; 'c' is through its half-open phase by its first check.
    const stallAt: Record<string, number> = { a: 1.5 * I, b: 1.9 * I, c: -1 };
    const asked: string[] = [];
    const at = (h: string) => (asked.push(h), stallAt[h]!);
    expect(adm.expire(I + 20, at)).to.deep.equal({ expired: [], stalled: [] });
    expect(asked).to.deep.equal(['a', 'b', 'c']);
    // Checked again one interval after the check, no longer 'c'.
    expect(adm.nextTimeout()).to.equal(2 * I + 20);
    expect(adm.expire(2 * I + 20, at)).to.deep.equal({ expired: [], stalled: ['a', 'b'] });
    expect(adm.size).to.equal(1); // 'c': a handshake in progress, no longer half-open
    expect(adm.nextTimeout()).to.equal(Infinity);
    expect(adm.refusal('10.0.0.1')).to.equal(undefined);
  });

  it('the load of failed Initials decays by e every second', () => {
    const adm = new Admission<string>(limits);
    for (let i = 0; i < 100; i++) adm.failed(0);
    expect(adm.failureLoad(0)).to.equal(100);
    expect(adm.failureLoad(1000)).to.be.closeTo(100 / Math.E, 1e-9);
    adm.failed(1000);
    expect(adm.failureLoad(1000)).to.be.closeTo(100 / Math.E + 1, 1e-9);
    expect(adm.failureLoad(60_000)).to.be.below(1e-20);
  });
});
