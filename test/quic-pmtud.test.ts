/**
 * Path MTU discovery (RFC 9000 §14.3, RFC 8899): the search on its own, and over the simulated
 * link: growth to the ceiling, a path that drops larger datagrams, a black hole appearing
 * later, migration, pmtud: false, the peer's max_udp_payload_size.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Connection, type ConnectionConfig, type QlogEvent } from '../lib/quic/connection.js';
import {
  BASE_PLPMTU,
  BLACK_HOLE_LOSSES,
  MAX_PROBES,
  PMTU_RAISE_TIMER,
  Pmtud,
} from '../lib/quic/pmtud.js';
import { PacketSpace } from '../lib/quic/ack-tracker.js';
import { initialWindow, LossDetection, NewReno } from '../lib/quic/recovery/index.js';
import {
  Link,
  SERVER_ADDR,
  clientConfig,
  serverConfig,
  upload,
  type Side,
} from './support/link.js';

/** Drives a Pmtud through a path that carries datagrams up to `mtu` bytes; returns the sizes
 * probed, in order, until the search completes. */
function search(p: Pmtud, mtu: number, now = 0): number[] {
  const probed: number[] = [];
  let pn = 0;
  for (let size = p.probeSize(now); size !== 0; size = p.probeSize(now)) {
    expect(probed.length, 'probes').to.be.below(100);
    probed.push(size);
    p.onProbeSent(pn);
    if (size <= mtu) p.onProbeAcked(pn, now);
    else p.onProbeLost(pn, now);
    pn++;
  }
  return probed;
}

const App = PacketSpace.ApplicationData;

/** `n` times the same size. */
const times = (n: number, size: number): number[] => Array<number>(n).fill(size);

describe('quic pmtud: the search', () => {
  it('starts at BASE_PLPMTU and probes nothing before the handshake is confirmed', () => {
    const p = new Pmtud(true, 1452);
    expect(p.size).to.equal(BASE_PLPMTU);
    expect(p.probeSize(0)).to.equal(0);
    p.start(65527, 0);
    expect(p.probeSize(0)).to.equal(1452);
  });

  it('takes the ceiling in one probe when the path carries it', () => {
    const p = new Pmtud(true, 1452);
    p.start(65527, 0);
    expect(search(p, 1500)).to.deep.equal([1452]);
    expect(p.size).to.equal(1452);
    expect(p.done).to.equal(true);
  });

  it('after the ceiling fails MAX_PROBES times, climbs the common sizes up to the first that fails', () => {
    const p = new Pmtud(true, 1452);
    p.start(65527, 0);
    expect(search(p, 1390)).to.deep.equal([
      ...times(MAX_PROBES, 1452),
      1280,
      1350,
      ...times(MAX_PROBES, 1400),
    ]);
    expect(p.size).to.equal(1350);
    expect(p.probesLost).to.equal(2 * MAX_PROBES);
  });

  it('bisects above the common sizes and stops within 64 bytes', () => {
    const p = new Pmtud(true, 65527);
    p.start(65527, 0);
    const probed = search(p, 30_000);
    expect(p.size).to.be.within(30_000 - 64, 30_000);
    // The ceiling, 6 common sizes, then halving 65526 - 8952 bytes down to 64: 10 steps.
    expect(new Set(probed).size).to.be.at.most(17);
  });

  it('is capped by the peer max_udp_payload_size and 65527', () => {
    const p = new Pmtud(true, 1452);
    p.start(1300, 0);
    expect(search(p, 1500)).to.deep.equal([1300]);
    const q = new Pmtud(true, 65527);
    q.start(70_000, 0);
    expect(q.probeSize(0)).to.equal(65527);
  });

  it('searches again for a larger size after PMTU_RAISE_TIMER', () => {
    const p = new Pmtud(true, 1452);
    p.start(65527, 0);
    search(p, 1400, 0);
    expect(p.size).to.equal(1400);
    expect(p.probeSize(PMTU_RAISE_TIMER - 1)).to.equal(0);
    expect(search(p, 1500, PMTU_RAISE_TIMER)).to.deep.equal([1452]);
    expect(p.size).to.equal(1452);
  });

  it('ignores the ACK or loss of a probe of an abandoned search', () => {
    const p = new Pmtud(true, 1452);
    p.start(65527, 0);
    p.probeSize(0);
    p.onProbeSent(7);
    expect(p.onNewPath(0)).to.equal(false); // still at the base size
    expect(p.onProbeAcked(7, 0)).to.equal(false);
    expect(p.size).to.equal(BASE_PLPMTU);
    expect(p.probeSize(0)).to.equal(1452); // the new search's first probe
  });

  it('falls back to BASE_PLPMTU on a black hole and searches below the size that failed', () => {
    const p = new Pmtud(true, 1452);
    p.start(65527, 0);
    search(p, 1500);
    p.onPacketAcked(10, 1448);
    // Losses of packets sent before the last full-size packet that got through: no signal.
    for (let pn = 1; pn < 10; pn++) expect(p.onPacketLost(pn, 1448, 0)).to.equal(false);
    // Small packets are no signal either.
    for (let pn = 11; pn < 20; pn++) expect(p.onPacketLost(pn, 1000, 0)).to.equal(false);
    // One burst, however long, is congestion: its retransmissions may get through.
    for (let pn = 20; pn < 20 + 2 * BLACK_HOLE_LOSSES; pn++)
      expect(p.onPacketLost(pn, 1448, 1)).to.equal(false);
    p.onPacketAcked(40, 1448);
    for (let pn = 41; pn < 41 + BLACK_HOLE_LOSSES; pn++)
      expect(p.onPacketLost(pn, 1448, 2)).to.equal(false);
    // Full-size losses at a second time, nothing full-size acknowledged since: a black hole.
    expect(p.onPacketLost(50, 1448, 3)).to.equal(true);
    expect(p.size).to.equal(BASE_PLPMTU);
    // 1350 fails; 1280..1349 spans 69 bytes: one bisection step (1315) too.
    expect(search(p, 1300)).to.deep.equal([
      1280,
      ...times(MAX_PROBES, 1350),
      ...times(MAX_PROBES, 1315),
    ]);
    expect(p.size).to.equal(1280);
  });

  it('PTO probes go at BASE_PLPMTU; disabled, nothing moves from maxDatagramSize', () => {
    const p = new Pmtud(true, 1452);
    p.start(65527, 0);
    search(p, 1500);
    expect(p.ptoDatagramSize).to.equal(BASE_PLPMTU);
    const off = new Pmtud(false, 1400);
    off.start(65527, 0);
    expect(off.size).to.equal(1400);
    expect(off.ptoDatagramSize).to.equal(1400);
    expect(off.probeSize(0)).to.equal(0);
    expect(off.onNewPath(0)).to.equal(false);
    expect(off.size).to.equal(1400);
  });

  it('a lost probe is no congestion event (RFC 9000 §14.4)', () => {
    const cc = new NewReno({ maxDatagramSize: 1200 });
    cc.onPacketSent(1452, 0);
    cc.onPacketsLost([{ timeSent: 0, size: 1452, inFlight: true, mtuProbe: true }], 10);
    expect(cc.cwnd).to.equal(initialWindow(1200));
    expect(cc.bytesInFlight).to.equal(0);
    cc.onPacketSent(1200, 10);
    cc.onPacketsLost([{ timeSent: 10, size: 1200, inFlight: true }], 20);
    expect(cc.cwnd).to.be.below(initialWindow(1200));
  });

  it('lost probes spanning the persistent congestion duration are no persistent congestion', () => {
    const cc = new NewReno();
    const ld = new LossDetection<string>({ isServer: true, cc });
    const send = (pn: number, t: number, mtuProbe = false) =>
      ld.onPacketSent(
        App,
        { pn, timeSent: t, size: 1200, ackEliciting: true, inFlight: true, mtuProbe, frames: '' },
        t,
      );
    ld.onHandshakeConfirmed(0);
    send(0, 0);
    ld.onAckReceived(App, [{ start: 0, end: 0 }], 0, 100);
    const cwnd = cc.cwnd;
    // The same times as a persistent congestion of data packets (quic-recovery-loss.test.ts).
    [200, 700, 1200].forEach((t, i) => send(1 + i, t, true));
    [1300, 1301, 1302].forEach((t, i) => send(4 + i, t));
    const r = ld.onAckReceived(App, [{ start: 4, end: 6 }], 0, 1400);
    expect(r.lost.map((p) => p.pn)).to.deep.equal([1, 2, 3]);
    expect(r.persistentCongestion).to.equal(false);
    expect(cc.cwnd).to.be.at.least(cwnd);
  });

  it('config: pmtud must be a boolean, maxDatagramSize in 1200..65527', () => {
    const connect = (extra: Partial<ConnectionConfig>) =>
      Connection.connect(clientConfig(extra), SERVER_ADDR, 0);
    expect(() => connect({ pmtud: 'yes' as never })).to.throw(TypeError, 'config.pmtud');
    expect(() => connect({ maxDatagramSize: 1199 })).to.throw(RangeError, 'maxDatagramSize');
    expect(() => connect({ maxDatagramSize: 65528 })).to.throw(RangeError, 'maxDatagramSize');
    expect(connect({}).maxDatagramSize).to.equal(BASE_PLPMTU);
    expect(connect({ pmtud: false }).maxDatagramSize).to.equal(1200);
    expect(connect({ pmtud: false, maxDatagramSize: 1400 }).maxDatagramSize).to.equal(1400);
  });
});

const sha = (b: Uint8Array | Buffer[]): string => {
  const h = createHash('sha256');
  if (Array.isArray(b)) for (const c of b) h.update(c);
  else h.update(b);
  return h.digest('hex');
};

interface Run {
  link: Link;
  received: Buffer[];
  done: boolean;
  /** Largest datagram each side put on the link. */
  largest: Record<Side, number>;
  /** connectivity:mtu_updated events of each side. */
  mtu: Record<Side, Array<{ old: number; new: number; done: boolean }>>;
  /** Times the client's congestion window was seen smaller than before (checked per datagram). */
  cwndShrank: number;
}

/** A link whose `tap` drops client and server datagrams larger than `run.path` bytes. */
function setup(extra: Partial<ConnectionConfig> = {}, server: Partial<ConnectionConfig> = {}) {
  const mtu: Run['mtu'] = { client: [], server: [] };
  const qlog = (side: Side) => (e: QlogEvent) => {
    if (e.name === 'connectivity:mtu_updated') mtu[side].push(e.data as never);
  };
  const link = new Link(
    clientConfig({ ...extra, qlog: qlog('client') }),
    serverConfig({ ...extra, ...server, qlog: qlog('server') }),
  );
  const run: Run & { path: number } = {
    link,
    received: [],
    done: false,
    largest: { client: 0, server: 0 },
    mtu,
    cwndShrank: 0,
    path: 65527,
  };
  let cwnd = 0;
  link.tap = ({ toServer, data }) => {
    const side = toServer ? 'client' : 'server';
    if (link.client.stats.cwnd < cwnd) run.cwndShrank++;
    cwnd = link.client.stats.cwnd;
    run.largest[side] = Math.max(run.largest[side], data.length);
    return data.length > run.path ? null : data;
  };
  return run;
}

/** The client sends `data` on one stream once the handshake completes; `until` ends the run
 * early (the transfer goes on with the next run()). */
function transfer(run: Run, data: Buffer, until?: () => boolean): void {
  upload(run.link, data, undefined, run);
  run.link.run(() => run.done || (until?.() ?? false), 600_000);
}

describe('quic pmtud: over the link', function () {
  this.timeout(60_000);
  const MB2 = createHash('sha512')
    .update('pmtud')
    .digest()
    .toString('hex')
    .repeat(16_384)
    .slice(0, 2 << 20);
  const data = Buffer.from(MB2);
  const want = sha(data);

  it('grows to the ceiling (1452) over a link that passes everything', () => {
    const run = setup();
    transfer(run, data);
    expect(run.done).to.equal(true);
    expect(sha(run.received)).to.equal(want);
    for (const side of ['client', 'server'] as const) {
      const s = run.link.conn(side).stats;
      expect(s.pmtu, side).to.equal(1452);
      expect(s.pmtuProbesSent, side).to.equal(1);
      expect(s.pmtuProbesLost, side).to.equal(0);
      expect(run.mtu[side], side).to.deep.equal([{ old: 1200, new: 1452, done: true }]);
      expect(run.largest[side], side).to.equal(1452);
    }
    expect(run.link.client.maxDatagramSize).to.equal(1452);
  });

  it('settles at the largest size a path dropping datagrams over 1350 bytes carries, losing no data', () => {
    const run = setup();
    run.path = 1350;
    transfer(run, data);
    expect(run.done).to.equal(true);
    expect(sha(run.received)).to.equal(want);
    const l = run.link;
    l.run(() => run.mtu.client.some((e) => e.done), 60_000);
    const s = l.client.stats;
    expect(s.pmtu).to.equal(1350);
    expect(s.packetsLost, 'data packets lost').to.equal(0);
    expect(s.pmtuProbesLost).to.be.at.least(2 * MAX_PROBES); // 1452 and 1400
    // The lost probes were no congestion signal: no window reduction (RFC 9000 §14.4).
    expect(run.cwndShrank).to.equal(0);
  });

  it('probe losses do not shrink the congestion window of an idle connection', () => {
    const run = setup();
    run.path = 1300;
    const l = run.link;
    l.run(() => run.mtu.client.some((e) => e.done), 60_000);
    const s = l.client.stats;
    expect(s.pmtu).to.equal(1280);
    expect(s.pmtuProbesLost).to.be.at.least(2 * MAX_PROBES);
    expect(s.packetsLost).to.equal(0);
    expect(run.cwndShrank).to.equal(0);
    expect(s.cwnd).to.equal(initialWindow(1200));
  });

  it('falls back to 1200 when a black hole appears later (> 1300 dropped), and the transfer completes', () => {
    const run = setup();
    const l = run.link;
    // Until the client sends full-size datagrams, then the path shrinks.
    transfer(
      run,
      data,
      () => l.client.maxDatagramSize === 1452 && l.client.stats.bytesSent > 200_000,
    );
    expect(run.done).to.equal(false);
    run.path = 1300;
    l.run(() => run.done, 600_000);
    expect(run.done).to.equal(true);
    expect(sha(run.received)).to.equal(want);
    const updates = run.mtu.client.map((e) => [e.old, e.new]);
    expect(updates).to.deep.include([1452, 1200]);
    expect(l.client.maxDatagramSize).to.equal(1280);
  });

  it('a new path (NAT rebinding) starts again at 1200, then searches again', () => {
    const run = setup();
    const l = run.link;
    l.run(() => l.server?.maxDatagramSize === 1452 && l.client.maxDatagramSize === 1452, 10_000);
    l.clientAddr = { address: '10.0.0.9', port: 40001, family: 'IPv4' };
    const sid = l.client.openStream(true)!;
    l.client.write(sid, Buffer.from('from a new address'), true);
    l.run(() => run.mtu.server.length >= 3, 10_000);
    expect(run.mtu.server.map((e) => [e.old, e.new])).to.deep.equal([
      [1200, 1452],
      [1452, 1200],
      [1200, 1452],
    ]);
    expect(l.server!.remoteAddress.address).to.equal('10.0.0.9');
  });

  it('pmtud: false keeps 1200-byte datagrams and sends no probe', () => {
    const run = setup({ pmtud: false });
    transfer(run, data);
    expect(run.done).to.equal(true);
    expect(sha(run.received)).to.equal(want);
    for (const side of ['client', 'server'] as const) {
      expect(run.largest[side], side).to.equal(1200);
      expect(run.link.conn(side).stats.pmtuProbesSent, side).to.equal(0);
      expect(run.link.conn(side).stats.pmtu, side).to.equal(1200);
      expect(run.mtu[side], side).to.deep.equal([]);
    }
  });

  it("the peer's max_udp_payload_size caps the search", () => {
    const run = setup({}, { transport: { maxUdpPayloadSize: 1300 } });
    transfer(run, data);
    expect(run.done).to.equal(true);
    expect(run.link.client.maxDatagramSize).to.equal(1300);
    expect(run.largest.client).to.equal(1300);
    expect(run.link.client.stats.pmtuProbesLost).to.equal(0);
    expect(run.link.server!.maxDatagramSize).to.equal(1452);
  });
});
