/**
 * Connection handshakes over the simulated link: every group, QUIC v1 and v2, lost and
 * reordered handshake packets, key discard, connection IDs, transport parameters.
 */
import { expect } from 'chai';
import type { GroupName } from '../lib/crypto/groups.js';
import { PacketKey, QUIC_V1, QUIC_V2, initialSecrets } from '../lib/crypto/packet.js';
import { PacketBuilder } from '../lib/quic/builder.js';
import type { Frame } from '../lib/quic/frames.js';
import { encodeVersionNegotiation, parseHeader, splitDatagram } from '../lib/quic/header.js';
import { Connection } from '../lib/quic/connection.js';
import { Link, SERVER_ADDR, clientConfig, serverConfig } from './support/link.js';

function established(l: Link): boolean {
  return l.client.state === 'established' && l.server?.state === 'established';
}

describe('quic connection: handshake', () => {
  const groups: GroupName[] = ['X25519MLKEM768', 'X25519', 'MLKEM768', 'SecP256r1MLKEM768'];
  for (const version of [QUIC_V1, QUIC_V2])
    for (const group of groups)
      it(`${group} over QUIC ${version === QUIC_V1 ? 'v1' : 'v2'}`, () => {
        const c = clientConfig({ version });
        c.tls = { ...c.tls, groups: [group], keyShares: [group] } as typeof c.tls;
        const l = new Link(c, serverConfig());
        expect(l.run(() => established(l), 5000)).to.equal(true);
        const ci = l.client.handshake!;
        const si = l.server!.handshake!;
        expect(ci.group).to.equal(group);
        expect(si.group).to.equal(group);
        expect(ci.alpn).to.equal('echo');
        expect(ci.postQuantum).to.equal(group !== 'X25519');
        expect(l.client.version).to.equal(version);
        expect(l.server!.version).to.equal(version);
        // One round trip (20 ms) for the client, 1.5 for the server; no loss, no PTO.
        expect(l.client.stats.handshakeDurationMs).to.equal(20);
        expect(l.client.stats.packetsLost).to.equal(0);
      });

  it('a post-quantum ClientHello spans several Initial packets, every datagram padded to 1200', () => {
    const sizes: number[] = [];
    const l = new Link(clientConfig(), serverConfig());
    l.tap = (d) => {
      if (d.toServer && !established(l)) sizes.push(d.data.length);
      return d.data;
    };
    expect(l.run(() => established(l), 5000)).to.equal(true);
    // The first flight: ClientHello with a 1216-byte hybrid share needs two Initials.
    expect(sizes.length).to.be.greaterThan(1);
    for (const s of sizes.slice(0, 2)) expect(s).to.be.at.least(1200);
  });

  it('confirms the handshake: HANDSHAKE_DONE, Initial and Handshake keys discarded', () => {
    const l = new Link();
    expect(l.run(() => established(l), 5000)).to.equal(true);
    l.run(() => false, 200);
    // After confirmation nothing is in flight in Initial/Handshake; the connection stays idle.
    expect(l.client.stats.bytesInFlight).to.equal(0);
    expect(l.server!.stats.bytesInFlight).to.equal(0);
    expect(l.client.state).to.equal('established');
    // New connection IDs were issued to each side's routing table (RFC 9000 §5.1.1).
    expect(l.server!.localConnectionIds().length).to.be.greaterThan(1);
    expect(l.client.localConnectionIds().length).to.be.greaterThan(1);
  });

  for (const dropIndex of [0, 1, 2, 3])
    it(`recovers from losing datagram #${dropIndex} of the server's first flight (PTO)`, () => {
      let n = 0;
      const l = new Link();
      l.tap = (d) => (!d.toServer && n++ === dropIndex ? null : d.data);
      expect(l.run(() => established(l), 10_000)).to.equal(true);
    });

  it("recovers from losing the client's second flight (Handshake Finished)", () => {
    let n = 0;
    const l = new Link(clientConfig(), serverConfig(), { delay: 5 });
    // The first flight (2 datagrams) passes, the next two client datagrams are lost.
    l.tap = (d) => (d.toServer && n++ >= 2 && n <= 4 ? null : d.data);
    expect(l.run(() => established(l), 10_000)).to.equal(true);
  });

  for (const seed of [1, 2, 3, 4, 5])
    it(`completes under 20% loss, reordering and duplication (seed ${seed})`, () => {
      const l = new Link(clientConfig(), serverConfig(), {
        seed,
        loss: 0.2,
        jitter: 15,
        duplicate: 0.1,
      });
      expect(l.run(() => established(l), 60_000)).to.equal(true);
    });

  it('the server never sends more than 3x what it received before validation (RFC 9000 §8.1)', () => {
    // Everything the client sends after its first flight is lost: the server stays bound.
    const l = new Link();
    let sent = 0;
    let first = 0;
    l.tap = (d) => {
      if (d.toServer) return first++ < 2 ? d.data : null;
      sent += d.data.length;
      return d.data;
    };
    l.run(() => false, 3000);
    expect(l.server, 'server created').to.not.equal(undefined);
    expect(sent).to.be.greaterThan(0);
    expect(sent).to.be.at.most(3 * l.delivered.server);
    // PTO would have resent more without the limit: the server stopped at the limit.
    expect(sent).to.be.greaterThan(2 * l.delivered.server);
  });

  it('closes with CRYPTO_ERROR when the certificate is not trusted', () => {
    const c = clientConfig();
    c.tls = { ...c.tls, ca: undefined } as typeof c.tls;
    const l = new Link(c, serverConfig());
    l.run(() => l.client.state === 'closed', 10_000);
    const closed = l.events.client.find((e) => e.type === 'closed');
    expect(closed, 'closed event').to.not.equal(undefined);
    const err = (closed as { error: { code: number } }).error;
    // 0x100 + bad_certificate(42) / unknown_ca(48).
    expect(err.code).to.be.within(0x100, 0x1ff);
    const sclosed = l.events.server.find((e) => e.type === 'closed') as
      { error: { code: number; remote: boolean } } | undefined;
    expect(sclosed?.error.code).to.equal(err.code);
    expect(sclosed?.error.remote).to.equal(true);
  });

  it('ALPN mismatch is CRYPTO_ERROR no_application_protocol (0x178)', () => {
    const s = serverConfig();
    s.tls = { ...s.tls, alpn: ['h3'] } as typeof s.tls;
    const l = new Link(clientConfig(), s);
    l.run(() => l.client.state === 'closed', 10_000);
    const closed = l.events.client.find((e) => e.type === 'closed') as
      { error: { code: number } } | undefined;
    expect(closed?.error.code).to.equal(0x178);
  });

  it('compatible version negotiation: a v1 client moves to the v2 the server prefers (RFC 9368)', () => {
    const l = new Link(clientConfig({ version: QUIC_V1 }), serverConfig({ version: QUIC_V2 }));
    const seen = new Set<string>();
    l.tap = (d) => {
      if (d.data[0]! & 0x80) {
        const v = d.data.readUInt32BE(1);
        seen.add(`${d.toServer ? 'c' : 's'}:${v.toString(16)}`);
      }
      return d.data;
    };
    expect(l.run(() => established(l), 5000)).to.equal(true);
    expect(l.client.version).to.equal(QUIC_V2);
    expect(l.server!.version).to.equal(QUIC_V2);
    // The client started in v1; the server answered in v2 only.
    expect([...seen].sort()).to.deep.equal(['c:1', 'c:6b3343cf', 's:6b3343cf']);
  });

  it('compatible version negotiation after an ACK-only Initial in the original version', () => {
    // As ngtcp2 does with a ClientHello spanning two packets: it acknowledges the first one in
    // v1 before it has the whole ClientHello, then answers in v2. A v2 Initial that fails
    // authentication must not move the client.
    const now = 1000;
    const client = Connection.connect(clientConfig({ version: QUIC_V1 }), SERVER_ADDR, now);
    const first = client.send(now).map((d) => Buffer.from(d.data));
    const h = parseHeader(first[0]!, 0, first[0]!.length, 8);
    const serverScid = Buffer.from('5e5e5e5e5e5e5e5e', 'hex');
    const ack = (largest: number): Frame =>
      ({ type: 'ack', largest, ackDelay: 0, ranges: [{ start: 0, end: largest }] }) as Frame;
    const initial = (version: number, keyDcid: Uint8Array, pn: number): Uint8Array => {
      const secret = initialSecrets(version, keyDcid).server;
      const key = PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', secret, version);
      const b = new PacketBuilder(2048, 1);
      b.startDatagram(1500);
      b.startPacket({
        type: 'initial',
        version,
        dcid: h.scid,
        scid: serverScid,
        packetNumber: pn,
        largestAcked: -1,
        keyIndex: 0,
      });
      b.writeFrame(ack(first.length - 1));
      b.finishPacket();
      b.finishDatagram();
      b.protect([key]);
      key.destroy();
      return Buffer.from(b.datagram(0));
    };
    client.receive(initial(QUIC_V1, h.dcid, 0), SERVER_ADDR, now + 1);
    expect(client.version).to.equal(QUIC_V1);
    client.receive(initial(QUIC_V2, Buffer.alloc(8, 9), 1), SERVER_ADDR, now + 2); // forged
    expect(client.version).to.equal(QUIC_V1);
    client.receive(initial(QUIC_V2, h.dcid, 1), SERVER_ADDR, now + 3);
    expect(client.version).to.equal(QUIC_V2);
    expect(client.state).to.equal('handshake');
    client.receive(initial(QUIC_V1, h.dcid, 2), SERVER_ADDR, now + 4); // no way back
    expect(client.version).to.equal(QUIC_V2);
  });

  it('compatible version negotiation the other way: a v2 client moves to v1', () => {
    const l = new Link(clientConfig({ version: QUIC_V2 }), serverConfig({ version: QUIC_V1 }));
    expect(l.run(() => established(l), 5000)).to.equal(true);
    expect(l.client.version).to.equal(QUIC_V1);
    expect(l.server!.version).to.equal(QUIC_V1);
  });

  function forgedVersionNegotiation(versions: number[]): Link {
    const l = new Link();
    let sent = false;
    // Every v1 datagram of the client is answered by (or lost behind) the forged packet.
    l.tap = (d) => {
      if (!d.toServer || d.data.readUInt32BE(1) !== QUIC_V1) return d.data;
      if (!sent) {
        const h = parseHeader(d.data, 0, d.data.length, 8);
        l.inject(false, encodeVersionNegotiation(h.scid, h.dcid, versions));
      }
      sent = true;
      return null;
    };
    l.run(() => l.client.state === 'closed', 10_000);
    return l;
  }

  it('Version Negotiation without a common version ends the attempt (VERSION_NEGOTIATION_ERROR)', () => {
    const l = forgedVersionNegotiation([0x1a2a3a4a]);
    const closed = l.events.client.find((e) => e.type === 'closed') as
      { error: { code: number; kind: string } } | undefined;
    expect(closed?.error).to.include({ code: 0x11, kind: 'version-negotiation' });
  });

  it('a forged Version Negotiation (downgrade to v2) is detected by version_information', () => {
    // The client restarts in v2; the server's parameters show it also speaks v1 (RFC 9368 §4).
    const l = forgedVersionNegotiation([QUIC_V2]);
    const closed = l.events.client.find((e) => e.type === 'closed') as
      { error: { code: number } } | undefined;
    expect(closed?.error.code).to.equal(0x11);
    expect(l.client.version).to.equal(QUIC_V2);
  });

  function clientCloseCode(l: Link): number | undefined {
    l.run(() => l.client.state === 'closed', 10_000);
    const closed = l.events.client.find((e) => e.type === 'closed') as
      { error: { code: number; remote: boolean } } | undefined;
    expect(closed?.error.remote).to.equal(false);
    return closed?.error.code;
  }

  it('the client authenticates the handshake connection IDs (RFC 9000 §7.3)', () => {
    // A server whose original_destination_connection_id is not the client's first DCID.
    const wrongOdcid = new Link();
    wrongOdcid.acceptInfo = { originalDcid: Buffer.alloc(8, 7) };
    expect(clientCloseCode(wrongOdcid)).to.equal(0x0a);
    // retry_source_connection_id although the client saw no Retry.
    const noRetry = new Link();
    noRetry.acceptInfo = { retrySourceCid: Buffer.alloc(8, 9) };
    expect(clientCloseCode(noRetry)).to.equal(0x08);
  });

  it("coalesces the server's Initial and Handshake packets into one datagram (RFC 9000 §12.2)", () => {
    const l = new Link();
    const serverDatagrams: string[][] = [];
    l.tap = (d) => {
      if (!d.toServer) serverDatagrams.push(splitDatagram(d.data, 8).packets.map((p) => p.type));
      return d.data;
    };
    expect(l.run(() => established(l), 5000)).to.equal(true);
    // (The first is an ACK of the first half of the ClientHello; then ServerHello + flight.)
    const coalesced = serverDatagrams.filter((t) => t[0] === 'initial' && t.includes('handshake'));
    expect(coalesced.length).to.be.at.least(1);
  });
});
