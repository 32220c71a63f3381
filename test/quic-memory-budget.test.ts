/**
 * What a connection may hold beyond its guaranteed share is lent by the endpoint's pool and
 * comes back as soon as it is no longer needed: send buffering beyond guaranteedSendBuffer
 * only for data the peer granted credit for, returned as it is acknowledged (SendBudget in
 * lib/quic/send-buffer.ts); receive window grown by auto-tuning, returned down to what is
 * still announced or buffered once traffic stops (RecvWindow.reclaim in
 * lib/quic/flow-control.ts). Bounds are checked with the library's counters, in simulated
 * time.
 */
import { expect } from 'chai';

import type { Address, Connection } from '../lib/quic/connection.js';
import { DEFAULT_BOUNDS, DEFAULT_TRANSPORT } from '../lib/quic/config.js';
import { Endpoint, RECLAIM_INTERVAL } from '../lib/quic/endpoint.js';
import { IDLE_RTTS, RecvWindow, WindowPool } from '../lib/quic/flow-control.js';
import { SendBudget } from '../lib/quic/send-buffer.js';
import { SEND_HEAD_START } from '../lib/quic/stream-set.js';
import { EndpointNet, uploaders } from './support/endpoint-net.js';
import { SERVER_ADDR, clientConfig, prng, serverConfig, withoutRole } from './support/link.js';

const MiB = 1 << 20;

const counters = () => ({ windowPoolInUse: 0, windowPoolRefused: 0 });
const clientAt = (i: number): Address => ({ address: `10.0.3.${i}`, port: 40_000, family: 'IPv4' });

/** Connections of `endpoint`, and what each borrowed adds up to the pool's figure. */
function poolShares(endpoint: Endpoint): number {
  let sum = 0;
  for (const c of endpoint.connections()) sum += c.stats.pooledBytes;
  expect(sum).to.equal(endpoint.stats.windowPoolInUse);
  return sum;
}

describe('quic: memory lent by the endpoint pool', () => {
  describe('SendBudget', () => {
    it('a head start uses only the guaranteed share; granted data borrows, up to the pool', () => {
      const c = counters();
      const b = new SendBudget(500, 2000, new WindowPool(1000, c));
      expect(b.room(0)).to.equal(500);
      expect(b.add(800, 0)).to.equal(500);
      expect(b.room(0)).to.equal(0);
      expect(c.windowPoolInUse).to.equal(0);
      // 1,200 bytes within the peer's credit: the pool lends 1,000 of them, and counts the cut.
      expect(b.room(5000)).to.equal(1000);
      expect(b.add(1200, 1200)).to.equal(1000);
      expect([b.held, b.pooled, c.windowPoolInUse, c.windowPoolRefused]).to.deep.equal([
        1500, 1000, 1000, 1,
      ]);
      // Acknowledged bytes give back what they borrowed at once, not at close.
      b.free(300);
      expect([b.held, b.pooled, c.windowPoolInUse]).to.deep.equal([1200, 700, 700]);
      b.free(1000);
      expect([b.held, b.pooled, c.windowPoolInUse]).to.deep.equal([200, 0, 0]);
      expect(b.add(2000, 2000)).to.equal(300 + 1000);
      b.release();
      expect([b.held, b.pooled, c.windowPoolInUse]).to.deep.equal([0, 0, 0]);
      // Released: no more borrowing, all of max is its own.
      expect(b.room(0)).to.equal(2000);
    });

    it('never above max; without a pool, all of max is the connection own', () => {
      const c = counters();
      const b = new SendBudget(100, 300, new WindowPool(10_000, c));
      expect(b.add(1000, 1000)).to.equal(300);
      expect(b.room(1000)).to.equal(0);
      expect(c.windowPoolInUse).to.equal(200);
      const own = new SendBudget(100, 300);
      expect(own.room(0)).to.equal(300);
      expect(own.add(1000, 0)).to.equal(300);
    });
  });

  describe('RecvWindow.reclaim', () => {
    const RTT = 10;
    /** A window grown by a peer that uses all its credit, read at once, one update per ms. */
    function grown(c: ReturnType<typeof counters>) {
      const w = new RecvWindow({ window: 100, maxWindow: 1600, pool: new WindowPool(10_000, c) });
      let now = 0;
      while (w.window < 1600) {
        w.onReceivedBytes(w.limit - w.received);
        w.onConsumed(w.received - w.consumed);
        expect(w.takeUpdate(++now, RTT)).to.be.greaterThan(0);
      }
      return { w, now };
    }

    it('while updates flow nothing goes back; idle, all but what is still owed goes back', () => {
      const c = counters();
      const { w, now } = grown(c);
      expect([w.window, w.pooled, c.windowPoolInUse]).to.deep.equal([1600, 1500, 1500]);
      // An update since the last sweep, or within IDLE_RTTS RTTs: traffic flows.
      expect(w.reclaim(now, RTT)).to.equal(0);
      expect(w.reclaim(now + IDLE_RTTS * RTT - 1, RTT)).to.equal(0);
      // The peer sends 500 bytes more and stops; the application reads them.
      w.onReceivedBytes(500);
      w.onConsumed(500);
      const limit = w.limit;
      const back = w.reclaim(now + IDLE_RTTS * RTT, RTT);
      // Owed: the 1,100 bytes announced and not received; the rest went back.
      expect(back).to.equal(500);
      expect([w.window, w.pooled, c.windowPoolInUse, w.limit]).to.deep.equal([
        1100,
        1000,
        1000,
        limit,
      ]);
      // Received and unread bytes are owed too: 300 announced, 600 unread.
      w.onReceivedBytes(800);
      w.onConsumed(200);
      expect(w.reclaim(now + 1000, RTT)).to.equal(200);
      w.onConsumed(600);
      expect(w.reclaim(now + 2000, RTT)).to.equal(600);
      expect([w.window, w.pooled, c.windowPoolInUse]).to.deep.equal([300, 200, 200]);
      // Never below the initial window: all of the pool comes back.
      w.onReceivedBytes(300);
      w.onConsumed(300);
      expect(w.reclaim(now + 3000, RTT)).to.equal(200);
      expect([w.window, w.pooled, c.windowPoolInUse, w.limit]).to.deep.equal([100, 0, 0, limit]);
      // Traffic again: updates by the smaller window, and growth when it limits the transfer.
      expect(w.takeUpdate(now + 3001, RTT)).to.equal(w.consumed + 200);
      expect(c.windowPoolInUse).to.equal(100);
    });

    it('the announced limit never goes back and always fits in the window (random runs)', () => {
      for (let seed = 1; seed <= 20; seed++) {
        const r = prng(seed);
        const rnd = (n: number) => Math.floor(r() * n);
        const c = counters();
        const w = new RecvWindow({ window: 100, maxWindow: 5000, pool: new WindowPool(3000, c) });
        let now = 0;
        for (let i = 0; i < 500; i++) {
          now += rnd(40);
          const before = w.limit;
          w.onReceivedBytes(rnd(w.limit - w.received + 1));
          w.onConsumed(rnd(w.received - w.consumed + 1));
          if (rnd(3) === 0) w.reclaim(now, RTT);
          else w.takeUpdate(now, RTT);
          expect(w.limit).to.be.at.least(before);
          expect(w.limit - w.consumed).to.be.at.most(w.window);
          expect(w.window).to.equal(100 + w.pooled);
          expect(c.windowPoolInUse).to.equal(w.pooled);
        }
        w.release();
        expect(c.windowPoolInUse).to.equal(0);
      }
    });
  });

  describe('an endpoint and its connections', function () {
    this.timeout(60_000);

    it('connections that go idle give back their grown windows, all of it once they close', () => {
      const net = new EndpointNet();
      net.delay = 5;
      const endpoint = new Endpoint({ server: () => withoutRole(serverConfig()) });
      const server = net.add('server', SERVER_ADDR, endpoint);
      server.onEvent = (conn, ev) => {
        if (ev.type === 'readable') while (conn.readChunk(ev.streamId).data);
      };
      const UPLOAD = 16 * MiB;
      const clients = uploaders(net, 3, 3, Buffer.alloc(UPLOAD, 3), true);
      let peak = 0;
      const uploaded = () =>
        [...endpoint.connections()].every(
          (c) => c.streams.recvWindow.consumed === UPLOAD && c.state === 'established',
        );
      expect(
        net.run(() => {
          peak = Math.max(peak, poolShares(endpoint));
          return endpoint.size === 3 && uploaded();
        }),
      ).to.equal(true);
      expect(peak).to.be.greaterThan(3 * DEFAULT_TRANSPORT.initialMaxData!);
      // Idle: a sweep or two later each connection borrows only what it still announced
      // beyond its initial window (RFC 9000 §4.1: never taken back).
      net.run(() => false, 3 * RECLAIM_INTERVAL);
      for (const c of endpoint.connections()) {
        const w = c.streams.recvWindow;
        const owed = w.limit - w.consumed - DEFAULT_TRANSPORT.initialMaxData!;
        expect(c.stats.pooledBytes).to.equal(Math.max(0, owed));
      }
      expect(poolShares(endpoint)).to.be.lessThan(peak);
      for (const c of clients) c.close(0, 'done');
      expect(net.run(() => endpoint.size === 0, 10_000)).to.equal(true);
      expect(endpoint.stats.windowPoolInUse).to.equal(0);
    });

    /** A server whose application writes `bytes` on every stream the client opens, as fast as
     * write() takes it; clients with `transport` that read nothing until told. */
    function downloads(transport: Record<string, number>, streams: number, bytes: number) {
      const net = new EndpointNet();
      net.delay = 5;
      const endpoint = new Endpoint({ server: () => withoutRole(serverConfig()) });
      const server = net.add('server', SERVER_ADDR, endpoint);
      const body = Buffer.alloc(bytes, 9);
      const offsets = new Map<number, number>();
      server.onEvent = (conn, ev) => {
        if (ev.type !== 'stream-opened' && ev.type !== 'writable') return;
        const off = offsets.get(ev.streamId) ?? 0;
        if (off < bytes)
          offsets.set(ev.streamId, off + conn.write(ev.streamId, body.subarray(off), true));
      };
      const state = { reading: false, read: 0, ids: [] as number[] };
      const node = net.add('client', clientAt(9), new Endpoint());
      const client = net.connect(node, withoutRole(clientConfig({ transport })), SERVER_ADDR);
      node.onEvent = (conn, ev) => {
        if (ev.type === 'handshake-complete')
          for (let i = 0; i < streams; i++) {
            state.ids.push(conn.openStream(true)!);
            conn.write(state.ids[i]!, Buffer.from('GET'));
          }
        if (ev.type === 'readable' && state.reading) read(conn, ev.streamId);
      };
      const read = (conn: Connection, id: number) => {
        for (let r; (r = conn.readChunk(id)).data;) state.read += r.data.length;
      };
      /** The client starts reading: what is buffered now, then as it arrives. */
      const startReading = () => {
        state.reading = true;
        for (const id of state.ids) read(client, id);
      };
      return { net, endpoint, client, state, startReading };
    }

    /** Runs 3 s; the most any server connection held for sending, each borrowing nothing. */
    function peakHeldBorrowingNothing(net: EndpointNet, endpoint: Endpoint): number {
      let held = 0;
      net.run(() => {
        for (const c of endpoint.connections()) {
          held = Math.max(held, c.stats.sendBufferedBytes);
          expect(c.stats.pooledBytes).to.equal(0);
        }
        return false;
      }, 3000);
      return held;
    }

    it('a peer granting nothing holds the guaranteed send share, and borrows nothing', () => {
      const t = { initialMaxData: 0, initialMaxStreamDataBidiLocal: 0 };
      const { net, endpoint } = downloads(t, 100, 10 * MiB);
      // 100 head starts would be 6.4 MiB: the guaranteed share holds them.
      expect(100 * SEND_HEAD_START).to.be.greaterThan(DEFAULT_BOUNDS.guaranteedSendBuffer);
      const held = peakHeldBorrowingNothing(net, endpoint);
      expect(held).to.equal(DEFAULT_BOUNDS.guaranteedSendBuffer);
      expect(endpoint.stats.windowPoolInUse).to.equal(0);
    });

    it('a peer that reads nothing once its window (default: 1 MiB) is full borrows nothing', () => {
      const { net, endpoint } = downloads({}, 20, 2 * MiB);
      const held = peakHeldBorrowingNothing(net, endpoint);
      expect(held).to.be.at.most(DEFAULT_BOUNDS.guaranteedSendBuffer);
      expect(held).to.be.greaterThan(DEFAULT_TRANSPORT.initialMaxData! / 2);
    });

    it('granted data borrows beyond the guaranteed share, and gives it back as it is acknowledged', () => {
      const streams = 20;
      const t = { initialMaxData: 8 * MiB, initialMaxStreamDataBidiLocal: MiB };
      const { net, endpoint, client, state, startReading } = downloads(t, streams, 2 * MiB);
      let peak = 0;
      net.run(() => {
        for (const c of endpoint.connections()) {
          expect(c.stats.sendBufferedBytes).to.be.at.most(DEFAULT_BOUNDS.connectionSendBuffer);
          expect(c.stats.pooledBytes).to.be.at.most(
            DEFAULT_BOUNDS.connectionSendBuffer - DEFAULT_BOUNDS.guaranteedSendBuffer,
          );
          peak = Math.max(peak, poolShares(endpoint));
        }
        return false;
      }, 3000);
      expect(peak).to.be.greaterThan(0);
      // The client reads everything: acknowledged data gives back what it borrowed while the
      // connection stays open.
      startReading();
      expect(
        net.run(() => {
          poolShares(endpoint);
          return state.read === streams * 2 * MiB;
        }, 60_000),
      ).to.equal(true);
      expect(net.run(() => endpoint.stats.windowPoolInUse === 0, 5000)).to.equal(true);
      expect(client.state).to.equal('established');
    });
  });
});
