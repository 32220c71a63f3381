/**
 * Hostile peers: garbage, mutated, truncated and replayed datagrams never throw out of
 * receive() and leave the connection working; protocol violations close it with the RFC 9000
 * §20 code. A "hostile client" is a peer that forges 1-RTT packets with any frames, sealed with
 * our client's key-logged 1-RTT secret: the server reads them through its real receive path.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Connection, type ConnectionEvent } from '../lib/quic/connection.js';
import type { Frame } from '../lib/quic/frames.js';
import { forgePacket, secretFromKeylog } from './support/forge.js';
import { Link, SERVER_ADDR, clientConfig, prng, serverConfig } from './support/link.js';

type Closed = Extract<ConnectionEvent, { type: 'closed' }>;
const closedOf = (evs: ConnectionEvent[]): Closed | undefined =>
  evs.find((e): e is Closed => e.type === 'closed');

function established(l: Link): boolean {
  return l.client.state === 'established' && l.server?.state === 'established';
}

/** Runs until the server closed; returns the code the client was told. */
function serverCloseCode(l: Link): number {
  l.run(() => closedOf(l.events.client) !== undefined, 10_000);
  const server = closedOf(l.events.server);
  expect(server, 'server closed').to.not.equal(undefined);
  expect(server!.error!.remote).to.equal(false);
  const client = closedOf(l.events.client)!;
  expect(client.error!.remote).to.equal(true);
  expect(client.error!.code).to.equal(server!.error!.code);
  return client.error!.code;
}

function ready(): Link {
  return hostile().l;
}

/** An established link, and a hostile client sending any frames in 1-RTT packets of its own. */
function hostile(): { l: Link; send: (...frames: Frame[]) => void } {
  const keylog: string[] = [];
  const cc = clientConfig();
  cc.tls = { ...cc.tls, keylog: (line: string) => keylog.push(line) };
  const l = new Link(cc, serverConfig());
  expect(l.run(() => established(l), 5000)).to.equal(true);
  l.run(() => false, 100);
  let pn = 10_000; // beyond what the real client sends in a test
  const send = (...frames: Frame[]): void =>
    l.inject(
      true,
      forgePacket({
        type: '1rtt',
        secret: secretFromKeylog(keylog, 'CLIENT_TRAFFIC_SECRET_0'),
        dcid: l.server!.localConnectionIds()[0]!, // sequence 0: the server's handshake CID
        packetNumber: pn++,
        frames,
      }),
    );
  return { l, send };
}

describe('quic connection: hostile input', function () {
  this.timeout(60_000);

  it('garbage, truncated and bit-flipped datagrams are dropped; the connection keeps working', () => {
    const l = ready();
    const rand = prng(99);
    const real: Buffer[] = [];
    l.tap = (d) => {
      if (real.length < 50) real.push(Buffer.from(d.data));
      return d.data;
    };
    const s = l.client.openStream(true)!;
    l.client.write(s, Buffer.alloc(50_000, 3), true);
    l.run(() => real.length >= 20, 2000);
    for (let i = 0; i < 2000; i++) {
      const kind = i % 4;
      let d: Buffer;
      if (kind === 0) d = randomBytes(Math.floor(rand() * 1500));
      else {
        d = Buffer.from(real[Math.floor(rand() * real.length)]!);
        if (kind === 1) d = d.subarray(0, Math.floor(rand() * d.length));
        else if (kind === 2) d[Math.floor(rand() * d.length)] ^= 1 << Math.floor(rand() * 8);
        else d[0] = Math.floor(rand() * 256);
      }
      const target = i % 2 === 0 ? l.server! : l.client;
      expect(() => target.receive(d, SERVER_ADDR, l.now)).to.not.throw();
    }
    expect(l.client.state).to.equal('established');
    expect(l.server!.state).to.equal('established');
    let got = 0;
    l.onEvent = (side, ev) => {
      if (side === 'server' && ev.type === 'readable')
        for (let d = l.server!.read(ev.streamId); d; d = l.server!.read(ev.streamId))
          got += d.length;
    };
    l.run(() => got === 50_000, 5000);
    expect(got).to.equal(50_000);
  });

  it('replayed datagrams are dropped as duplicates (RFC 9000 §12.3)', () => {
    const l = ready();
    const seen: Buffer[] = [];
    l.tap = (d) => {
      if (d.toServer) seen.push(Buffer.from(d.data));
      return d.data;
    };
    const s = l.client.openStream(true)!;
    l.client.write(s, Buffer.alloc(20_000, 1), true);
    let got = 0;
    l.onEvent = (side, ev) => {
      if (side === 'server' && ev.type === 'readable')
        for (let d = l.server!.read(ev.streamId); d; d = l.server!.read(ev.streamId))
          got += d.length;
    };
    l.run(() => got === 20_000, 5000);
    const dropped = l.server!.stats.packetsDropped;
    const received = l.server!.stats.packetsReceived;
    for (const d of seen) l.server!.receive(Buffer.from(d), l.clientAddr, l.now);
    expect(l.server!.stats.packetsReceived).to.equal(received);
    expect(l.server!.stats.packetsDropped - dropped).to.equal(seen.length);
    expect(got).to.equal(20_000);
    expect(l.server!.state).to.equal('established');
  });

  it('a datagram for an unknown connection ID or an old version is dropped', () => {
    const l = ready();
    const other = Connection.connect(clientConfig(), SERVER_ADDR, l.now);
    const initial = Buffer.from(other.send(l.now)[0]!.data);
    expect(() => l.server!.receive(initial, l.clientAddr, l.now)).to.not.throw();
    expect(() => l.client.receive(initial, SERVER_ADDR, l.now)).to.not.throw();
    expect(l.server!.state).to.equal('established');
    expect(l.client.state).to.equal('established');
  });

  it('exceeding flow control is FLOW_CONTROL_ERROR (0x03)', () => {
    const { l, send } = hostile();
    // Stream 0's window is 256 KiB (initial_max_stream_data_bidi_remote).
    send({ type: 'stream', streamId: 0, offset: 600_000, data: Buffer.from('x'), fin: false });
    expect(serverCloseCode(l)).to.equal(0x03);
  });

  it('opening more streams than MAX_STREAMS allows is STREAM_LIMIT_ERROR (0x04)', () => {
    const { l, send } = hostile();
    // Client bidirectional stream index 100 (id 400): the server allows 100 (0..99).
    send({ type: 'stream', streamId: 400, offset: 0, data: Buffer.from('x'), fin: false });
    expect(serverCloseCode(l)).to.equal(0x04);
  });

  it('more connection IDs than active_connection_id_limit is CONNECTION_ID_LIMIT_ERROR (0x09)', () => {
    const { l, send } = hostile();
    const cids = Array.from({ length: 8 }, (_, i) => ({
      type: 'new_connection_id' as const,
      sequence: 10 + i,
      retirePriorTo: 0,
      connectionId: randomBytes(8),
      statelessResetToken: randomBytes(16),
    }));
    send(...cids);
    expect(serverCloseCode(l)).to.equal(0x09);
  });

  it('retiring the CID a packet is sent to is PROTOCOL_VIOLATION (0x0a)', () => {
    const { l, send } = hostile();
    send({ type: 'retire_connection_id', sequence: 0 }); // sent to the CID of sequence 0
    expect(serverCloseCode(l)).to.equal(0x0a);
  });

  it('HANDSHAKE_DONE from a client is PROTOCOL_VIOLATION (0x0a)', () => {
    const { l, send } = hostile();
    send({ type: 'handshake_done' });
    expect(serverCloseCode(l)).to.equal(0x0a);
  });

  it('an ACK of a packet never sent is PROTOCOL_VIOLATION (0x0a)', () => {
    const { l, send } = hostile();
    send({ type: 'ack', largest: 100_000, ackDelay: 0, ranges: [{ start: 0, end: 100_000 }] });
    expect(serverCloseCode(l)).to.equal(0x0a);
  });

  it('data on a stream the peer cannot send on is STREAM_STATE_ERROR (0x05)', () => {
    const { l, send } = hostile();
    // Stream 3: a server-initiated unidirectional stream; the client can only receive on it.
    send({ type: 'stream', streamId: 3, offset: 0, data: Buffer.from('nope'), fin: false });
    expect(serverCloseCode(l)).to.equal(0x05);
  });

  it('data beyond a known final size is FINAL_SIZE_ERROR (0x06)', () => {
    const { l, send } = hostile();
    const s = l.client.openStream(true)!;
    l.client.write(s, Buffer.from('hello'), true);
    l.run(() => false, 100);
    send({ type: 'stream', streamId: s, offset: 5, data: Buffer.from('more'), fin: false });
    expect(serverCloseCode(l)).to.equal(0x06);
  });

  it('API misuse: TypeError/RangeError naming the argument', () => {
    const l = ready();
    expect(() => l.client.write(-1, Buffer.alloc(1))).to.throw(TypeError, /streamId/);
    expect(() => l.client.write(1000, Buffer.alloc(1))).to.throw(RangeError, /streamId/);
    const s = l.client.openStream(true)!;
    expect(() => l.client.write(s, 'x' as unknown as Uint8Array)).to.throw(TypeError, /data/);
    expect(() => l.client.resetStream(s, -1)).to.throw(RangeError, /code/);
    expect(() => l.client.receive(null as unknown as Uint8Array, SERVER_ADDR, 0)).to.throw(
      TypeError,
      /datagram/,
    );
    expect(() => l.client.send(NaN)).to.throw(TypeError, /now/);
    expect(() =>
      Connection.connect(clientConfig({ maxDatagramSize: 100 }), SERVER_ADDR, 0),
    ).to.throw(RangeError, /maxDatagramSize/);
    expect(() =>
      Connection.connect(
        clientConfig({ transport: { initialMaxStreamsBidi: -1 } }),
        SERVER_ADDR,
        0,
      ),
    ).to.throw(RangeError);
    expect(() => Connection.accept(serverConfig(), Buffer.alloc(1200), SERVER_ADDR, 0)).to.throw(
      RangeError,
      /firstDatagram/,
    );
  });

  it('random frames from an authenticated peer: handled or a transport error, never INTERNAL_ERROR', () => {
    const codes = new Map<number, number>();
    for (let seed = 1; seed <= 60; seed++) {
      const rand = prng(seed * 7919);
      const int = (n: number): number => Math.floor(rand() * n);
      const big = (): number => [0, 1, int(100), int(70_000), 2 ** 30, 2 ** 53, 2 ** 60][int(7)]!;
      const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
      const frame = (): Frame => {
        // Mostly client-initiated streams (the server must accept those), some others.
        const sid = rand() < 0.8 ? int(12) * 4 + (rand() < 0.5 ? 0 : 2) : int(24);
        switch (int(16)) {
          case 0:
            return {
              type: 'stream',
              streamId: sid,
              offset: big() % 2 ** 40,
              data: bytes(int(50)),
              fin: rand() < 0.3,
            };
          case 1:
            return {
              type: 'reset_stream',
              streamId: sid,
              errorCode: int(9),
              finalSize: big() % 2 ** 40,
            };
          case 2:
            return { type: 'stop_sending', streamId: sid, errorCode: int(9) };
          case 3:
            return { type: 'max_data', maximum: big() };
          case 4:
            return { type: 'max_stream_data', streamId: sid, maximum: big() };
          case 5:
            return { type: 'max_streams', bidi: rand() < 0.5, maximum: big() % 2 ** 60 };
          case 6:
            return { type: 'stream_data_blocked', streamId: sid, limit: big() };
          case 7: {
            const sequence = int(12);
            return {
              type: 'new_connection_id',
              sequence,
              retirePriorTo: int(sequence + 1),
              connectionId: bytes(1 + int(20)),
              statelessResetToken: bytes(16),
            };
          }
          case 8:
            return { type: 'retire_connection_id', sequence: int(10) };
          case 9:
            return { type: 'path_challenge', data: bytes(8) };
          case 10:
            return { type: 'path_response', data: bytes(8) };
          case 11:
            return { type: 'datagram', data: bytes(int(100)) };
          case 12:
            return { type: 'crypto', offset: int(100), data: bytes(int(30)) };
          case 13: {
            const end = int(40);
            return {
              type: 'ack',
              largest: end,
              ackDelay: int(1000),
              ranges: [{ start: int(end + 1), end }],
            };
          }
          case 14:
            return { type: 'data_blocked', limit: big() };
          default:
            return { type: 'ping' };
        }
      };
      const { l, send } = hostile();
      send(...Array.from({ length: 6 }, frame));
      l.run(() => l.server!.state !== 'established', 300);
      const closed = closedOf(l.events.server);
      const code = closed ? closed.error!.code : -1;
      codes.set(code, (codes.get(code) ?? 0) + 1);
      expect(code, `seed ${seed}: ${closed?.error?.reason}`).to.not.equal(0x01);
    }
    // The mix exercised both outcomes: frames handled and frames refused with a code.
    expect(codes.get(-1) ?? 0).to.be.greaterThan(0);
    expect(codes.size).to.be.greaterThan(2);
  });
});
