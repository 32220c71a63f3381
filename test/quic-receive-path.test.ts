/**
 * The connection's receive and send paths as the endpoint drives them: several datagrams of
 * one buffer in one batch (receiveBatch), the RFC 9000 §12.2 rule for coalesced packets, qlog
 * packet_dropped events, several connections writing into one caller-owned builder
 * (writeDatagrams) protected with one call, and the kinds of close.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { PacketBuilder } from '../lib/quic/builder.js';
import { Connection, type ConnectionEvent, type QlogEvent } from '../lib/quic/connection.js';
import { forgePacket, secretFromKeylog } from './support/forge.js';
import { CLIENT_ADDR, Link, clientConfig, serverConfig } from './support/link.js';

const established = (l: Link) =>
  l.client.state === 'established' && l.server?.state === 'established';

function readAll(c: Connection, id: number): Buffer {
  const parts: Uint8Array[] = [];
  for (let d = c.read(id); d; d = c.read(id)) parts.push(d);
  return Buffer.concat(parts);
}

function closedOf(evs: ConnectionEvent[]) {
  return evs.find((e) => e.type === 'closed') as Extract<ConnectionEvent, { type: 'closed' }>;
}

describe('quic connection: receive and send paths', function () {
  it('datagrams that share one buffer go through one batch, in order; a corrupt one is dropped alone', () => {
    const l = new Link();
    l.run(() => established(l), 5000);
    l.run(() => false, 200);
    const c = l.client;
    const server = l.server!;
    const id = c.openStream(true)!;
    const data = randomBytes(6000);
    expect(c.write(id, data, true)).to.equal(data.length);
    const out = c.send(l.now);
    expect(out.length).to.be.greaterThan(3);
    // The datagrams back to back in one buffer, each a view into it (as a receive slab).
    const slab = Buffer.concat(out.map((d) => d.data));
    const views: Buffer[] = [];
    for (let off = 0, i = 0; i < out.length; off += out[i]!.data.length, i++)
      views.push(slab.subarray(off, off + out[i]!.data.length));
    const lastView = views[views.length - 1]!;
    const spare = Buffer.from(lastView); // the last datagram again, to deliver after the drop
    lastView[lastView.length - 5]! ^= 0xff; // corrupt the last one's tag
    const before = server.stats;
    server.receiveBatch(views, CLIENT_ADDR, l.now);
    const after = server.stats;
    expect(after.packetsReceived - before.packetsReceived).to.equal(out.length - 1);
    expect(after.packetsDropped - before.packetsDropped).to.equal(1);
    server.receive(spare, CLIENT_ADDR, l.now);
    const opened = [];
    for (let ev = server.poll(); ev; ev = server.poll()) opened.push(ev);
    expect(opened).to.deep.include({ type: 'stream-opened', streamId: id });
    expect(readAll(server, id).equals(data)).to.equal(true);
    expect(server.isFinished(id)).to.equal(true);
  });

  it('a coalesced packet with another DCID is dropped (RFC 9000 §12.2), with a qlog packet_dropped event', () => {
    const client = Connection.connect(clientConfig(), { ...CLIENT_ADDR }, 0);
    const [first] = client.send(0);
    // A Handshake packet for another connection appended to the client's first Initial.
    const foreign = forgePacket({
      type: 'handshake',
      secret: randomBytes(32),
      dcid: randomBytes(8),
      scid: randomBytes(8),
      packetNumber: 0,
      frames: [{ type: 'ping' }],
    });
    const datagram = Buffer.concat([first!.data, foreign]);
    const qlog: QlogEvent[] = [];
    const server = Connection.accept(
      { ...serverConfig(), qlog: (e) => qlog.push(e) },
      datagram,
      CLIENT_ADDR,
      0,
    );
    expect(server.stats.packetsReceived).to.equal(1);
    expect(server.stats.packetsDropped).to.equal(1);
    const dropped = qlog.filter((e) => e.name === 'transport:packet_dropped');
    expect(dropped).to.have.length(1);
    expect(dropped[0]!.data).to.deep.include({
      trigger: 'invalid',
      raw: { length: foreign.length },
    });
    expect(String(dropped[0]!.data.details)).to.match(/§12\.2/);
  });

  it('writeDatagrams: two connections fill one caller-owned builder, sealed by one protect()', () => {
    const links = [new Link(), new Link()];
    for (const l of links) {
      l.run(() => established(l), 5000);
      l.run(() => false, 200);
    }
    const payloads = links.map(() => randomBytes(3000));
    const ids = links.map((l, i) => {
      const id = l.client.openStream(true)!;
      l.client.write(id, payloads[i]!, true);
      return id;
    });
    const b = new PacketBuilder(64 * 1024, 128);
    const counts = links.map((l) => l.client.writeDatagrams(b, l.now));
    expect(counts[0]).to.be.greaterThan(0);
    expect(counts[1]).to.be.greaterThan(0);
    expect(b.datagramCount).to.equal(counts[0]! + counts[1]!);
    b.protect();
    links.forEach((l, i) => {
      const from = i === 0 ? 0 : counts[0]!;
      for (let k = from; k < from + counts[i]!; k++)
        l.server!.receive(Buffer.from(b.datagram(k)), CLIENT_ADDR, l.now);
      while (l.server!.poll());
      expect(readAll(l.server!, ids[i]!).equals(payloads[i]!)).to.equal(true);
    });
    // Nothing more is due: an empty write leaves the batch as it is.
    b.reset();
    expect(links[0]!.client.writeDatagrams(b, links[0]!.now)).to.equal(0);
    expect(() => links[0]!.client.writeDatagrams({} as PacketBuilder, 0)).to.throw(TypeError);
  });

  it('closes carry their kind: local on the closing side, peer on the other, error for a violation', () => {
    let l = new Link();
    l.run(() => established(l), 5000);
    l.client.close(0x10, 'done', true, l.now);
    l.run(() => l.client.state === 'closed' && l.server!.state === 'closed', 10_000);
    expect(closedOf(l.events.client).error).to.include({ kind: 'local', code: 0x10 });
    expect(closedOf(l.events.server).error).to.include({ kind: 'peer', code: 0x10 });

    // A client sending HANDSHAKE_DONE (RFC 9000 §19.20): the server finds the violation and
    // closes (PROTOCOL_VIOLATION); the client hears it as the peer's close.
    const keylog: string[] = [];
    const cc = clientConfig();
    cc.tls = { ...cc.tls, keylog: (line: string) => keylog.push(line) };
    l = new Link(cc, serverConfig());
    l.run(() => established(l), 5000);
    const server = l.server!;
    const forged = forgePacket({
      type: '1rtt',
      secret: secretFromKeylog(keylog, 'CLIENT_TRAFFIC_SECRET_0'),
      dcid: server.localConnectionIds()[0]!,
      packetNumber: 1000,
      frames: [{ type: 'handshake_done' }],
    });
    l.inject(true, forged);
    l.run(() => l.client.state === 'closed' && server.state === 'closed', 10_000);
    expect(closedOf(l.events.server).error).to.include({ kind: 'error', code: 0x0a });
    expect(closedOf(l.events.client).error).to.include({ kind: 'peer', code: 0x0a });
  });
});
