// The unread-echo attack over loopback UDP, through the shipped path (listen(), the CLI's echo
// service, QuicStream): a client uploads on many streams and never reads the echo. What the
// server's connection holds stays within what it is guaranteed plus what it borrowed from the
// endpoint's pool (which never lends more than its size), and the pool is whole again once
// the client is gone. Checked with the library's counters at every poll.
import { expect } from 'chai';

import { echo } from '../lib/cli/serve.js';
import { connect, listen, type QuicEndpoint, type QuicSession } from '../lib/index.js';
import { DEFAULT_BOUNDS, DEFAULT_TRANSPORT } from '../lib/quic/config.js';
import { fixture, serverCreds } from './support/tls-pair.js';

const MiB = 1 << 20;
const POOL = 2 * MiB;
const STREAMS = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `done` every 20 ms (checking the bounds each time) until it holds; false after `ms`. */
async function until(done: () => boolean, check: () => void, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) {
    check();
    if (done()) return true;
  }
  return false;
}

describe('net: memory per connection under an unread echo', function () {
  this.timeout(30_000);
  let srv: QuicEndpoint | undefined;
  afterEach(() => {
    srv?.destroy();
    srv = undefined;
  });

  it('the server holds its guaranteed share plus what it borrowed; the pool is whole after', async () => {
    const sessions: QuicSession[] = [];
    srv = await listen(
      (s) => {
        sessions.push(s);
        s.closed.catch(() => {});
        echo(s);
      },
      { ...serverCreds(), alpn: 'echo', host: '127.0.0.1', windowPool: POOL },
    );
    const endpoint = srv;
    const client = await connect(`127.0.0.1:${endpoint.address.port}`, {
      alpn: 'echo',
      ca: fixture('ca.pem'),
      servername: 'localhost',
    });
    for (let i = 0; i < STREAMS; i++) {
      const st = await client.createBidirectionalStream();
      st.on('error', () => {}); // cut short when the client closes
      st.pause(); // the echo is never read
      st.write(Buffer.alloc(MiB, i));
    }
    const stats = () => sessions[0]!.stats;
    const check = () => {
      const s = stats();
      // Sending: the client's window (1 MiB) fills and it reads nothing, so nothing may
      // borrow: the guaranteed share holds it all.
      expect(s.sendBufferedBytes).to.be.at.most(DEFAULT_BOUNDS.guaranteedSendBuffer);
      expect(s.recvBufferedBytes).to.be.at.most(DEFAULT_TRANSPORT.initialMaxData! + s.pooledBytes);
      expect(s.pooledBytes).to.equal(endpoint.stats.windowPoolInUse);
      expect(endpoint.stats.windowPoolInUse).to.be.at.most(POOL);
    };
    // The echo stalls: its writes fill the guaranteed share, and the uploads the receive
    // window (what the echo moved to its send buffer was read from it).
    const stalled = () =>
      sessions.length === 1 &&
      stats().sendBufferedBytes === DEFAULT_BOUNDS.guaranteedSendBuffer &&
      stats().recvBufferedBytes > DEFAULT_TRANSPORT.initialMaxData! / 2;
    expect(await until(stalled, check, 20_000)).to.equal(true);
    await client.close({ timeout: 500 }); // the unread streams are cut short: NO_ERROR all the same
    expect(await until(() => endpoint.sessionCount === 0, check, 10_000)).to.equal(true);
    expect(endpoint.stats.windowPoolInUse).to.equal(0);
  });
});
