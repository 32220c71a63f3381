/**
 * The sans-IO Endpoint (lib/quic/endpoint.ts) in memory: routing many connections by CID, the
 * accept policy (Retry forced and under load, Version Negotiation, the connection limit, state
 * only for an Initial that decrypts), Stateless Reset both ways, and a run replayed from a seed.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';

import type { Address, Connection } from '../lib/quic/connection.js';
import { Endpoint, type EndpointConfig } from '../lib/quic/endpoint.js';
import { QUIC_V1, parseHeader, writeLongHeader } from '../lib/quic/header.js';
import { EndpointNet, echo, readEcho, type Node } from './support/endpoint-net.js';
import { SERVER_ADDR, clientConfig, serverConfig, withoutRole } from './support/link.js';
import { seededRandom } from './support/seeded-random.js';
import { serverCreds } from './support/tls-pair.js';

const clientAddr = (i: number): Address => ({
  address: `10.0.1.${1 + (i % 200)}`,
  port: 50_000 + i,
  family: 'IPv4',
});

function server(net: EndpointNet, config: Partial<EndpointConfig> = {}): Node {
  const node = net.add(
    'server',
    SERVER_ADDR,
    new Endpoint({ server: () => withoutRole(serverConfig()), ...config }),
  );
  echo(node);
  return node;
}

interface Client {
  conn: Connection;
  /** The handshake completed. */
  open: boolean;
  echoed: Buffer[];
  /** The echo's FIN arrived. */
  done: boolean;
  /** Why the connection closed (its 'closed' event), once it did. */
  closed?: string;
}

/** A client node whose connections send `payload(i)` on a stream once the handshake is done. */
function clients(
  net: EndpointNet,
  name: string,
  address: Address,
  endpoint: Endpoint,
  n: number,
  payload: (i: number) => Buffer,
): Client[] {
  const node = net.add(name, address, endpoint);
  const all: Client[] = [];
  const byConn = new Map<Connection, Client>();
  for (let i = 0; i < n; i++) {
    const conn = net.connect(node, withoutRole(clientConfig()), SERVER_ADDR);
    const c: Client = { conn, open: false, echoed: [], done: false };
    all.push(c);
    byConn.set(conn, c);
  }
  node.onEvent = (conn, ev) => {
    const c = byConn.get(conn)!;
    if (ev.type === 'handshake-complete') {
      c.open = true;
      const id = conn.openStream(true)!;
      conn.write(id, payload(all.indexOf(c)), true);
    } else if (ev.type === 'closed') {
      c.closed = ev.error?.reason ?? '';
    } else if (ev.type === 'readable') {
      readEcho(conn, ev.streamId, c);
    }
  };
  return all;
}

/** One client endpoint per client (own address), one connection each. */
function clientNodes(net: EndpointNet, n: number, random?: (i: number) => Endpoint): Client[] {
  const out: Client[] = [];
  for (let i = 0; i < n; i++) {
    const ep = random ? random(i) : new Endpoint();
    out.push(...clients(net, `client${i}`, clientAddr(i), ep, 1, () => Buffer.from(`hi ${i}`)));
  }
  return out;
}

const body = (i: number): Buffer => Buffer.alloc(3000 + 97 * i, i);

describe('quic/endpoint (sans-IO, in memory)', () => {
  it('takes a whole read at once: datagrams of one connection go to it together', () => {
    const net = new EndpointNet();
    net.batch = true;
    const srv = server(net);
    const all = clientNodes(net, 12);
    expect(net.run(() => all.every((c) => c.done))).to.equal(true);
    all.forEach((c, i) => expect(Buffer.concat(c.echoed).toString()).to.equal(`hi ${i}`));
    expect(srv.endpoint.stats).to.include({ accepted: 12, dropped: 0 });
    // Twelve clients start at once: their first Initials share one read; each makes a new
    // connection, and later reads are routed once per connection, not once per datagram.
    expect(net.batchSizes).to.include(12);
    const routed = srv.received.filter((r) => r.kind === 'routed').length;
    const datagrams = net.batchSizes.reduce((a, b) => a + b, 0);
    expect(routed + 12).to.be.lessThan(datagrams);
  });

  it('receiveBatch() checks its arguments', () => {
    const ep = new Endpoint();
    const d = Buffer.alloc(30);
    const a = clientAddr(0);
    const each = (): void => {};
    expect(() => ep.receiveBatch([d], [], [0], 0, each)).to.throw(TypeError);
    expect(() => ep.receiveBatch([d], [a], [], 0, each)).to.throw(TypeError);
    expect(() => ep.receiveBatch(['x' as never], [a], [0], 0, each)).to.throw(TypeError);
    expect(() => ep.receiveBatch([d], [{} as Address], [0], 0, each)).to.throw(TypeError);
    const got: string[] = [];
    ep.receiveBatch([d, Buffer.alloc(0)], [a, a], [0, 3], 0, (r) => got.push(r.kind));
    expect(got).to.deep.equal(['dropped', 'dropped']);
  });

  it('20 concurrent connections on one client endpoint handshake and echo stream data', () => {
    const net = new EndpointNet();
    const srv = server(net);
    const cl = new Endpoint();
    const all = clients(net, 'client', clientAddr(0), cl, 20, body);
    expect(cl.size).to.equal(20);
    expect(net.run(() => all.every((c) => c.done))).to.equal(true);
    all.forEach((c, i) => expect(Buffer.concat(c.echoed).equals(body(i))).to.equal(true));
    expect(srv.endpoint.stats).to.include({ accepted: 20, retry: 0, dropped: 0 });
    expect(srv.endpoint.size).to.equal(20);
    // Every datagram reached a connection (no stateless work, nothing unroutable).
    for (const r of srv.received) expect(r.kind).to.be.oneOf(['new', 'routed']);
    // Closed connections are forgotten, their CIDs route nowhere.
    for (const c of all) c.conn.close(0, '', true, net.now);
    expect(net.run(() => cl.size === 0 && srv.endpoint.size === 0)).to.equal(true);
    const stale = Buffer.concat([
      Buffer.from([0x40]),
      all[0]!.conn.localConnectionIds()[0]!,
      randomBytes(40),
    ]);
    expect(cl.receive(stale, SERVER_ADDR, net.now).kind).to.equal('dropped');
  });

  it('forced Retry: the handshake completes after address validation', () => {
    const net = new EndpointNet();
    const srv = server(net, { retry: true });
    const [c] = clientNodes(net, 1);
    expect(net.run(() => c!.done)).to.equal(true);
    expect(srv.endpoint.stats.retry).to.be.at.least(1);
    expect(srv.endpoint.stats.accepted).to.equal(1);
    for (const r of srv.received) {
      if (r.kind !== 'respond') continue;
      expect(r.reason).to.equal('retry');
      expect(parseHeader(r.datagram, 0, r.datagram.length, 8).type).to.equal('retry');
    }
  });

  it('Retry under handshake load (retryThreshold), and none once the handshakes are done', () => {
    const net = new EndpointNet();
    const srv = server(net, { retryThreshold: 2 });
    const all = clientNodes(net, 5);
    expect(net.run(() => all.every((c) => c.done))).to.equal(true);
    expect(srv.endpoint.stats.accepted).to.equal(5);
    // The first two clients' Initials arrived while fewer than 2 handshakes were in progress.
    const retried = new Set<number>();
    for (const r of srv.received)
      if (r.kind === 'respond' && r.reason === 'retry') retried.add(r.remote.port);
    expect([...retried].sort((a, b) => a - b)).to.deep.equal(
      [2, 3, 4].map((i) => clientAddr(i).port),
    );
    // The load is gone: a sixth client is accepted without Retry.
    const before = srv.endpoint.stats.retry;
    const [late] = clients(net, 'late', clientAddr(5), new Endpoint(), 1, () => Buffer.from('x'));
    expect(net.run(() => late!.done)).to.equal(true);
    expect(srv.endpoint.stats.retry).to.equal(before);
  });

  it('Version Negotiation for an unknown version, never for a short datagram', () => {
    const ep = new Endpoint({ server: () => withoutRole(serverConfig()) });
    const dcid = randomBytes(8);
    const scid = randomBytes(5);
    const vn = Buffer.alloc(1200);
    writeLongHeader(vn, 0, 'initial', QUIC_V1, dcid, scid, new Uint8Array(0), 0, 1, 1000);
    vn.writeUInt32BE(0x0a0a0a0a, 1);
    const r = ep.receive(Buffer.from(vn), clientAddr(0), 0);
    expect(r.kind).to.equal('respond');
    if (r.kind !== 'respond') return;
    expect(r.reason).to.equal('version-negotiation');
    const h = parseHeader(r.datagram, 0, r.datagram.length, 8);
    expect(h.supportedVersions).to.include(QUIC_V1);
    expect(Buffer.from(h.dcid).equals(scid)).to.equal(true);
    expect(Buffer.from(h.scid).equals(dcid)).to.equal(true);
    expect(ep.receive(vn.subarray(0, 1199), clientAddr(0), 0).kind).to.equal('dropped');
    expect(ep.stats['version-negotiation']).to.equal(1);
    expect(ep.size).to.equal(0);
  });

  it('stateless reset: a restarted server resets the client, whose connection closes', () => {
    const net = new EndpointNet();
    const resetKey = randomBytes(32);
    const srv = server(net, { stateless: { resetKey } });
    const [c] = clientNodes(net, 1);
    expect(net.run(() => c!.done)).to.equal(true);
    // All server state is lost; a new endpoint with the same key takes the address.
    srv.endpoint = new Endpoint({
      server: () => withoutRole(serverConfig()),
      stateless: { resetKey },
    });
    srv.received.length = 0;
    const id = c!.conn.openStream(true)!;
    c!.conn.write(id, Buffer.from('anyone there?'), true);
    expect(net.run(() => c!.closed !== undefined, 5000)).to.equal(true);
    expect(c!.closed).to.equal('stateless reset');
    expect(srv.endpoint.stats['stateless-reset']).to.be.at.least(1);
    const reset = srv.received.find((r) => r.kind === 'respond');
    expect(reset?.kind === 'respond' && reset.reason).to.equal('stateless-reset');
    // Draining (RFC 9000 §10.3.1): nothing more is sent, and the connection goes away.
    expect(net.run(() => c!.conn.state === 'closed', 5000)).to.equal(true);
  });

  it('a client endpoint probes an unroutable short datagram as a Stateless Reset only from its peer', () => {
    const ep = new Endpoint();
    ep.connect(withoutRole(clientConfig()), SERVER_ADDR, 0);
    const d = Buffer.concat([Buffer.from([0x40]), randomBytes(40)]);
    const r = ep.receive(Buffer.from(d), SERVER_ADDR, 1);
    expect(r.kind).to.equal('probed');
    expect(ep.receive(Buffer.from(d), clientAddr(9), 1).kind).to.equal('dropped');
    expect(ep.receive(d.subarray(0, 20), SERVER_ADDR, 1).kind).to.equal('dropped');
  });

  it("routing follows a connection's 'connection-id' events and ends with remove()", () => {
    const ep = new Endpoint();
    const conn = ep.connect(withoutRole(clientConfig()), SERVER_ADDR, 0);
    const short = (cid: Uint8Array) => Buffer.concat([Buffer.from([0x40]), cid, randomBytes(30)]);
    const kind = (cid: Uint8Array) => ep.receive(short(cid), clientAddr(1), 1).kind;
    const [first] = conn.localConnectionIds();
    const next = randomBytes(8);
    expect(kind(first!)).to.equal('routed');
    expect(kind(next)).to.equal('dropped');
    ep.event(conn, { type: 'connection-id', action: 'add', cid: next });
    expect(kind(next)).to.equal('routed');
    ep.event(conn, { type: 'connection-id', action: 'retire', cid: first! });
    expect(kind(first!)).to.equal('dropped');
    ep.remove(conn);
    expect(kind(next)).to.equal('dropped');
    expect(ep.size).to.equal(0);
  });

  it('connection limit: Initials beyond maxConnections are dropped and make no state', () => {
    const net = new EndpointNet();
    const srv = server(net, { maxConnections: 2 });
    const all = clientNodes(net, 3);
    expect(net.run(() => all[0]!.done && all[1]!.done, 5000)).to.equal(true);
    // The third client keeps retransmitting its Initial; none of them makes a connection.
    expect(net.run(() => all[2]!.open, 3000)).to.equal(false);
    expect(srv.endpoint.size).to.equal(2);
    expect(srv.endpoint.stats.accepted).to.equal(2);
    expect(
      srv.received.some((r) => r.kind === 'dropped' && r.reason === 'connection limit'),
    ).to.equal(true);
  });

  it('a garbage Initial (does not decrypt) creates no state; garbage never throws', () => {
    const ep = new Endpoint({ server: () => withoutRole(serverConfig()) });
    const fake = Buffer.alloc(1200);
    writeLongHeader(
      fake,
      0,
      'initial',
      QUIC_V1,
      randomBytes(8),
      randomBytes(8),
      new Uint8Array(0),
      0,
      1,
      1000,
    );
    randomBytes(1200 - 40).copy(fake, 40);
    const r = ep.receive(fake, clientAddr(0), 0);
    expect(r).to.deep.equal({ kind: 'dropped', reason: 'Initial did not decrypt' });
    for (let i = 0; i < 300; i++) {
      const g = randomBytes(i * 7);
      if (g.length > 0 && i % 2 === 0) g[0]! |= 0x80;
      expect(ep.receive(g, clientAddr(i), i).kind).to.be.oneOf(['dropped', 'respond']);
    }
    expect(ep.size).to.equal(0);
    expect(ep.stats.accepted).to.equal(0);
  });

  it('a run replayed from the same seed repeats every routing decision, CID, token and size', () => {
    const run = (seed: string): string[] => {
      const net = new EndpointNet();
      // Ed25519 signatures (RFC 8032) are deterministic and of one size; ECDSA's vary in length.
      const ed25519 = () =>
        withoutRole(serverConfig({ tls: { alpn: ['echo'], ...serverCreds('ed25519') } }));
      const srv = server(net, {
        server: ed25519,
        retryThreshold: 1,
        random: seededRandom(`${seed}/server`),
      });
      const all = clientNodes(
        net,
        3,
        (i) => new Endpoint({ random: seededRandom(`${seed}/${i}`) }),
      );
      expect(net.run(() => all.every((c) => c.done))).to.equal(true);
      // A short datagram for no connection and an unknown version: answered statelessly.
      net.send(
        clientAddr(7),
        SERVER_ADDR,
        Buffer.concat([Buffer.from([0x41]), Buffer.alloc(50, 7)]),
      );
      const vn = Buffer.alloc(1200);
      writeLongHeader(
        vn,
        0,
        'initial',
        QUIC_V1,
        Buffer.alloc(8, 1),
        Buffer.alloc(8, 2),
        new Uint8Array(0),
        0,
        1,
        1000,
      );
      vn.writeUInt32BE(0x1a2a3a4a, 1);
      net.send(clientAddr(7), SERVER_ADDR, vn);
      for (const c of all) c.conn.close(0, '', true, net.now);
      expect(net.run(() => srv.endpoint.size === 0)).to.equal(true);
      expect(srv.endpoint.stats).to.include({
        accepted: 3,
        'version-negotiation': 1,
        'stateless-reset': 1,
      });
      expect(srv.endpoint.stats.retry).to.be.greaterThan(0);
      return net.trace;
    };
    const a = run('seed-1');
    const b = run('seed-1');
    expect(b).to.deep.equal(a);
    // The trace carries the seeded CIDs and stateless answers: another seed changes it.
    const c = run('seed-2');
    expect(c.length).to.equal(a.length);
    expect(c).to.not.deep.equal(a);
  });

  it('API misuse gives TypeError/RangeError naming the argument', () => {
    expect(() => new Endpoint(null as never)).to.throw(TypeError, /config/);
    expect(() => new Endpoint({ server: 1 as never })).to.throw(TypeError, /server/);
    expect(() => new Endpoint({ maxConnections: -1 })).to.throw(RangeError, /maxConnections/);
    expect(() => new Endpoint({ retryThreshold: 1.5 })).to.throw(RangeError, /retryThreshold/);
    expect(() => new Endpoint({ random: 'x' as never })).to.throw(TypeError, /random/);
    const ep = new Endpoint();
    expect(() => ep.receive('x' as never, SERVER_ADDR, 0)).to.throw(TypeError, /datagram/);
    expect(() => ep.receive(new Uint8Array(1), null as never, 0)).to.throw(TypeError, /remote/);
    expect(() => ep.receive(new Uint8Array(1), { ...SERVER_ADDR, port: -1 }, 0)).to.throw(
      RangeError,
      /remote.port/,
    );
    expect(() => ep.receive(new Uint8Array(1), SERVER_ADDR, NaN)).to.throw(TypeError, /now/);
    expect(() => ep.connect(null as never, SERVER_ADDR, 0)).to.throw(TypeError, /config/);
    expect(() =>
      ep.connect({ ...withoutRole(clientConfig()), random: 1 as never }, SERVER_ADDR, 0),
    ).to.throw(TypeError, /config.random/);
    const server = () => withoutRole(serverConfig());
    expect(() => new Endpoint({ server, stateless: { random: 1 as never } })).to.throw(
      TypeError,
      /random/,
    );
    const short = new Endpoint({ random: (n) => new Uint8Array(n - 1) });
    expect(() => short.connect(withoutRole(clientConfig()), SERVER_ADDR, 0)).to.throw(
      TypeError,
      /random/,
    );
    ep.close();
    expect(() => ep.connect(withoutRole(clientConfig()), SERVER_ADDR, 0)).to.throw(/closing/);
  });
});
