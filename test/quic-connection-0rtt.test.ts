/**
 * Resumption with 0-RTT over the simulated link (RFC 9001 §4.6): application data in 0-RTT
 * packets when the server accepts, resent as 1-RTT when it refuses.
 */
import { expect } from 'chai';
import { AntiReplay } from '../lib/tls/anti-replay.js';
import { TicketKeys, type SessionTicket } from '../lib/tls/session-ticket.js';
import type { ConnectionConfig, QlogEvent } from '../lib/quic/connection.js';
import { splitDatagram } from '../lib/quic/header.js';
import { Link, WALL_CLOCK, clientConfig, serverConfig } from './support/link.js';

const zeroRttSent = (qlog: QlogEvent[]): number =>
  qlog.filter(
    (e) =>
      e.name === 'transport:packet_sent' &&
      (e.data.header as { packet_type: string }).packet_type === '0RTT',
  ).length;

function established(l: Link): boolean {
  return l.client.state === 'established' && l.server?.state === 'established';
}

describe('quic connection: resumption and 0-RTT', () => {
  const ticketKeys = new TicketKeys();
  const antiReplay = new AntiReplay();
  // The resumed connection starts one second (wall clock) after the first one.
  const server = (earlyData: boolean, later = 0): ConnectionConfig =>
    serverConfig({
      tls: { ...serverConfig().tls, ticketKeys, earlyData, antiReplay } as ConnectionConfig['tls'],
      wallClockOffset: WALL_CLOCK + later,
    });

  function ticket(): SessionTicket {
    const l = new Link(clientConfig(), server(true));
    l.run(() => l.events.client.some((e) => e.type === 'session-ticket'), 5000);
    const ev = l.events.client.find((e) => e.type === 'session-ticket');
    expect(ev, 'session ticket').to.not.equal(undefined);
    return (ev as { ticket: SessionTicket }).ticket;
  }

  /** A client resuming with 0-RTT, one second (wall clock) after its ticket was issued. */
  function resumedLink(earlyData = true, qlog?: (e: QlogEvent) => void): Link {
    const c = clientConfig({ qlog, wallClockOffset: WALL_CLOCK + 1000 });
    c.tls = { ...c.tls, session: ticket(), earlyData: true } as ConnectionConfig['tls'];
    return new Link(c, server(earlyData, 1000));
  }

  /** Resumes with 0-RTT: the client writes a request before the handshake completes. */
  function resume(
    earlyData: boolean,
    dropClientFinished = false,
    request = Buffer.from('GET /early\n'),
  ) {
    const qlog: QlogEvent[] = [];
    const l = resumedLink(earlyData, (e) => qlog.push(e));
    let dropped = false;
    if (dropClientFinished) {
      // Lose the first client datagram carrying a Handshake packet (its Finished).
      l.tap = (d) => {
        const handshake = splitDatagram(d.data, 8).packets.some((p) => p.type === 'handshake');
        if (d.toServer && handshake && !dropped) {
          dropped = true;
          return null;
        }
        return d.data;
      };
    }
    const sid = l.client.openStream(true);
    expect(sid, '0-RTT stream').to.equal(0);
    expect(l.client.write(sid!, request, true)).to.equal(request.length);
    const got: Buffer[] = [];
    let serverDoneBeforeHandshake = false;
    l.onEvent = (side, ev) => {
      if (side === 'server' && ev.type === 'readable') {
        for (let d = l.server!.read(ev.streamId); d; d = l.server!.read(ev.streamId))
          got.push(Buffer.from(d));
        if (l.server!.isFinished(ev.streamId) && l.server!.handshake === undefined)
          serverDoneBeforeHandshake = true;
      }
    };
    l.run(() => established(l) && Buffer.concat(got).equals(request), 5000);
    return { l, got: Buffer.concat(got), qlog, serverDoneBeforeHandshake, request, dropped };
  }

  it('accepted: the request arrives in 0-RTT, before the server completes the handshake', () => {
    const r = resume(true);
    expect(r.got).to.deep.equal(r.request);
    expect(r.l.client.handshake!.resumed).to.equal(true);
    expect(r.l.client.handshake!.earlyDataAccepted).to.equal(true);
    expect(r.serverDoneBeforeHandshake).to.equal(true);
    expect(zeroRttSent(r.qlog)).to.be.greaterThan(0);
  });

  it('accepted: a request spanning several 0-RTT packets arrives whole, none dropped', () => {
    const r = resume(true, false, Buffer.alloc(5000, 0x61));
    expect(r.got).to.deep.equal(r.request);
    expect(r.serverDoneBeforeHandshake).to.equal(true);
    expect(zeroRttSent(r.qlog)).to.be.greaterThan(3);
    expect(r.l.server!.stats.packetsDropped).to.equal(0);
    expect(r.l.client.stats.packetsLost).to.equal(0);
  });

  it('refused: the 0-RTT data is resent as 1-RTT and arrives intact', () => {
    const r = resume(false);
    expect(r.got).to.deep.equal(r.request);
    expect(r.l.client.handshake!.resumed).to.equal(true);
    expect(r.l.client.handshake!.earlyDataAccepted).to.equal(false);
    expect(r.serverDoneBeforeHandshake).to.equal(false);
    expect(zeroRttSent(r.qlog)).to.be.greaterThan(0);
    // The server dropped the 0-RTT packets it could not read.
    expect(r.l.server!.stats.packetsDropped).to.be.greaterThan(0);
  });

  it("accepted 0-RTT, the client's Finished lost: the handshake still completes", () => {
    const r = resume(true, true);
    expect(r.dropped).to.equal(true);
    expect(r.got).to.deep.equal(r.request);
    expect(r.l.server!.state).to.equal('established');
    expect(r.l.client.handshake!.earlyDataAccepted).to.equal(true);
  });

  it("the server's ServerHello lost while 0.5-RTT data fills its window: the probe resends it", () => {
    // The lost Initial CRYPTO data must not wait behind a congestion window full of 1-RTT data
    // the client cannot read yet (no PTO is armed for it): Initial and Handshake packets do not
    // wait for the window.
    const l = resumedLink();
    let dropped = false;
    l.tap = (d) => {
      const packets = splitDatagram(d.data, 8).packets;
      if (!d.toServer && !dropped && packets.some((p) => p.type === 'initial')) {
        dropped = true; // the server's first Initial: the start of its ServerHello
        return null;
      }
      return d.data;
    };
    const sid = l.client.openStream(true)!;
    l.client.write(sid, Buffer.from('GET /big\n'), true);
    const reply = Buffer.alloc(400_000, 0x62);
    let answered = false;
    l.onEvent = (side, ev) => {
      if (side !== 'server' || ev.type !== 'readable' || answered) return;
      while (l.server!.read(ev.streamId));
      answered = true; // answered in 0.5-RTT, before the handshake completes
      l.server!.write(ev.streamId, reply, true);
    };
    expect(
      l.run(() => established(l), 5000),
      'handshake completes',
    ).to.equal(true);
    expect(dropped).to.equal(true);
    expect(answered).to.equal(true);
  });

  it("the client's first Initial lost behind a window of 0-RTT data: it is sent again", () => {
    // The lost part of the ClientHello must not wait behind 0-RTT packets the server cannot
    // acknowledge before it has the whole ClientHello.
    const l = resumedLink();
    let dropped = false;
    l.tap = (d) => {
      if (d.toServer && !dropped) {
        dropped = true; // the client's first datagram: the start of its ClientHello
        return null;
      }
      return d.data;
    };
    const sid = l.client.openStream(true)!;
    const request = Buffer.alloc(30_000, 0x61); // more 0-RTT than the initial window holds
    expect(l.client.write(sid, request, true)).to.equal(request.length);
    expect(
      l.run(() => established(l), 5000),
      'handshake completes',
    ).to.equal(true);
    expect(dropped).to.equal(true);
  });

  it('a server bound by the amplification limit with 0-RTT to acknowledge waits quietly', () => {
    const l = resumedLink();
    l.client.write(l.client.openStream(true)!, Buffer.alloc(3000, 1), true);
    // Only the client's first three datagrams (ClientHello + 0-RTT) ever arrive.
    let n = 0;
    let serverBytes = 0;
    l.tap = (d) => {
      if (!d.toServer) serverBytes += d.data.length;
      return !d.toServer || n++ < 3 ? d.data : null;
    };
    // The link throws if a connection's timer stays due without progress (a spin).
    l.run(() => false, 5000);
    expect(l.server!.state).to.equal('handshake');
    expect(serverBytes).to.be.at.most(3 * l.delivered.server);
  });
  it('a client lets its TLS engine go after a ticket: later tickets are skipped, other messages refused', () => {
    const cfg = serverConfig({
      tls: { ...serverConfig().tls, ticketKeys, ticketCount: 2 } as ConnectionConfig['tls'],
    });
    const l = new Link(clientConfig(), cfg);
    l.run(() => established(l), 5000);
    l.run(() => false, 500);
    expect(l.events.client.filter((e) => e.type === 'session-ticket')).to.have.length(2);
    expect(l.client.tlsEngineHeld).to.equal(false);
    // More post-handshake CRYPTO data from the server (written into its 1-RTT CRYPTO stream).
    // (Asked for at each write: a drained CRYPTO stream lets its buffer go.)
    const serverCrypto = () => l.server!.appCryptoSend;
    // A NewSessionTicket (its body is not even looked at), split across packets by the server.
    const ticketMsg = Buffer.concat([Buffer.from([4, 0, 0x0b, 0xb8]), Buffer.alloc(3000, 7)]);
    serverCrypto().write(ticketMsg);
    let echoed = '';
    l.onEvent = (side, ev) => {
      if (ev.type !== 'readable') return;
      const c = l.conn(side);
      for (let r = c.readChunk(ev.streamId); r.data; r = c.readChunk(ev.streamId))
        if (side === 'server') c.write(ev.streamId, Buffer.from(r.data), true);
        else echoed += Buffer.from(r.data).toString();
    };
    const id = l.client.openStream(true)!;
    l.client.write(id, Buffer.from('still here'), true);
    l.run(() => echoed === 'still here', 5000);
    l.run(() => false, 500);
    expect(l.client.state).to.equal('established');
    expect(l.events.client.filter((e) => e.type === 'session-ticket')).to.have.length(2);
    // RFC 9001 §4.1.3: anything but NewSessionTicket after the handshake is unexpected_message.
    serverCrypto().write(Buffer.from([20, 0, 0, 0]));
    l.run(() => l.client.state !== 'established', 5000);
    const closed = l.events.client.find((e) => e.type === 'closed') as {
      error: { code: number; remote: boolean };
    };
    expect(closed.error).to.include({ code: 0x10a, remote: false });
  });
});
