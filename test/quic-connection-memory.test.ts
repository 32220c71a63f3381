/**
 * Memory per idle connection: what a connection lets go once its handshake is confirmed (the
 * TLS engine, the Initial and Handshake spaces, the 1-RTT CRYPTO stream's buffers), and that
 * everything it may still need works afterwards: new streams, key updates, a path change,
 * NEW_TOKEN, resumption with the ticket. The building blocks (buffers created again at their
 * offset, shared empty containers) are pinned here too.
 */
import { expect } from 'chai';
import { added, appended, emptyArray, emptyMap, emptySet, withEntry } from '../lib/quic/empty.js';
import { RangeSet } from '../lib/quic/range-set.js';
import { RecvBuffer } from '../lib/quic/recv-buffer.js';
import { SendBuffer } from '../lib/quic/send-buffer.js';
import type { ConnectionConfig, ConnectionEvent } from '../lib/quic/connection.js';
import { TicketKeys, type SessionTicket } from '../lib/tls/session-ticket.js';
import { Link, WALL_CLOCK, clientConfig, serverConfig } from './support/link.js';

const RELEASED = { initialSpace: false, handshakeSpace: false, appCrypto: false };

function established(l: Link): boolean {
  return l.client.state === 'established' && l.server?.state === 'established';
}

/** The server echoes every stream; each side collects what it read per stream. */
function echo(l: Link): { client: Map<number, string>; server: Map<number, string> } {
  const got = { client: new Map<number, string>(), server: new Map<number, string>() };
  l.onEvent = (side, ev) => {
    if (ev.type !== 'readable') return;
    const c = l.conn(side);
    for (let r = c.readChunk(ev.streamId); r.data; r = c.readChunk(ev.streamId)) {
      const text = Buffer.from(r.data).toString();
      got[side].set(ev.streamId, (got[side].get(ev.streamId) ?? '') + text);
      if (side === 'server') c.write(ev.streamId, Buffer.from(r.data), r.fin);
    }
  };
  return got;
}

/** Opens a stream, sends `text` and waits until `side` read it (the echo, for the client). */
function roundTrip(
  l: Link,
  got: { client: Map<number, string>; server: Map<number, string> },
  text: string,
  side: 'client' | 'server' = 'client',
): string | undefined {
  const id = l.client.openStream(true)!;
  l.client.write(id, Buffer.from(text), true);
  l.run(() => got[side].get(id) === text, 5000);
  return got[side].get(id);
}

describe('quic connection: memory per idle connection', () => {
  const ticketKeys = new TicketKeys();
  const token = Buffer.from('next-time');
  const server = (later = 0): ConnectionConfig =>
    serverConfig({
      tls: { ...serverConfig().tls, ticketKeys } as ConnectionConfig['tls'],
      newToken: () => token,
      wallClockOffset: WALL_CLOCK + later,
    });

  /** An established pair left idle long enough for tickets, tokens and their ACKs. */
  function idle(): Link {
    const l = new Link(clientConfig(), server());
    expect(l.run(() => established(l), 5000)).to.equal(true);
    l.run(() => false, 500);
    return l;
  }

  it('once confirmed, both sides let go of the TLS engine, the handshake spaces and the 1-RTT CRYPTO buffers', () => {
    const l = idle();
    for (const c of [l.client, l.server!]) {
      expect(c.tlsEngineHeld).to.equal(false);
      expect(c.handshakeStateHeld).to.deep.equal(RELEASED);
    }
  });

  it('after the release: new streams, a key update both ways, a path change, a NEW_TOKEN and a ticket that resumes', () => {
    const l = idle();
    const events: { client: ConnectionEvent[]; server: ConnectionEvent[] } = l.events;
    const back = echo(l);
    expect(roundTrip(l, back, 'first after release')).to.equal('first after release');

    // RFC 9001 §6: a key update started by the client, later one by the server.
    l.client.updateKey(l.now);
    expect(roundTrip(l, back, 'under the next key')).to.equal('under the next key');
    l.run(() => false, 200);
    l.server!.updateKey(l.now);
    expect(roundTrip(l, back, 'and the one after')).to.equal('and the one after');
    expect(l.client.stats.keyUpdates).to.equal(2);
    expect(l.server!.stats.keyUpdates).to.equal(2);

    // RFC 9000 §9.3: the client's address changes; the server validates the new path.
    l.clientAddr = { address: '10.0.0.1', port: 40002, family: 'IPv4' };
    expect(roundTrip(l, back, 'from a new port', 'server')).to.equal('from a new port');
    l.run(() => false, 200);
    expect(events.server.some((e) => e.type === 'path-changed')).to.equal(true);
    expect(l.server!.remoteAddress.port).to.equal(40002);

    // The NEW_TOKEN and the ticket the client got are the ones to use next time.
    const tok = events.client.find((e) => e.type === 'new-token') as { token: Uint8Array };
    expect(Buffer.from(tok.token)).to.deep.equal(token);
    const ticket = (events.client.find((e) => e.type === 'session-ticket') as {
      ticket: SessionTicket;
    })!.ticket;
    const c = clientConfig({ wallClockOffset: WALL_CLOCK + 1000, token: tok.token });
    c.tls = { ...c.tls, session: ticket } as ConnectionConfig['tls'];
    const again = new Link(c, server(1000));
    expect(again.run(() => established(again), 5000)).to.equal(true);
    expect(again.client.handshake!.resumed).to.equal(true);
    // Nothing is held on either side once idle again.
    expect(l.client.handshakeStateHeld).to.deep.equal(RELEASED);
    expect(l.server!.handshakeStateHeld).to.deep.equal(RELEASED);
  });

  it('the 1-RTT CRYPTO stream goes on at its offset when data comes after its buffers went', () => {
    const l = idle();
    // A NewSessionTicket the server writes after the release: a new buffer at the old offset.
    const msg = Buffer.concat([Buffer.from([4, 0, 0, 4]), Buffer.alloc(4, 1)]);
    l.server!.appCryptoSend.write(msg);
    expect(l.server!.handshakeStateHeld.appCrypto).to.equal(true);
    l.run(() => false, 500);
    expect(l.client.state).to.equal('established');
    expect(l.client.handshakeStateHeld).to.deep.equal(RELEASED);
    expect(l.server!.handshakeStateHeld).to.deep.equal(RELEASED);

    // The client read that ticket at its offset, not as a copy of old data: a KeyUpdate (type 24,
    // never sent in QUIC, RFC 9001 §6) written next is refused with unexpected_message (§4.1.3).
    l.server!.appCryptoSend.write(Buffer.from([24, 0, 0, 1, 0]));
    l.run(() => l.client.state !== 'established', 500);
    const closed = l.events.client.find((e) => e.type === 'closed');
    expect(closed, 'the client closed').to.not.equal(undefined);
    expect((closed as { error: { code: number } }).error.code).to.equal(0x100 + 10);
  });

  it('a SendBuffer created at an offset sends from there and ignores frames below it', () => {
    const b = new SendBuffer(100);
    expect(b.drained).to.equal(true);
    b.write(Buffer.from('abc'));
    expect(b.drained).to.equal(false);
    const c = b.nextChunk(10)!;
    expect(c.offset).to.equal(100);
    expect(Buffer.from(c.data).toString()).to.equal('abc');
    b.onLost(40, 20, false); // a copy from before the offset
    expect(b.hasPending).to.equal(false);
    b.onAcked(100, 3, false);
    expect(b.drained).to.equal(true);
  });

  it('a RecvBuffer created at an offset reads from there and drops data below it', () => {
    const r = new RecvBuffer({ offset: 50, cryptoBufferLimit: 100, copy: true });
    expect(r.drained).to.equal(true);
    expect(r.insert(10, Buffer.from('old'))).to.equal(0);
    expect(r.read()).to.equal(null);
    expect(r.insert(53, Buffer.from('de'))).to.equal(0);
    expect(r.drained).to.equal(false);
    expect(r.insert(50, Buffer.from('abc'))).to.equal(0);
    expect(r.read()!.toString()).to.equal('abc');
    expect(r.read()!.toString()).to.equal('de');
    expect(r.readOffset).to.equal(55);
    expect(r.drained).to.equal(true);
    // §7.5: the CRYPTO buffer limit counts from the read offset.
    expect(r.insert(55, Buffer.alloc(101))).to.not.equal(0);
  });

  it('shared empty containers read as empty, refuse writes, and hand out containers of their own', () => {
    const s = emptySet<number>();
    const m = emptyMap<number, string>();
    expect(s.size).to.equal(0);
    expect(m.get(1)).to.equal(undefined);
    expect([...s]).to.deep.equal([]);
    expect(() => s.add(1)).to.throw(TypeError);
    expect(() => m.set(1, 'a')).to.throw(TypeError);
    const own = added(s, 1);
    const ownMap = withEntry(m, 1, 'a');
    expect(own).to.not.equal(s);
    expect([...own]).to.deep.equal([1]);
    expect(ownMap.get(1)).to.equal('a');
    expect(added(own, 2)).to.equal(own);
    expect(withEntry(ownMap, 2, 'b')).to.equal(ownMap);
    expect(emptySet<number>().size).to.equal(0);
    expect(emptyMap<number, string>().size).to.equal(0);
    const arr = emptyArray<number>();
    expect(() => arr.push(1)).to.throw(TypeError);
    const ownArr = appended(arr, 1);
    expect(ownArr).to.deep.equal([1]);
    expect(appended(ownArr, 2)).to.equal(ownArr);
    expect(emptyArray<number>()).to.deep.equal([]);
  });

  it('a RangeSet emptied by clear(), subtract() or removeBelow() takes ranges again', () => {
    const r = new RangeSet();
    r.add(1, 5);
    r.clear();
    expect(r.isEmpty).to.equal(true);
    r.add(7, 9);
    r.subtract(7, 9);
    expect(r.isEmpty).to.equal(true);
    r.add(2, 3);
    r.add(10, 12);
    r.removeBelow(13);
    expect(r.isEmpty).to.equal(true);
    r.add(20, 21);
    r.add(18, 18);
    expect(r.toAckRanges()).to.deep.equal([
      { start: 20, end: 21 },
      { start: 18, end: 18 },
    ]);
    expect(new RangeSet().contains(0)).to.equal(false);
  });
});
