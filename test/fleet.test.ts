/**
 * A fleet of servers sharing keys. In memory (two sans-IO endpoints, the "load balancer" being
 * which endpoint takes the server's address): a ticket from A resumes on B (0-RTT stays with A),
 * a Retry token from A is accepted by B, a Stateless Reset from B ends a connection of A.
 * Then for real: nginx's UDP proxy in front of two `zquic server` processes.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';

import { listen, selfSignedCertificate, type ListenOptions } from '../lib/index.js';
import type { Address, Connection, ConnectionConfig } from '../lib/quic/connection.js';
import { Endpoint, type EndpointConfig } from '../lib/quic/endpoint.js';
import { decodeQuicLbCid, quicLbGenerator } from '../lib/quic/quic-lb.js';
import type { StatelessOptions } from '../lib/quic/stateless.js';
import { AntiReplay } from '../lib/tls/anti-replay.js';
import type { HandshakeInfo } from '../lib/tls/engine.js';
import { TicketKeys, type SessionTicket } from '../lib/tls/session-ticket.js';
import { EndpointNet, type Node } from './support/endpoint-net.js';
import { SERVER_ADDR, clientConfig, serverConfig } from './support/link.js';

const clientAddr = (i: number): Address => ({
  address: `10.0.2.${1 + i}`,
  port: 51_000 + i,
  family: 'IPv4',
});

function withoutRole(c: ConnectionConfig): Omit<ConnectionConfig, 'role'> {
  const { role, ...rest } = c;
  void role;
  return rest;
}

/** What the fleet shares: ticket, token and reset keys. */
interface FleetKeys {
  ticket: Uint8Array[];
  token: Uint8Array[];
  reset: Uint8Array;
}

const newKeys = (): FleetKeys => ({
  ticket: [randomBytes(32)],
  token: [randomBytes(32)],
  reset: randomBytes(32),
});

/** One server of the fleet (its own TicketKeys and AntiReplay, as a process has). */
function fleetServer(
  keys: FleetKeys,
  serverId: number,
  extra: Partial<EndpointConfig> = {},
): Endpoint {
  const ticketKeys = TicketKeys.fromSecrets(keys.ticket);
  const antiReplay = new AntiReplay();
  const stateless: StatelessOptions = {
    resetKey: keys.reset,
    tokenKeys: keys.token,
    cidGenerator: quicLbGenerator(
      { serverId: Uint8Array.of(serverId), nonceLength: 6 },
      randomBytes,
    ),
  };
  return new Endpoint({
    server: () =>
      withoutRole(
        serverConfig({
          tls: {
            ...serverConfig().tls,
            ticketKeys,
            earlyData: true,
            antiReplay,
          } as ConnectionConfig['tls'],
        }),
      ),
    stateless,
    ...extra,
  });
}

interface Client {
  conn: Connection;
  info?: HandshakeInfo;
  tickets: SessionTicket[];
  echoed: Buffer[];
  done: boolean;
  closed?: string;
}

/** Echoes every stream back (with its FIN). */
function echo(node: Node): void {
  node.onEvent = (conn, ev) => {
    if (ev.type !== 'readable') return;
    for (;;) {
      const { data, fin } = conn.readChunk(ev.streamId);
      if (data && data.length > 0) conn.write(ev.streamId, Buffer.from(data));
      if (fin) conn.write(ev.streamId, new Uint8Array(0), true);
      if (!data || fin) return;
    }
  };
}

/** A client (own address) sending `payload` on a stream: at once when resuming with 0-RTT,
 * else once the handshake is done. */
function client(net: EndpointNet, i: number, payload: Buffer, session?: SessionTicket): Client {
  const node = net.add(`client${i}`, clientAddr(i), new Endpoint());
  const config = clientConfig();
  if (session) config.tls = { ...config.tls, session, earlyData: true } as ConnectionConfig['tls'];
  const conn = net.connect(node, withoutRole(config), SERVER_ADDR);
  const c: Client = { conn, tickets: [], echoed: [], done: false };
  const send = () => conn.write(conn.openStream(true)!, payload, true);
  if (session) send();
  node.onEvent = (_conn, ev) => {
    if (ev.type === 'handshake-complete') {
      c.info = ev.info;
      if (!session) send();
    } else if (ev.type === 'session-ticket') c.tickets.push(ev.ticket);
    else if (ev.type === 'closed') c.closed = ev.error?.reason ?? '';
    else if (ev.type === 'readable') {
      for (;;) {
        const { data, fin } = conn.readChunk(ev.streamId);
        if (data) c.echoed.push(Buffer.from(data));
        if (fin) c.done = true;
        if (!data || fin) return;
      }
    }
  };
  return c;
}

describe('fleet: servers sharing keys (two endpoints in memory)', () => {
  it('a ticket from A resumes on B without 0-RTT (B did not issue it); on A with 0-RTT', () => {
    const keys = newKeys();
    const net = new EndpointNet();
    const a = fleetServer(keys, 1);
    const b = fleetServer(keys, 2);
    const srv = net.add('server', SERVER_ADDR, a);
    echo(srv);
    const first = client(net, 0, Buffer.from('hello A'));
    expect(net.run(() => first.done && first.tickets.length > 0)).to.equal(true);
    const ticket = first.tickets[0]!;

    // The balancer now sends this client to B: resumption works, 0-RTT is refused (its data
    // is sent again in 1-RTT and still echoed).
    srv.endpoint = b;
    const onB = client(net, 1, Buffer.from('early to B'), ticket);
    expect(net.run(() => onB.done)).to.equal(true);
    expect(onB.info).to.include({ resumed: true, earlyDataAccepted: false });
    expect(Buffer.concat(onB.echoed).toString()).to.equal('early to B');

    // Back on A, the issuer: 0-RTT accepted (once: A's replay memory holds it).
    srv.endpoint = a;
    const again = client(net, 2, Buffer.from('hello A'));
    expect(net.run(() => again.done && again.tickets.length > 0)).to.equal(true);
    const onA = client(net, 3, Buffer.from('early to A'), again.tickets[0]);
    expect(net.run(() => onA.done)).to.equal(true);
    expect(onA.info).to.include({ resumed: true, earlyDataAccepted: true });
    expect(Buffer.concat(onA.echoed).toString()).to.equal('early to A');
  });

  it('ticket key rotation: [new, old] opens tickets of [old]; a server without the key does a full handshake', () => {
    const keys = newKeys();
    const net = new EndpointNet();
    const srv = net.add('server', SERVER_ADDR, fleetServer(keys, 1));
    echo(srv);
    const first = client(net, 0, Buffer.from('x'));
    expect(net.run(() => first.done && first.tickets.length > 0)).to.equal(true);
    const rotated = { ...keys, ticket: [randomBytes(32), keys.ticket[0]!] };
    srv.endpoint = fleetServer(rotated, 2);
    const resumed = client(net, 1, Buffer.from('y'), first.tickets[0]);
    expect(net.run(() => resumed.done)).to.equal(true);
    expect(resumed.info).to.include({ resumed: true });
    srv.endpoint = fleetServer({ ...keys, ticket: [rotated.ticket[0]!] }, 3);
    const full = client(net, 2, Buffer.from('z'), first.tickets[0]);
    expect(net.run(() => full.done)).to.equal(true);
    expect(full.info).to.include({ resumed: false, earlyDataAccepted: false });
    expect(Buffer.concat(full.echoed).toString()).to.equal('z');
  });

  it('a Retry token from A is accepted by B (shared token keys), not by a server without them', () => {
    for (const shared of [true, false]) {
      const keys = newKeys();
      const net = new EndpointNet();
      const a = fleetServer(keys, 1, { retry: true });
      const b = fleetServer(shared ? keys : newKeys(), 2, { retry: true });
      const srv = net.add('server', SERVER_ADDR, a);
      echo(srv);
      const c = client(net, 0, Buffer.from('validated'));
      expect(net.run(() => srv.received.some((r) => r.kind === 'respond'))).to.equal(true);
      // The client's next Initial, with A's token, reaches B.
      srv.endpoint = b;
      srv.received.length = 0;
      net.run(() => c.done, 5000);
      if (shared) {
        expect(c.done).to.equal(true);
        expect(b.stats).to.include({ accepted: 1, retry: 0 });
        // (The post-quantum ClientHello spans two Initial datagrams: each got a Retry.)
        expect(a.stats.accepted).to.equal(0);
        expect(a.stats.retry).to.be.at.least(1);
      } else {
        expect(c.done).to.equal(false);
        expect(b.stats.accepted).to.equal(0);
        const drop = srv.received.find((r) => r.kind === 'dropped');
        expect(drop?.kind === 'dropped' && drop.reason).to.equal('invalid Retry token');
      }
    }
  });

  it('a Stateless Reset from B for a connection of A is recognised by the client', () => {
    const keys = newKeys();
    const net = new EndpointNet();
    const srv = net.add('server', SERVER_ADDR, fleetServer(keys, 1));
    echo(srv);
    const c = client(net, 0, Buffer.from('hi'));
    expect(net.run(() => c.done)).to.equal(true);
    // The client holds A's CIDs, routable to A only (server ID 1)...
    const peerCid = [...srv.endpoint.connections()][0]!.localConnectionIds()[0]!;
    expect(decodeQuicLbCid(peerCid, 1)!.serverId[0]).to.equal(1);
    // ...A is gone and its packets reach B, which knows no such connection.
    const b = fleetServer(keys, 2);
    srv.endpoint = b;
    c.conn.write(c.conn.openStream(true)!, Buffer.from('anyone?'), true);
    expect(net.run(() => c.closed !== undefined, 5000)).to.equal(true);
    expect(c.closed).to.equal('stateless reset');
    expect(b.stats['stateless-reset']).to.be.at.least(1);
  });

  it('shared keys and server IDs of the wrong size or type are refused, naming the option', async () => {
    expect(() => TicketKeys.fromSecrets([randomBytes(16)])).to.throw(RangeError, /secrets\[0\]/);
    expect(() => TicketKeys.fromSecrets([])).to.throw(RangeError, /1\.\.16/);
    expect(() => TicketKeys.fromSecrets('k' as never)).to.throw(TypeError, /array/);
    expect(() => TicketKeys.fromSecrets(['k' as never])).to.throw(TypeError, /secrets\[0\]/);
    const server = () => withoutRole(serverConfig());
    expect(() => new Endpoint({ server, stateless: { tokenKeys: [randomBytes(31)] } })).to.throw(
      RangeError,
      /tokenKeys\[0\]/,
    );
    expect(() => new Endpoint({ server, stateless: { tokenKeys: [] } })).to.throw(RangeError);
    expect(() => new Endpoint({ server, stateless: { tokenKeys: 'x' as never } })).to.throw(
      TypeError,
      /tokenKeys must be an array/,
    );
    const { cert, key } = selfSignedCertificate();
    const bad: [Partial<ListenOptions>, RegExp][] = [
      [{ serverId: new Uint8Array(4) }, /serverId must be 1\.\.3 bytes/],
      [{ serverId: new Uint8Array(0) }, /serverId must be 1\.\.3 bytes/],
      [{ serverId: 'a' as never }, /serverId must be a Uint8Array/],
      [
        { serverId: Uint8Array.of(1), configRotation: 7 },
        /configRotation must be an integer 0\.\.6/,
      ],
      [{ configRotation: 1 }, /configRotation needs serverId/],
      [{ tokenKeys: [randomBytes(8)] }, /tokenKeys\[0\]/],
    ];
    for (const [extra, re] of bad) {
      const err = await listen(() => {}, { certs: cert, keys: key, alpn: 'h3', ...extra }).then(
        (ep) => {
          ep.destroy();
          return undefined;
        },
        (e: Error) => e,
      );
      expect(err, String(re)).to.be.instanceOf(Error);
      expect(err!.message).to.match(re);
    }
  });
});
