/**
 * Flow control, ACKs and pacing at speed, over the simulated link (test/support/link.ts): a
 * bulk upload whose receiver auto-tunes its windows and decimates its ACKs, and whose sender
 * paces in bursts of its send quantum.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import type { ConnectionConfig } from '../lib/quic/connection.js';
import { Link, clientConfig, serverConfig, upload, type LinkOptions } from './support/link.js';

const MB = 1024 * 1024;
/** Datagrams at least this large carry stream data (ACK-only ones are a few dozen bytes). */
const FULL = 1000;
const data = Buffer.alloc(8 * MB);
for (let i = 0; i < data.length; i++) data[i] = (i * 131 + (i >>> 11)) & 0xff;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Run {
  link: Link;
  got: Buffer;
  /** Datagrams the client sent at each instant of simulated time, in order. */
  bursts: number[];
  toServer: number;
  toClient: number;
}

/** The client sends `data` on one stream; the server reads it as it arrives. */
function run(link: LinkOptions, extra: Partial<ConnectionConfig> = {}): Run {
  const l = new Link(clientConfig(extra), serverConfig(extra), link);
  const u: Run = { link: l, got: Buffer.alloc(0), bursts: [], toServer: 0, toClient: 0 };
  let lastAt = -1;
  l.tap = ({ toServer, data: d }) => {
    if (!toServer) u.toClient++;
    else {
      u.toServer++;
      // Bursts of data: an ACK-only datagram (the sender acknowledging a window update) may
      // go alone at any time.
      if (d.length < FULL) return d;
      if (l.now === lastAt) u.bursts[u.bursts.length - 1]!++;
      else u.bursts.push(1);
      lastAt = l.now;
    }
    return d;
  };
  const up = upload(l, data, 256 * 1024);
  l.run(() => up.done, 600_000);
  u.got = Buffer.concat(up.received);
  return u;
}

describe('quic: flow control, ACKs and pacing at speed', function () {
  this.timeout(120_000);

  it('8 MB: windows grow, the receiver ACKs rarely, the window still grows, bursts are whole', () => {
    // (Path MTU probes leave alone, between bursts: discovery is off here.)
    const u = run({ delay: 5 }, { pmtud: false });
    expect(sha(u.got)).to.equal(sha(data));
    const s = u.link.server!.stats;
    // The 256 KiB stream window grew by doubling, within the 16 MiB default maximum.
    expect(s.windowUpdates).to.be.greaterThan(0);
    expect(s.streamWindowMax).to.be.greaterThan(256 * 1024);
    expect(s.streamWindowMax).to.be.at.most(16 * MB);
    expect(Math.log2(s.streamWindowMax / (256 * 1024)) % 1).to.equal(0);
    // ACK decimation: far fewer datagrams back than every second one.
    expect(u.toClient).to.be.below(u.toServer / 10);
    // The congestion window still grew (ACKed rarely, RFC 9002 §7.3.1 counts bytes).
    const c = u.link.client.stats;
    expect(c.packetsLost).to.equal(0);
    expect(c.cwnd).to.be.greaterThan(50 * 12_000);
    // Past slow start's first round trips, the sender's datagrams leave in batches (the send
    // quantum is at least 10; an ACK freeing less window may release fewer, rarely).
    const steady = u.bursts.slice(50, -1).sort((a, b) => a - b);
    expect(steady.filter((b) => b < 5).length).to.be.at.most(Math.ceil(steady.length / 100));
    expect(steady[steady.length >> 1]).to.be.at.least(10);
  });

  it('through a 100 Mbit/s bottleneck, packets arriving one by one: an ACK per ~10', () => {
    const u = run({ delay: 5, rate: 12_500, queue: 8 * MB });
    expect(sha(u.got)).to.equal(sha(data));
    // Every second packet would be toServer / 2; the MAX_STREAM_DATA updates add a few.
    expect(u.toClient).to.be.below(u.toServer / 8);
  });
});
