/**
 * The endpoint's window pool (WindowPool in lib/quic/flow-control.ts, EndpointConfig.windowPool)
 * in memory and in simulated time: server connections whose application reads at once grow
 * their receive windows by borrowing from the pool; the pool never lends more than its size;
 * once their application stops reading, what each connection holds is bounded by its initial
 * window plus what it borrowed; closed connections give their share back.
 */
import { expect } from 'chai';

import { Endpoint } from '../lib/quic/endpoint.js';
import { EndpointNet, uploaders } from './support/endpoint-net.js';
import { SERVER_ADDR, serverConfig, withoutRole } from './support/link.js';

const KiB = 1024;
/** Small windows so that a few connections meet the limits quickly. */
const TRANSPORT = {
  initialMaxData: 64 * KiB,
  initialMaxStreamDataBidiRemote: 32 * KiB,
  initialMaxStreamDataBidiLocal: 32 * KiB,
};
const POOL = 256 * KiB;
const UPLOAD = 2 << 20;
const CLIENTS = 3;

describe('quic/endpoint: the window pool', () => {
  it('windows grow only with what the pool lends; held bytes stay within initial window + share', () => {
    const net = new EndpointNet();
    net.delay = 5;
    const endpoint = new Endpoint({
      server: () =>
        withoutRole(serverConfig({ transport: TRANSPORT, maxConnectionWindow: 4 << 20 })),
      windowPool: POOL,
    });
    const server = net.add('server', SERVER_ADDR, endpoint);
    // The server's application reads everything at once until told to stop.
    let reading = true;
    let read = 0;
    server.onEvent = (conn, ev) => {
      if (ev.type !== 'readable' || !reading) return;
      for (let r; (r = conn.readChunk(ev.streamId)).data;) read += r.data.length;
    };
    const clients = uploaders(net, 2, CLIENTS, Buffer.alloc(UPLOAD, 1));
    const serverConns = () => [...endpoint.connections()];
    const lent = () => endpoint.stats.windowPoolInUse;
    // The bound, checked at every step: what a server connection holds in received data is
    // at most its initial window plus the whole pool, and all of them together at most their
    // initial windows plus what the pool lent.
    const check = () => {
      let held = 0;
      for (const c of serverConns()) {
        const h = c.stats.recvBufferedBytes;
        expect(h).to.be.at.most(TRANSPORT.initialMaxData + POOL);
        held += h;
      }
      expect(held).to.be.at.most(CLIENTS * TRANSPORT.initialMaxData + lent());
      expect(lent()).to.be.at.most(POOL);
      return false;
    };
    // Phase 1: the application reads; the windows grow until the pool runs dry.
    const grown = () => endpoint.stats.windowPoolRefused > 0;
    expect(net.run(() => check() || (grown() && read > 4 << 20), 120_000)).to.equal(true);
    expect(lent()).to.be.greaterThan(POOL / 2);
    // Phase 2: it stops reading; the peers fill what was announced, and no more.
    reading = false;
    net.run(check, 2000);
    const held = serverConns().reduce((n, c) => n + c.stats.recvBufferedBytes, 0);
    expect(held).to.be.greaterThan(CLIENTS * TRANSPORT.initialMaxData);
    expect(held).to.be.at.most(CLIENTS * TRANSPORT.initialMaxData + lent());
    // Closed connections give their share back.
    for (const c of clients) c.close(0, 'done');
    expect(net.run(() => check() || endpoint.size === 0, 10_000)).to.equal(true);
    expect(lent()).to.equal(0);
  });

  it('windowPool: 0 is allowed (no growth); negative, fractional, unsafe values are refused', () => {
    expect(new Endpoint({ windowPool: 0 }).stats.windowPoolInUse).to.equal(0);
    for (const v of [-1, 1.5, NaN, 2 ** 53])
      expect(() => new Endpoint({ windowPool: v }), String(v)).to.throw(RangeError);
  });
});
