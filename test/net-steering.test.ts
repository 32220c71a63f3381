/**
 * Steering packets to worker threads: CIDs that name a worker (lib/quic/worker-cid.ts), the
 * classic BPF program that picks a reuseport group's socket by them (lib/net/steering.ts) run
 * by the kernel on loopback, and the core endpoint of one worker (stats.misrouted).
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

import { nativeUdp } from '../lib/crypto/native.js';
import { steeringProgram } from '../lib/net/steering.js';
import { NativeUdpSocket } from '../lib/net/udp-socket.js';
import { Endpoint } from '../lib/quic/endpoint.js';
import { quicLbGenerator } from '../lib/quic/quic-lb.js';
import {
  checkWorkerSlot,
  cidWorker,
  workerCidGenerator,
  type WorkerSlot,
} from '../lib/quic/worker-cid.js';
import { EndpointNet, echo } from './support/endpoint-net.js';
import { SERVER_ADDR, clientConfig, serverConfig, withoutRole } from './support/link.js';

const CID = 8;

describe('worker CIDs', () => {
  it('every CID names its worker, and keeps the rest of its randomness', () => {
    for (const count of [1, 2, 3, 7, 64, 256])
      for (const index of [0, count - 1, count >> 1]) {
        const slot = { index, count, offset: 3 };
        const gen = workerCidGenerator(undefined, randomBytes, CID, slot);
        const seen = new Set<string>();
        for (let i = 0; i < 300; i++) {
          const cid = gen();
          expect(cid.length).to.equal(CID);
          expect(cidWorker(cid, slot)).to.equal(index);
          seen.add(Buffer.from(cid).toString('hex'));
        }
        expect(seen.size).to.equal(300);
      }
  });

  it('the worker byte follows a QUIC-LB server ID, which stays readable', () => {
    const serverId = Uint8Array.of(0xab);
    const base = quicLbGenerator({ serverId, nonceLength: CID - 2 }, randomBytes);
    const slot = { index: 2, count: 5, offset: 2 };
    const gen = workerCidGenerator(base, randomBytes, CID, slot);
    for (let i = 0; i < 200; i++) {
      const cid = gen();
      expect(cid[0]).to.equal(CID - 1); // config rotation 0, self-encoded length
      expect(cid[1]).to.equal(0xab);
      expect(cidWorker(cid, slot)).to.equal(2);
    }
  });

  it('checks its slot', () => {
    const bad: [unknown, RegExp][] = [
      [null, /object/],
      [{ index: 0, count: 0, offset: 0 }, /count/],
      [{ index: 0, count: 257, offset: 0 }, /count/],
      [{ index: 2, count: 2, offset: 0 }, /index/],
      [{ index: -1, count: 2, offset: 0 }, /index/],
      [{ index: 0, count: 2, offset: 8 }, /offset/],
      [{ index: 0, count: 2, offset: 0.5 }, /offset/],
    ];
    for (const [slot, re] of bad)
      expect(() => checkWorkerSlot(slot as WorkerSlot, CID)).to.throw(re);
  });

  it("a worker's endpoint issues only CIDs that name it, and drops (counts) another worker's packets", () => {
    const slot = { index: 1, count: 3, offset: 0 };
    const net = new EndpointNet();
    const srv = net.add(
      'server',
      SERVER_ADDR,
      new Endpoint({ server: () => withoutRole(serverConfig()), worker: slot }),
    );
    echo(srv);
    const cli = net.add(
      'client',
      { address: '10.0.0.9', port: 5000, family: 'IPv4' },
      new Endpoint(),
    );
    const conn = net.connect(cli, withoutRole(clientConfig()), SERVER_ADDR);
    let open = false;
    cli.onEvent = (_, ev) => {
      if (ev.type === 'handshake-complete') open = true;
    };
    expect(net.run(() => open, 5000)).to.equal(true);
    net.run(() => false, 200); // NEW_CONNECTION_ID frames arrive
    const [server] = [...srv.endpoint.connections()];
    const cids = server!.localConnectionIds();
    expect(cids.length).to.be.greaterThan(1);
    for (const cid of cids) expect(cidWorker(cid, slot)).to.equal(1);
    expect(conn.state).to.not.equal('closed');

    // Short headers for unknown CIDs: one naming worker 2 is another's (dropped, counted); one
    // naming this worker is answered with a Stateless Reset (RFC 9000 §10.3).
    const ep = srv.endpoint;
    const packet = (workerByte: number): Buffer => {
      const d = randomBytes(100);
      d[0] = 0x40 | (d[0]! & 0x3f);
      d[1] = workerByte;
      return d;
    };
    const r1 = ep.receive(packet(2), { address: '10.0.0.8', port: 1, family: 'IPv4' }, 10_000);
    expect(r1.kind).to.equal('dropped');
    expect(ep.stats.misrouted).to.equal(1);
    const r2 = ep.receive(packet(4), { address: '10.0.0.8', port: 1, family: 'IPv4' }, 10_001);
    expect(r2).to.include({ kind: 'respond', reason: 'stateless-reset' });
    expect(ep.stats.misrouted).to.equal(1);
  });
});

describe('steering program (SO_ATTACH_REUSEPORT_CBPF) on loopback', function () {
  before(function () {
    if (!NativeUdpSocket.supported) this.skip(); // Linux only: nothing to steer elsewhere
  });

  /** A group of `count` sockets with the program for `offset`; what each socket receives. */
  async function steer(
    count: number,
    offset: number,
    datagrams: Buffer[],
  ): Promise<{ got: Buffer[][]; total: number }> {
    const group = nativeUdp.udpGroupBind('127.0.0.1', 0, false, count, 1 << 20, 1 << 20);
    const sockets: NativeUdpSocket[] = [];
    const got: Buffer[][] = [];
    let total = 0;
    try {
      nativeUdp.udpGroupSteer(group, steeringProgram({ count, offset }, CID));
      for (const fd of nativeUdp.udpGroupFds(group)) {
        const s = NativeUdpSocket.adopt(fd);
        const mine: Buffer[] = [];
        s.onbatch = (b) => {
          for (let i = 0; i < b.count; i++) {
            mine.push(
              Buffer.from(b.buffer.subarray(b.desc[4 * i]!, b.desc[4 * i]! + b.desc[4 * i + 1]!)),
            );
            total++;
          }
        };
        sockets.push(s);
        got.push(mine);
      }
      const port = sockets[0]!.address().port;
      const tx = createSocket('udp4');
      for (const d of datagrams) tx.send(d, port, '127.0.0.1');
      for (let i = 0; i < 200 && total < datagrams.length; i++)
        await new Promise((r) => setTimeout(r, 10));
      tx.close();
      return { got, total };
    } finally {
      for (const s of sockets) s.close();
      nativeUdp.udpGroupClose(group);
    }
  }

  const short = (cid: Uint8Array, tag: number): Buffer =>
    Buffer.concat([Buffer.of(0x40), cid, Buffer.of(tag), randomBytes(20)]);
  const long = (dcid: Uint8Array, tag: number): Buffer =>
    Buffer.concat([
      Buffer.of(0xc0, 0, 0, 0, 1, dcid.length),
      dcid,
      Buffer.of(0, tag),
      randomBytes(20),
    ]);

  for (const [count, offset] of [
    [2, 0],
    [3, 0],
    [4, 2],
  ] as const)
    it(`a datagram for each worker's CID lands on that worker (${count} workers, byte ${offset})`, async () => {
      const gens = Array.from({ length: count }, (_, index) =>
        workerCidGenerator(undefined, randomBytes, CID, { index, count, offset }),
      );
      const datagrams: Buffer[] = [];
      for (let k = 0; k < 60; k++) {
        const w = k % count;
        datagrams.push(k % 2 ? short(gens[w]!(), w) : long(gens[w]!(), w));
      }
      const { got, total } = await steer(count, offset, datagrams);
      expect(total).to.equal(datagrams.length);
      got.forEach((mine, w) => {
        expect(mine.length).to.equal(60 / count);
        // The tag byte follows the DCID: 1 + CID (short) or 6 + CID + 1 (long).
        for (const d of mine) expect(d[d[0]! & 0x80 ? 6 + CID + 1 : 1 + CID]).to.equal(w);
      });
    });

  it('garbage, short and empty datagrams and other DCID lengths go somewhere (hash), all of them', async () => {
    const datagrams = [
      Buffer.alloc(0),
      Buffer.of(0x40),
      Buffer.of(0xc0, 0, 0),
      Buffer.alloc(6, 0xff),
      long(randomBytes(20), 0),
      long(randomBytes(0), 0),
      long(randomBytes(4), 0),
      ...Array.from({ length: 40 }, (_, i) => randomBytes(i * 13)),
    ];
    const { got, total } = await steer(3, 1, datagrams);
    expect(total).to.equal(datagrams.length);
    expect(got.flat().length).to.equal(datagrams.length);
  });
});
