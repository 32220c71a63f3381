/**
 * Hostile peers against the sans-IO server Endpoint (lib/quic/endpoint.ts), in memory and in
 * simulated time: half-open handshakes from one address and one network (limits per source,
 * half-open expiry), garbage Initials (no connection made, counted, load for Retry), authentic
 * Initials the connection cannot use. Bounds are asserted with the endpoint's own counters.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';

import { initialSecrets } from '../lib/crypto/packet.js';
import { Connection, type Address } from '../lib/quic/connection.js';
import { STALL_CHECK_INTERVAL } from '../lib/quic/admission.js';
import { Endpoint, type EndpointConfig } from '../lib/quic/endpoint.js';
import { QUIC_V1 } from '../lib/quic/header.js';
import { EndpointNet, type Node } from './support/endpoint-net.js';
import { fakeInitial, forgePacket } from './support/forge.js';
import { SERVER_ADDR, clientConfig, serverConfig, withoutRole } from './support/link.js';

const at = (address: string, port = 50_000): Address => ({
  address,
  port,
  family: address.includes(':') ? 'IPv6' : 'IPv4',
});

const newServer = (config: Partial<EndpointConfig> = {}): Endpoint =>
  new Endpoint({ server: () => withoutRole(serverConfig()), ...config });

/** Opens `n` client connections from `address`; they count as open once their handshake is. */
function clientsAt(
  net: EndpointNet,
  address: string,
  n: number,
): { conns: Connection[]; open: Set<Connection> } {
  const node = net.add(address, at(address), new Endpoint());
  const open = new Set<Connection>();
  node.onEvent = (conn, ev) => {
    if (ev.type === 'handshake-complete') open.add(conn);
  };
  const conns: Connection[] = [];
  for (let i = 0; i < n; i++)
    conns.push(net.connect(node, withoutRole(clientConfig()), SERVER_ADDR));
  return { conns, open };
}

/** Lets through only the first datagram of each connection from the hosts `hostile` matches
 * (told apart by the client's SCID): the server gets half a ClientHello (an X25519MLKEM768
 * ClientHello needs two datagrams) and never a Handshake packet. */
function halfOpen(net: EndpointNet, hostile: (address: string) => boolean): void {
  const seen = new Set<string>();
  net.tap = (d) => {
    if (!hostile(d.from.address)) return d.data;
    const scid = d.data.subarray(7 + d.data[5]!, 7 + d.data[5]! + d.data[6 + d.data[5]!]!);
    const k = scid.toString('hex');
    if (seen.has(k)) return null;
    seen.add(k);
    return d.data;
  };
}

/** Server connections per source address. */
function perAddress(server: Node): Map<string, number> {
  const m = new Map<string, number>();
  for (const c of server.endpoint.connections())
    m.set(c.remoteAddress.address, (m.get(c.remoteAddress.address) ?? 0) + 1);
  return m;
}

describe('quic/endpoint: hostile peers', () => {
  it('half-open handshakes: at most the limit per address and per /24, each refusal counted', () => {
    const net = new EndpointNet();
    const server = net.add(
      'server',
      SERVER_ADDR,
      newServer({ maxHandshakesPerAddress: 4, maxHandshakesPerPrefix: 6 }),
    );
    halfOpen(net, (a) => a.startsWith('10.0.9.'));
    clientsAt(net, '10.0.9.1', 6);
    clientsAt(net, '10.0.9.2', 4);
    clientsAt(net, '10.0.9.3', 2);
    net.run(() => false, 100);
    // .1 reaches its own limit (4 of 6); .2 and .3 then meet the /24's (6 in all).
    expect(Object.fromEntries(perAddress(server))).to.deep.equal({ '10.0.9.1': 4, '10.0.9.2': 2 });
    expect(server.endpoint.stats).to.include({
      accepted: 6,
      refusedPerAddress: 2,
      refusedPerPrefix: 4,
      halfOpenExpired: 0,
    });
    expect(server.endpoint.stats.dropped).to.be.at.least(6);
  });

  it('IPv6: the per-address limit covers a /64, the per-prefix limit a /48', () => {
    const net = new EndpointNet();
    const server = net.add(
      'server',
      SERVER_ADDR,
      newServer({ maxHandshakesPerAddress: 2, maxHandshakesPerPrefix: 3 }),
    );
    halfOpen(net, (a) => a.startsWith('2001:db8:'));
    // Three addresses of one /64, then two of another /64 in the same /48.
    for (const a of ['2001:db8:1:2::a', '2001:db8:1:2::b', '2001:db8:1:2::c']) clientsAt(net, a, 1);
    clientsAt(net, '2001:db8:1:3::1', 1);
    clientsAt(net, '2001:db8:1:3::2', 1);
    net.run(() => false, 100);
    expect(server.endpoint.stats).to.include({
      accepted: 3,
      refusedPerAddress: 1,
      refusedPerPrefix: 1,
    });
  });

  it('half-open handshakes expire after halfOpenTimeout; a client from elsewhere connects meanwhile', () => {
    const net = new EndpointNet(); // 10 ms one way: the attackers' Initials arrive at 10
    const server = net.add(
      'server',
      SERVER_ADDR,
      newServer({ maxHandshakesPerAddress: 3, halfOpenTimeout: 3000 }),
    );
    halfOpen(net, (a) => a === '10.0.9.1');
    const attacker = clientsAt(net, '10.0.9.1', 5);
    net.run(() => false, 1000);
    expect(perAddress(server).get('10.0.9.1')).to.equal(3);
    // The legitimate client is not held up by the attacker's states.
    const legit = clientsAt(net, '10.0.1.1', 1);
    expect(net.run(() => legit.open.size === 1, 1000)).to.equal(true);
    expect(perAddress(server).get('10.0.9.1')).to.equal(3);
    // Half-open since 10: still there until 3010, expired then; the legitimate one stays.
    net.run(() => false, 3009 - net.now);
    expect(perAddress(server).get('10.0.9.1')).to.equal(3);
    expect(server.endpoint.nextTimeout()).to.equal(3010);
    expect(net.run(() => server.endpoint.stats.halfOpenExpired > 0)).to.equal(true);
    expect(net.now).to.equal(3010);
    expect(server.endpoint.stats.halfOpenExpired).to.equal(3);
    expect(Object.fromEntries(perAddress(server))).to.deep.equal({ '10.0.1.1': 1 });
    expect(server.endpoint.nextTimeout()).to.equal(Infinity);
    expect(attacker.open.size).to.equal(0);
    // The address's slots are free again.
    const accepted = server.endpoint.stats.accepted;
    clientsAt(net, '10.0.9.1', 1);
    net.run(() => false, 100);
    expect(server.endpoint.stats.accepted).to.equal(accepted + 1);
    expect(server.endpoint.stats.refusedPerAddress).to.equal(2);
  });

  it('a handshake that made progress (the client answered our flight) is not expired', () => {
    const net = new EndpointNet();
    net.delay = 900; // a round trip of 1.8 s
    const server = net.add('server', SERVER_ADDR, newServer({ halfOpenTimeout: 2000 }));
    // The first datagram of our flight with no Initial packet in it (its end) is lost: the
    // client acknowledges the Handshake packets it got (progress, at 2700) and the handshake
    // ends only after our retransmission.
    let lost = false;
    net.tap = (d) => {
      const initial = (d.data[0]! & 0xb0) === 0x80; // long header, v1 type 0 (RFC 9000 §17.2)
      if (lost || d.from !== SERVER_ADDR || initial) return d.data;
      lost = true;
      return null;
    };
    const legit = clientsAt(net, '10.0.1.1', 1);
    let complete = -1;
    server.onEvent = (_conn, ev) => {
      if (ev.type === 'handshake-complete') complete = net.now;
    };
    expect(net.run(() => legit.open.size === 1 && complete >= 0)).to.equal(true);
    expect(complete).to.be.greaterThan(900 + 2000);
    expect(server.endpoint.stats.halfOpenExpired).to.equal(0);
    expect(server.endpoint.size).to.equal(1);
  });

  it('a half-open handshake whose client goes quiet is given up after 4 PTOs, before halfOpenTimeout', () => {
    const net = new EndpointNet(); // the attackers' half ClientHellos arrive at 10
    const server = net.add('server', SERVER_ADDR, newServer({ maxHandshakesPerAddress: 3 }));
    halfOpen(net, (a) => a === '10.0.9.1');
    clientsAt(net, '10.0.9.1', 3);
    net.run(() => false, 100);
    expect(perAddress(server).get('10.0.9.1')).to.equal(3);
    expect(net.run(() => server.endpoint.stats.halfOpenStalled > 0)).to.equal(true);
    // The server sent only ACKs (no RTT sample, no backoff): its PTO is about the initial 1 s
    // (RFC 9002 §6.2.2); stalls are checked every second, well before the 8 s halfOpenTimeout.
    expect(net.now).to.be.within(10 + 4 * 999, 10 + 4 * 999 + 2 * STALL_CHECK_INTERVAL);
    expect(server.endpoint.stats).to.include({ halfOpenStalled: 3, halfOpenExpired: 0 });
    expect(server.endpoint.size).to.equal(0);
    // The address's slots are free again.
    clientsAt(net, '10.0.9.1', 1);
    net.run(() => false, 100);
    expect(server.endpoint.stats).to.include({ accepted: 4, refusedPerAddress: 0 });
  });

  it('a handshake cut off for 2.5 s after its first datagram is not stalled: it completes', () => {
    const net = new EndpointNet();
    const server = net.add('server', SERVER_ADDR, newServer());
    // Everything after the client's first datagram is lost until 2500, both ways: the
    // client's and the server's retransmissions (PTOs with backoff) get through after.
    let first = true;
    net.tap = (d) => {
      if (first) return ((first = false), d.data);
      return net.now < 2500 ? null : d.data;
    };
    const legit = clientsAt(net, '10.0.1.1', 1);
    expect(net.run(() => legit.open.size === 1)).to.equal(true);
    expect(net.now).to.be.greaterThan(2500);
    expect(server.endpoint.stats).to.include({ halfOpenStalled: 0, halfOpenExpired: 0 });
    expect(server.endpoint.size).to.equal(1);
  });

  it('1,000 garbage Initials make no connection, are counted, and switch Retry on', () => {
    const ep = newServer();
    const kinds = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      // From 1,000 hosts in 250 networks, 1 ms apart: no per-source limit is involved.
      const src = at(`10.${1 + (i % 250)}.${i % 4}.1`, 40_000 + i);
      const r = ep.receive(fakeInitial(), src, i);
      const k = r.kind === 'respond' ? r.reason : r.kind;
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    expect(ep.size).to.equal(0);
    const s = ep.stats;
    expect(s.accepted).to.equal(0);
    // Undecryptable until their decaying count reached retryThreshold (64), Retry after that.
    expect(s.initialsUndecryptable).to.be.at.least(64);
    expect(s.retry).to.be.greaterThan(0);
    expect(s.initialsUndecryptable + s.retry).to.equal(1000);
    expect(Object.fromEntries(kinds)).to.deep.equal({
      dropped: s.initialsUndecryptable,
      retry: s.retry,
    });
  });

  it('garbage Initials count toward Retry, and their load decays', () => {
    const ep = newServer({ retryThreshold: 8 });
    /** A real client's first datagram (its Initial decrypts). */
    const hello = (): Buffer => {
      const c = Connection.connect(clientConfig(), at('10.0.1.1'), 0);
      return Buffer.from(c.send(0)[0]!.data);
    };
    for (let i = 0; i < 8; i++) ep.receive(fakeInitial(), at(`10.0.8.${i}`), 0);
    expect(ep.stats).to.include({ initialsUndecryptable: 8, retry: 0 });
    // Load 8 (no handshake in progress): a client is asked to prove its address.
    const r = ep.receive(hello(), at('10.0.1.1'), 0);
    expect(r.kind === 'respond' && r.reason).to.equal('retry');
    expect(ep.size).to.equal(0);
    // Two seconds later the load has decayed to about 8 / e^2: accepted without Retry.
    expect(ep.receive(hello(), at('10.0.1.2'), 2000).kind).to.equal('new');
    expect(ep.stats).to.include({ retry: 1, accepted: 1 });
  });

  it('with Retry out of reach, every garbage Initial is dropped before any state is made', () => {
    const ep = newServer({ retryThreshold: 2 ** 31 });
    for (let i = 0; i < 1000; i++) ep.receive(fakeInitial(), at('10.0.7.1', 1000 + i), i);
    expect(ep.size).to.equal(0);
    expect(ep.stats).to.include({ initialsUndecryptable: 1000, dropped: 1000, accepted: 0 });
  });

  it('an authentic Initial whose frames the connection refuses leaves no state and counts', () => {
    const ep = newServer();
    const dcid = randomBytes(8);
    const d = forgePacket({
      type: 'initial',
      secret: initialSecrets(QUIC_V1, dcid).client,
      dcid,
      scid: randomBytes(8),
      packetNumber: 0,
      // §12.4: STREAM is not allowed in an Initial packet.
      frames: [
        { type: 'stream', streamId: 0, offset: 0, data: Buffer.alloc(10), fin: false },
        { type: 'padding', length: 1200 },
      ],
    });
    expect(d.length).to.be.at.least(1200);
    const r = ep.receive(d, at('10.0.6.1'), 0);
    expect(r.kind).to.equal('dropped');
    expect(ep.size).to.equal(0);
    expect(ep.stats).to.include({ initialsRejected: 1, initialsUndecryptable: 0, accepted: 0 });
  });

  it('limit options are checked (RangeError naming the option)', () => {
    for (const [name, bad] of [
      ['maxHandshakesPerAddress', 0],
      ['maxHandshakesPerPrefix', 1.5],
      ['halfOpenTimeout', -1],
      ['halfOpenTimeout', Infinity],
      ['retryThreshold', NaN],
      ['windowPool', 0.5],
    ] as const)
      expect(() => newServer({ [name]: bad }), name).to.throw(RangeError, name);
  });
});
