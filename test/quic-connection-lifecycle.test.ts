/**
 * Connection lifecycle over the simulated link: close codes and draining, idle timeout,
 * DATAGRAM frames, key update both ways mid-transfer, connection IDs, NAT rebinding, Retry,
 * NEW_TOKEN, qlog and stats.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { QUIC_V1 } from '../lib/crypto/packet.js';
import type { ConnectionEvent, QlogEvent } from '../lib/quic/connection.js';
import { inspect, type PacketReport } from '../lib/tools/inspect.js';
import { encodeRetry, encodeStatelessReset, parseHeader } from '../lib/quic/header.js';
import { Link, clientConfig, serverConfig } from './support/link.js';

type Closed = Extract<ConnectionEvent, { type: 'closed' }>;
const closedOf = (evs: ConnectionEvent[]): Closed | undefined =>
  evs.find((e): e is Closed => e.type === 'closed');

/** A link whose datagrams are recorded, with the client's key log to decrypt them. */
function recordedLink(): {
  l: Link;
  sent: Array<{ toServer: boolean; data: Buffer }>;
  keylog: string[];
} {
  const keylog: string[] = [];
  const cc = clientConfig();
  cc.tls = { ...cc.tls, keylog: (line: string) => keylog.push(line) };
  const l = new Link(cc, serverConfig());
  const sent: Array<{ toServer: boolean; data: Buffer }> = [];
  l.tap = (d) => {
    sent.push({ toServer: d.toServer, data: Buffer.from(d.data) });
    return d.data;
  };
  return { l, sent, keylog };
}

/** Decrypted packets of the datagrams one side sent from index `from` on. */
function packetsOf(
  r: ReturnType<typeof recordedLink>,
  toServer: boolean,
  from: number,
): PacketReport[][] {
  const report = inspect(
    r.sent.map((d) => ({ data: d.data })),
    { keylog: r.keylog.join('\n') + '\n' },
  );
  return report.datagrams
    .filter((_, i) => i >= from && r.sent[i]!.toServer === toServer)
    .map((d) => d.packets.filter((p) => p.decrypted));
}

const closeFrames = (p: PacketReport) =>
  (p.frames ?? []).filter((f) => f.type === 'connection_close');

function established(l: Link): boolean {
  return l.client.state === 'established' && l.server?.state === 'established';
}

/** Streams `size` bytes client -> server while `during(link, receivedSoFar)` runs each step. */
function streamWhile(l: Link, size: number, during: (received: number) => void): string {
  const data = randomBytes(size);
  const h = createHash('sha256');
  let off = 0;
  let received = 0;
  let done = false;
  let sid = -1;
  const push = (): void => {
    while (off < size) {
      const n = l.client.write(
        sid,
        data.subarray(off, Math.min(size, off + 50_000)),
        off + 50_000 >= size,
      );
      if (n === 0) break;
      off += n;
    }
  };
  const prev = l.onEvent;
  l.onEvent = (side, ev, link) => {
    prev?.(side, ev, link);
    if (side === 'client' && ev.type === 'writable') push();
    if (side === 'server' && ev.type === 'readable') {
      for (let d = l.server!.read(ev.streamId); d; d = l.server!.read(ev.streamId)) {
        h.update(d);
        received += d.length;
      }
      if (l.server!.isFinished(ev.streamId)) done = true;
    }
  };
  sid = l.client.openStream(true)!;
  push();
  l.run(() => {
    during(received);
    return done;
  }, 120_000);
  expect(done, 'transfer finished').to.equal(true);
  expect(h.digest('hex')).to.equal(createHash('sha256').update(data).digest('hex'));
  return 'ok';
}

describe('quic connection: lifecycle', function () {
  this.timeout(60_000);

  it('application close: code and reason reach the peer, both sides end after draining', () => {
    const l = new Link();
    l.run(() => established(l), 5000);
    l.client.close(0x42, 'bye', true, l.now);
    expect(l.client.state).to.equal('closing');
    l.run(() => l.client.state === 'closed' && l.server!.state === 'closed', 10_000);
    expect(l.client.state).to.equal('closed');
    expect(l.server!.state).to.equal('closed');
    const c = closedOf(l.events.server)!;
    expect(c.error).to.deep.equal({
      kind: 'peer',
      code: 0x42,
      reason: 'bye',
      application: true,
      remote: true,
    });
    expect(closedOf(l.events.client)!.error!.remote).to.equal(false);
    expect(l.client.nextTimeout()).to.equal(Infinity);
  });

  it('closing before the handshake is confirmed: CONNECTION_CLOSE in every space the peer may read (RFC 9000 §10.2.3)', () => {
    // Server, handshake in progress (Initial, Handshake and 1-RTT keys).
    let r = recordedLink();
    r.l.run(() => r.l.sent.server > 0, 5000);
    let from = r.sent.length;
    r.l.server!.close(0x42, 'secret', true, r.l.now);
    r.l.run(() => r.l.client.state !== 'handshake', 5000);
    let [first] = packetsOf(r, false, from);
    const converted = {
      type: 'connection_close',
      application: false,
      errorCode: 0x0c, // APPLICATION_ERROR, reason cleared
      error: 'APPLICATION_ERROR',
      frameType: 0,
      reason: '',
    };
    const app = { type: 'connection_close', application: true, errorCode: 0x42, reason: 'secret' };
    expect(first!.map((p) => p.type)).to.deep.equal(['initial', 'handshake', '1rtt']);
    expect(first!.map(closeFrames)).to.deep.equal([[converted], [converted], [app]]);
    // The client reads the Initial packet (APPLICATION_ERROR) and, having 1-RTT keys by then,
    // the 1-RTT one of the same datagram too: it reports what the application said.
    expect(closedOf(r.l.events.client)!.error).to.deep.equal({
      kind: 'peer',
      code: 0x42,
      reason: 'secret',
      application: true,
      remote: true,
    });

    // Client, handshake complete but not confirmed (no HANDSHAKE_DONE yet).
    r = recordedLink();
    r.l.onEvent = (side, ev) => {
      if (side === 'client' && ev.type === 'handshake-complete') {
        from = r.sent.length;
        r.l.client.close(0x42, 'secret', true, r.l.now);
      }
    };
    r.l.run(() => r.l.client.state === 'closed' && r.l.server?.state === 'closed', 10_000);
    [first] = packetsOf(r, true, from);
    const byType = new Map(first!.map((p) => [p.type, closeFrames(p)]));
    expect(byType.get('handshake')).to.deep.equal([converted]);
    expect(byType.get('1rtt')).to.deep.equal([app]);
    // The server has no 1-RTT read keys before the client's Finished: APPLICATION_ERROR only.
    expect(closedOf(r.l.events.server)!.error).to.include({ code: 0x0c, application: false });

    // Confirmed: 1-RTT only, with the application's code and reason.
    r = recordedLink();
    r.l.run(() => established(r.l) && r.l.sent.client > 4000, 5000);
    r.l.run(() => false, 200);
    from = r.sent.length;
    r.l.client.close(0x42, 'secret', true, r.l.now);
    r.l.run(() => r.l.server!.state !== 'established', 5000);
    [first] = packetsOf(r, true, from);
    expect(first!.map((p) => [p.type, closeFrames(p)])).to.deep.equal([['1rtt', [app]]]);
    expect(closedOf(r.l.events.server)!.error).to.deep.equal({
      kind: 'peer',
      code: 0x42,
      reason: 'secret',
      application: true,
      remote: true,
    });
  });

  it('closing state: CONNECTION_CLOSE answers incoming packets at a falling rate, for 3xPTO (RFC 9000 §10.2.1)', () => {
    const r = recordedLink();
    r.l.run(() => established(r.l), 5000);
    r.l.run(() => false, 200);
    const fromServer = r.sent.filter((d) => !d.toServer).map((d) => d.data);
    const t0 = r.l.now;
    r.l.client.close(7, 'bye', true, t0);
    const deadline = r.l.client.nextTimeout();
    const srtt = r.l.client.stats.smoothedRtt;
    // PTO = srtt + max(4 rttvar, 1 ms) + max_ack_delay (25 ms).
    expect(deadline - t0).to.be.at.least(3 * (srtt + 1 + 25));
    const before = r.sent.filter((d) => d.toServer).length;
    // 32 datagrams from the peer (replays: the closing client reads no packets any more).
    for (let i = 0; i < 32; i++) {
      r.l.inject(false, fromServer[i % fromServer.length]!);
      r.l.step();
    }
    const answers = r.sent.filter((d) => d.toServer).length - before;
    // The first close, then answers to the 1st, 2nd, 4th, 8th, 16th and 32nd datagram.
    expect(answers).to.equal(1 + 6);
    expect(r.l.client.state).to.equal('closing');
    r.l.run(() => r.l.client.state === 'closed', 10_000);
    expect(r.l.now).to.equal(deadline);
  });

  it('transport close from the server (NO_ERROR) and sending stops in draining', () => {
    const l = new Link();
    l.run(() => established(l), 5000);
    l.server!.close(0, 'shutting down', false, l.now);
    l.run(() => l.client.state === 'draining', 5000);
    expect(l.client.send(l.now)).to.have.length(0);
    const c = closedOf(l.events.client)!;
    expect(c.error).to.deep.equal({
      kind: 'peer',
      code: 0,
      reason: 'shutting down',
      application: false,
      remote: true,
    });
  });

  it('idle timeout closes both sides silently (min of both max_idle_timeout)', () => {
    const l = new Link(clientConfig({ transport: { maxIdleTimeout: 2000 } }), serverConfig());
    // Established, and path MTU discovery (probes after the handshake) at its ceiling.
    l.run(() => established(l) && l.client.maxDatagramSize === 1452, 5000);
    l.run(() => l.server!.maxDatagramSize === 1452, 5000);
    const sentBefore = l.sent.client + l.sent.server;
    l.run(() => l.client.state === 'closed' && l.server!.state === 'closed', 60_000);
    expect(l.client.state).to.equal('closed');
    expect(l.server!.state).to.equal('closed');
    expect(l.now).to.be.within(2000, 3000);
    expect(closedOf(l.events.client)!.error).to.include({ kind: 'idle', reason: 'idle timeout' });
    // Silent: no CONNECTION_CLOSE datagrams (only the trailing ACKs of the handshake).
    expect(l.sent.client + l.sent.server - sentBefore).to.be.below(200);
  });

  it('DATAGRAM frames both ways (RFC 9221); too large or unsupported is refused', () => {
    const l = new Link();
    const got: string[] = [];
    l.onEvent = (side, ev) => {
      if (ev.type === 'datagram') got.push(`${side}:${Buffer.from(ev.data).toString()}`);
    };
    l.run(() => established(l), 5000);
    expect(l.client.sendDatagram(Buffer.from('ping'))).to.equal(true);
    expect(l.server!.sendDatagram(Buffer.from('pong'))).to.equal(true);
    expect(l.client.sendDatagram(Buffer.alloc(5000))).to.equal(false);
    l.run(() => got.length === 2, 1000);
    expect(got.sort()).to.deep.equal(['client:pong', 'server:ping']);

    const off = new Link(clientConfig(), serverConfig({ transport: { maxDatagramFrameSize: 0 } }));
    off.run(() => established(off), 5000);
    expect(off.client.sendDatagram(Buffer.from('x'))).to.equal(false);
  });

  it('key update started by each side mid-transfer (RFC 9001 §6)', () => {
    const l = new Link(clientConfig(), serverConfig(), {
      delay: 5,
      loss: 0.01,
      jitter: 2,
      seed: 4,
    });
    l.run(() => established(l), 5000);
    l.run(() => false, 100);
    let stage = 0;
    streamWhile(l, 3_000_000, (received) => {
      try {
        if (stage === 0 && received > 500_000) {
          l.client.updateKey(l.now);
          stage = 1;
        } else if (stage === 1 && received > 1_500_000) {
          l.server!.updateKey(l.now);
          stage = 2;
        } else if (stage === 2 && received > 2_500_000) {
          l.client.updateKey(l.now);
          stage = 3;
        }
      } catch (e) {
        // The previous update is not acknowledged yet (§6.1): try again on a later step.
        if (!(e instanceof RangeError)) throw e;
      }
    });
    expect(stage).to.equal(3);
    // Each update is followed by the peer (three updates, each counted on both sides).
    expect(l.client.stats.keyUpdates).to.equal(3);
    expect(l.server!.stats.keyUpdates).to.equal(3);
  });

  it('NAT rebinding mid-transfer: the server follows the new address and validates it', () => {
    const l = new Link(clientConfig(), serverConfig(), { delay: 5 });
    const paths: string[] = [];
    l.onEvent = (side, ev) => {
      if (ev.type === 'path-changed') paths.push(`${side}:${ev.remote.port}`);
    };
    l.run(() => established(l), 5000);
    let moved = false;
    streamWhile(l, 2_000_000, (received) => {
      if (!moved && received > 700_000) {
        l.clientAddr = { address: '10.0.0.1', port: 40001, family: 'IPv4' };
        moved = true;
      }
    });
    expect(paths).to.deep.equal(['server:40001']);
    expect(l.server!.remoteAddress.port).to.equal(40001);
  });

  it('NAT rebinding before the client is confirmed: its Handshake probe brings a 1-RTT one along', () => {
    // The NAT forgets the client's mapping just as the server completes: HANDSHAKE_DONE and
    // every ACK go to the old port, lost. The client's Finished is unacknowledged and its
    // Handshake PTO probes reach a server that has discarded Handshake keys; only a 1-RTT
    // packet from the new port lets the server follow (RFC 9000 §9.3). RFC 9002 §6.2.4: a PTO
    // also sends ack-eliciting packets in other spaces with data in flight.
    const l = new Link(clientConfig(), serverConfig(), { delay: 5 });
    const oldPort = l.clientAddr.port;
    const paths: string[] = [];
    let sid = -1;
    const got: Buffer[] = [];
    l.onEvent = (side, ev) => {
      if (ev.type === 'path-changed') paths.push(`${side}:${ev.remote.port}`);
      if (side === 'client' && ev.type === 'handshake-complete') {
        sid = l.client.openStream(true)!;
        l.client.write(sid, Buffer.from('hello'), false);
      }
      if (side === 'server' && ev.type === 'readable')
        for (let c; (c = l.server!.read(ev.streamId));) got.push(Buffer.from(c));
    };
    l.tap = (d) => {
      if (l.server?.state === 'established' && l.clientAddr.port === oldPort)
        l.clientAddr = { address: '10.0.0.1', port: 40001, family: 'IPv4' };
      const lost =
        !d.toServer && l.clientAddr.port !== oldPort && l.server!.remoteAddress.port === oldPort;
      return lost ? null : d.data;
    };
    l.run(() => l.server?.remoteAddress.port === 40001, 5000);
    expect(paths).to.deep.equal(['server:40001']);
    l.client.write(sid, Buffer.from(' world'), true);
    l.run(() => Buffer.concat(got).toString() === 'hello world', 5000);
    expect(Buffer.concat(got).toString()).to.equal('hello world');
  });

  it('connection IDs: each side issues NEW_CONNECTION_IDs up to the limit', () => {
    const l = new Link();
    const added = { client: 0, server: 0 };
    l.onEvent = (side, ev) => {
      if (ev.type === 'connection-id' && ev.action === 'add') added[side]++;
    };
    l.run(() => established(l), 5000);
    l.run(() => false, 100);
    // active_connection_id_limit 4 (our default): 3 more than the handshake CID.
    expect(added).to.deep.equal({ client: 3, server: 3 });
    expect(l.client.localConnectionIds()).to.have.length(4);
  });

  it('Retry: the client verifies it, uses the token and new keys, checks the transport parameters', () => {
    const l = new Link();
    const retryScid = randomBytes(8);
    const token = randomBytes(32);
    let retried = false;
    let odcid: Uint8Array | undefined;
    let tokenSeen: Buffer | undefined;
    l.tap = (d) => {
      if (!d.toServer) return d.data;
      const h = parseHeader(d.data, 0, d.data.length, 8);
      if (h.type !== 'initial') return d.data;
      if (!retried) {
        retried = true;
        odcid = Buffer.from(h.dcid);
        l.acceptInfo = { originalDcid: odcid, retrySourceCid: retryScid, addressValidated: true };
        l.inject(false, encodeRetry(QUIC_V1, h.scid, retryScid, token, h.dcid));
        return null;
      }
      if (!odcid || Buffer.from(h.dcid).equals(odcid)) return null; // rest of the first flight
      tokenSeen ??= Buffer.from(h.token);
      return d.data;
    };
    expect(l.run(() => established(l), 5000)).to.equal(true);
    expect(tokenSeen).to.deep.equal(token);
  });

  it('a Retry with a bad integrity tag is ignored', () => {
    const l = new Link();
    let done = false;
    l.tap = (d) => {
      if (d.toServer && !done) {
        done = true;
        const h = parseHeader(d.data, 0, d.data.length, 8);
        const r = encodeRetry(QUIC_V1, h.scid, randomBytes(8), randomBytes(16), h.dcid);
        r[r.length - 1] ^= 1;
        l.inject(false, r);
      }
      return d.data;
    };
    expect(l.run(() => established(l), 5000)).to.equal(true);
  });

  it('NEW_TOKEN: the server issues one from its callback, the client reports it', () => {
    const tok = Buffer.from('token-for-next-time');
    const l = new Link(clientConfig(), serverConfig({ newToken: () => tok }));
    l.run(() => l.events.client.some((e) => e.type === 'new-token'), 5000);
    const ev = l.events.client.find((e) => e.type === 'new-token') as { token: Uint8Array };
    expect(Buffer.from(ev.token)).to.deep.equal(tok);
  });

  it('qlog events and stats', () => {
    const events: QlogEvent[] = [];
    const l = new Link(clientConfig({ qlog: (e) => events.push(e) }), serverConfig());
    l.run(() => established(l), 5000);
    l.client.close(0, '', true, l.now);
    l.run(() => l.client.state === 'closed', 5000);
    const names = new Set(events.map((e) => e.name));
    for (const n of [
      'transport:connection_started',
      'transport:packet_sent',
      'transport:packet_received',
      'recovery:metrics_updated',
      'transport:connection_closed',
    ])
      expect(names.has(n), n).to.equal(true);
    const s = l.client.stats;
    expect(s.handshakeDurationMs).to.equal(20);
    expect(s.packetsSent).to.be.greaterThan(2);
    expect(s.bytesSent).to.be.greaterThan(2400);
    expect(s.smoothedRtt).to.be.within(19, 21);
  });

  it('a Stateless Reset with the token the server gave ends the client (RFC 9000 §10.3)', () => {
    const token = randomBytes(16);
    const l = new Link(clientConfig(), serverConfig({ statelessResetToken: () => token }));
    l.run(() => established(l), 5000);
    // A reset with another token is just an undecryptable datagram.
    l.inject(false, encodeStatelessReset(randomBytes(16), 43));
    l.run(() => false, 50);
    expect(l.client.state).to.equal('established');
    l.inject(false, encodeStatelessReset(token, 43));
    l.run(() => l.client.state !== 'established', 100);
    expect(l.client.state).to.equal('draining');
    expect(closedOf(l.events.client)!.error).to.include({
      kind: 'stateless-reset',
      reason: 'stateless reset',
    });
  });
});
