// The native batched UDP socket (lib/net/udp-socket.ts over native/udp_*.cc) on loopback:
// batches per wake-up, GRO splitting, GSO sends, the native queue under push-back, IPv6 and dual
// stack, ECN marks, ICMP errors, bind errors, junk arguments and close.
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

import { native, nativeUdp } from '../lib/crypto/native.js';
import type { Address } from '../lib/quic/connection.js';
import { NativeUdpSocket, type UdpBatch, type UdpSocketError } from '../lib/net/udp-socket.js';
import { JUNK, expectNamedError, junkEachArgument, type JunkSpec } from './support/junk.js';

/** A received datagram: its bytes, sender and ECN codepoint. */
interface Received {
  data: Buffer;
  from: Address;
  ecn: number;
}

/** Collects what `socket` receives; `until(n)` resolves once n datagrams are in. */
function collect(socket: NativeUdpSocket): {
  got: Received[];
  batches: UdpBatch[];
  until: (n: number) => Promise<void>;
} {
  const got: Received[] = [];
  const batches: UdpBatch[] = [];
  let waiting: { n: number; resolve: () => void } | undefined;
  socket.onbatch = (b) => {
    batches.push(b);
    for (let i = 0; i < b.count; i++) {
      const [offset, length, peer, ecn] = b.desc.subarray(i * 4, i * 4 + 4);
      got.push({
        data: b.buffer.subarray(offset!, offset! + length!),
        from: b.peers[peer!]!,
        ecn: ecn!,
      });
    }
    if (waiting && got.length >= waiting.n) waiting.resolve();
  };
  return {
    got,
    batches,
    until: (n) =>
      got.length >= n ? Promise.resolve() : new Promise((resolve) => (waiting = { n, resolve })),
  };
}

/** Datagrams with `lengths`, each filled with a marker of its index, in one buffer + desc. */
function datagrams(
  lengths: number[],
  peerIndex = (_i: number) => 0,
  ecn = (_i: number) => 0,
): { buf: Buffer; desc: Uint32Array; count: number } {
  const buf = Buffer.alloc(lengths.reduce((a, b) => a + b, 0));
  const desc = new Uint32Array(lengths.length * 4);
  let at = 0;
  lengths.forEach((len, i) => {
    buf.fill(i & 0xff, at, at + len);
    desc.set([at, len, peerIndex(i), ecn(i)], i * 4);
    at += len;
  });
  return { buf, desc, count: lengths.length };
}

function dgramBound(type: 'udp4' | 'udp6', address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type, recvBufferSize: 4 * 1024 * 1024 });
    s.once('error', reject);
    s.bind(0, address, () => resolve(s));
  });
}

function local(port: number, address = '127.0.0.1'): Address {
  return { address, port, family: address.includes(':') ? 'IPv6' : 'IPv4' };
}

const open: Array<NativeUdpSocket | Socket> = [];
function bind(options: Parameters<typeof NativeUdpSocket.bind>[0]): NativeUdpSocket {
  const s = NativeUdpSocket.bind(options);
  open.push(s);
  return s;
}

/** Binds on '::1', or skips the test when this host has no IPv6 loopback. */
function bindIPv6(ctx: Mocha.Context): NativeUdpSocket {
  try {
    return bind({ address: '::1', port: 0 });
  } catch (e) {
    const code = (e as UdpSocketError).code;
    if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') ctx.skip(); // no IPv6 here
    throw e;
  }
}

describe('net: native UDP socket', function () {
  before(function () {
    if (!NativeUdpSocket.supported) this.skip(); // the native socket exists on Linux only
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });

  it('delivers datagrams from many peers whole and in order per peer', async () => {
    const rx = bind({ address: '127.0.0.1', port: 0 });
    const { got, until } = collect(rx);
    const PEERS = 4;
    const N = 50;
    const senders = await Promise.all(
      Array.from({ length: PEERS }, () => dgramBound('udp4', '127.0.0.1')),
    );
    open.push(...senders);
    // Datagram j of peer p: [p, j, j, ...] with a length that varies with j.
    for (let j = 0; j < N; j++)
      for (const [p, s] of senders.entries())
        s.send(Buffer.alloc(20 + j * 7, j).fill(p, 0, 1), rx.address().port, '127.0.0.1');
    await until(PEERS * N);
    expect(got).to.have.length(PEERS * N);
    for (const [p, s] of senders.entries()) {
      const mine = got.filter((g) => g.from.port === s.address().port);
      expect(mine.map((g) => g.data[1])).to.deep.equal(Array.from({ length: N }, (_, j) => j));
      for (const [j, g] of mine.entries()) {
        expect(g.data.length).to.equal(20 + j * 7);
        expect(g.data[0]).to.equal(p);
        expect(g.from).to.deep.equal(local(s.address().port));
        expect(g.ecn).to.equal(0);
      }
    }
    expect(rx.stats.datagramsReceived).to.equal(PEERS * N);
    expect(rx.stats.recvSyscalls).to.be.greaterThan(0);
  });

  it('splits a GRO super-datagram into its segments with their exact lengths', async () => {
    const tx = bind({ address: '127.0.0.1', port: 0 });
    const rx = bind({ address: '127.0.0.1', port: 0 });
    const { got, until } = collect(rx);
    const lengths = [...new Array<number>(20).fill(1200), 777];
    const d = datagrams(lengths);
    expect(tx.send(d.buf, d.desc, d.count, [rx.address()])).to.equal(lengths.length);
    await until(lengths.length);
    expect(got.map((g) => g.data.length)).to.deep.equal(lengths);
    got.forEach((g, i) => expect(g.data.equals(Buffer.alloc(lengths[i]!, i))).to.equal(true));
    expect(got.every((g) => g.from.port === tx.address().port)).to.equal(true);
    // Loopback hands a GSO message to a GRO socket whole: the split happened natively.
    if (tx.stats.gso && rx.stats.gro) expect(rx.stats.groMessages).to.be.greaterThan(0);
  });

  it('sends GSO runs that plain node:dgram receivers count exactly', async () => {
    const tx = bind({ address: '127.0.0.1', port: 0 });
    const receivers = [
      await dgramBound('udp4', '127.0.0.1'),
      await dgramBound('udp4', '127.0.0.1'),
    ];
    open.push(...receivers);
    // Runs alternate between the two receivers and end on a peer change, on a shorter
    // datagram and on the 64-segment limit.
    const lengths: number[] = [];
    const peerOf: number[] = [];
    for (let run = 0; run < 6; run++)
      for (let k = 0; k < 70; k++) {
        lengths.push(k === 69 ? 300 : 1252);
        peerOf.push(run % 2);
      }
    const d = datagrams(lengths, (i) => peerOf[i]!);
    const count = [0, 0];
    const bytes = [0, 0];
    let total = 0;
    const done = new Promise<void>((resolve) =>
      receivers.forEach((rx, p) =>
        rx.on('message', (m) => {
          count[p]!++;
          bytes[p]! += m.length;
          if (++total === lengths.length) resolve();
        }),
      ),
    );
    const peers = receivers.map((rx) => local((rx.address() as { port: number }).port));
    expect(tx.send(d.buf, d.desc, d.count, peers)).to.equal(lengths.length);
    await done;
    for (const p of [0, 1]) {
      const mine = lengths.filter((_, i) => peerOf[i] === p);
      expect(count[p]).to.equal(mine.length);
      expect(bytes[p]).to.equal(mine.reduce((a, b) => a + b, 0));
    }
    const st = tx.stats;
    expect(st.datagramsSent).to.equal(lengths.length);
    expect(st.bytesSent).to.equal(bytes[0]! + bytes[1]!);
    if (st.gso) {
      // Per run of 70: one message of 64 segments and one of 5 + the shorter one.
      expect(st.gsoMessages).to.equal(12);
      expect(st.sendSyscalls).to.equal(1);
    }
  });

  it('never puts two peer indexes (flows) in one GSO message, even to one address', async function () {
    const tx = bind({ address: '127.0.0.1', port: 0 });
    if (!tx.stats.gso) this.skip(); // a kernel without UDP_SEGMENT: no GSO message to split
    const rx = bind({ address: '127.0.0.1', port: 0 });
    const { got, until } = collect(rx);
    // Three runs of 10 equal datagrams to one address, each run its own peer index.
    const d = datagrams(new Array<number>(30).fill(1000), (i) => Math.floor(i / 10));
    const peer = rx.address();
    expect(tx.send(d.buf, d.desc, d.count, [peer, { ...peer }, { ...peer }])).to.equal(30);
    await until(30);
    expect(got).to.have.length(30);
    expect(tx.stats.gsoMessages).to.equal(3);
  });

  it('queues under push-back, signals writable, and counts queue drops exactly', async () => {
    const DATAGRAMS = 20000;
    const BURST = 100;
    const SIZE = 1200;
    const tx = bind({
      address: '127.0.0.1',
      port: 0,
      sendBufferSize: 4096,
      sendQueueSize: 50 * SIZE,
    });
    const rx = await dgramBound('udp4', '127.0.0.1');
    open.push(rx);
    // Keep the receiver's buffer from overflowing: at most `window` datagrams in flight.
    const window = Math.max(20, Math.floor(rx.getRecvBufferSize() / 8192));
    let received = 0;
    let receivedBytes = 0;
    let progress: (() => void) | undefined;
    rx.on('message', (m) => {
      received++;
      receivedBytes += m.length;
      progress?.();
    });
    const port = (rx.address() as { port: number }).port;
    let writable: (() => void) | undefined;
    let writableEvents = 0;
    tx.onwritable = () => {
      writableEvents++;
      writable?.();
    };
    const d = datagrams(new Array<number>(BURST).fill(SIZE));
    let offered = 0;
    let accepted = 0;
    let blockedSeen = 0;
    let injections = 0;
    for (let burst = 0; offered < DATAGRAMS; burst++) {
      // Loopback never pushes a UDP sender back (its transmit path frees the send buffer at
      // once), so every 20th burst the kernel's EAGAIN is injected: twice, so that the first
      // flush from the writable callback is pushed back as well.
      if (burst % 20 === 0) {
        tx.injectEagain(2);
        injections++;
      }
      accepted += tx.send(d.buf, d.desc, BURST, [local(port)]);
      offered += BURST;
      if (tx.blocked) {
        blockedSeen++;
        // Sending on while blocked queues behind what waits (here: the queue is full).
        accepted += tx.send(d.buf, d.desc, BURST, [local(port)]);
        offered += BURST;
        await new Promise<void>((resolve) => (writable = resolve));
        expect(tx.blocked).to.equal(false);
      }
      while (accepted - received > window)
        await new Promise<void>((resolve) => (progress = resolve));
    }
    while (received < accepted) await new Promise<void>((resolve) => (progress = resolve));
    const st = tx.stats;
    expect(blockedSeen).to.equal(injections);
    expect(writableEvents).to.equal(blockedSeen);
    expect(st.eagain).to.equal(2 * blockedSeen);
    expect(st.queueDrops).to.equal(offered - accepted);
    expect(st.queueDrops).to.equal(blockedSeen * (2 * BURST - 50));
    expect(st.queued).to.equal(0);
    expect(st.datagramsSent).to.equal(accepted);
    expect(received).to.equal(accepted);
    expect(receivedBytes).to.equal(accepted * SIZE);
    expect(st.sendBufferSize).to.be.lessThan(64 * 1024);
  });

  it('speaks IPv6 on ::1', async function () {
    const tx = bindIPv6(this);
    const rx = bindIPv6(this);
    expect(rx.address()).to.include({ address: '::1', family: 'IPv6' });
    const { got, until } = collect(rx);
    const d = datagrams([100, 100, 50]);
    expect(tx.send(d.buf, d.desc, d.count, [rx.address()])).to.equal(3);
    await until(3);
    expect(got.map((g) => g.data.length)).to.deep.equal([100, 100, 50]);
    expect(got[0]!.from).to.deep.equal(local(tx.address().port, '::1'));
  });

  it("is dual stack on '::': IPv4 peers are reported and addressed as plain IPv4", async () => {
    const rx = bind({ address: '::', port: 0 });
    const { got, until } = collect(rx);
    const v4 = await dgramBound('udp4', '127.0.0.1');
    open.push(v4);
    const v4port = (v4.address() as { port: number }).port;
    v4.send(Buffer.from('ping'), rx.address().port, '127.0.0.1');
    await until(1);
    expect(got[0]!.from).to.deep.equal(local(v4port));
    expect(got[0]!.data.toString()).to.equal('ping');
    // And back: an IPv4 destination on the IPv6 socket (sent v4-mapped).
    const pong = new Promise<[Buffer, number]>((resolve) =>
      v4.once('message', (m, r) => resolve([m, r.port])),
    );
    const d = { buf: Buffer.from('pong'), desc: new Uint32Array([0, 4, 0, 0]) };
    expect(rx.send(d.buf, d.desc, 1, [got[0]!.from])).to.equal(1);
    const [msg, from] = await pong;
    expect(msg.toString()).to.equal('pong');
    expect(from).to.equal(rx.address().port);
    // An IPv6-only socket refuses IPv4 destinations.
    const only = bind({ address: '::', port: 0, ipv6Only: true });
    expect(() => only.send(d.buf, d.desc, 1, [local(v4port)])).to.throw(RangeError, /IPv6-only/);
  });

  it('carries ECN marks to a native receiver (IPv4, IPv6 and v4-mapped)', async function () {
    const marks = [2, 1, 3, 0, 2];
    const pairs: Array<[NativeUdpSocket, NativeUdpSocket, Address]> = [];
    const v4rx = bind({ address: '127.0.0.1', port: 0 });
    pairs.push([bind({ address: '127.0.0.1', port: 0 }), v4rx, v4rx.address()]);
    const dual = bind({ address: '::', port: 0 });
    pairs.push([dual, v4rx, v4rx.address()]);
    const v6rx = bindIPv6(this);
    pairs.push([bindIPv6(this), v6rx, v6rx.address()]);
    const v4 = collect(v4rx);
    const v6 = collect(v6rx);
    for (const [tx, , to] of pairs) {
      const d = datagrams(
        marks.map(() => 200),
        () => 0,
        (i) => marks[i]!,
      );
      expect(tx.send(d.buf, d.desc, d.count, [to])).to.equal(marks.length);
    }
    await v4.until(2 * marks.length);
    await v6.until(marks.length);
    for (const [tx, rx] of pairs) {
      const from = (rx === v4rx ? v4 : v6).got.filter((g) => g.from.port === tx.address().port);
      expect(from.map((g) => g.ecn)).to.deep.equal(marks);
    }
  });

  it('reports ICMP port unreachable as ECONNREFUSED naming the port, and keeps receiving', async () => {
    const tx = bind({ address: '127.0.0.1', port: 0 });
    const closed = await dgramBound('udp4', '127.0.0.1');
    const deadPort = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(resolve));
    const errors: UdpSocketError[] = [];
    const refused = new Promise<void>((resolve) => {
      tx.onerror = (e) => {
        errors.push(e);
        resolve();
      };
    });
    const d = datagrams([64]);
    expect(tx.send(d.buf, d.desc, 1, [local(deadPort)])).to.equal(1);
    await refused;
    expect(errors[0]).to.be.instanceOf(Error);
    expect(errors[0]).to.include({ code: 'ECONNREFUSED', address: '127.0.0.1', port: deadPort });
    expect(errors[0]!.message).to.include(`127.0.0.1:${deadPort}`);
    // The socket still receives afterwards.
    const { got, until } = collect(tx);
    const peer = await dgramBound('udp4', '127.0.0.1');
    open.push(peer);
    peer.send(Buffer.from('after'), tx.address().port, '127.0.0.1');
    await until(1);
    expect(got[0]!.data.toString()).to.equal('after');
  });

  it('reports a datagram the kernel refuses through onerror and sends the rest', async () => {
    const tx = bind({ address: '127.0.0.1', port: 0 });
    const rx = bind({ address: '127.0.0.1', port: 0 });
    const { got, until } = collect(rx);
    const error = new Promise<UdpSocketError>((resolve) => (tx.onerror = resolve));
    // 65,535 bytes do not fit an IPv4 UDP datagram (at most 65,507): EMSGSIZE, then the rest.
    const d = datagrams([100, 65535, 200]);
    expect(tx.send(d.buf, d.desc, d.count, [rx.address()])).to.equal(3);
    const err = await error;
    expect(err).to.include({ code: 'EMSGSIZE', address: '127.0.0.1', port: rx.address().port });
    await until(2);
    expect(got.map((g) => g.data.length)).to.deep.equal([100, 200]);
    expect(tx.stats).to.include({ sendErrors: 1, datagramsSent: 2 });
  });

  it('fails to bind a port in use with EADDRINUSE', async () => {
    const a = bind({ address: '127.0.0.1', port: 0 });
    const port = a.address().port;
    const err = (() => {
      try {
        bind({ address: '127.0.0.1', port });
      } catch (e) {
        return e as UdpSocketError & { syscall: string; errno: number };
      }
      return undefined;
    })();
    expect(err).to.be.instanceOf(Error);
    expect(err).to.include({ code: 'EADDRINUSE', syscall: 'bind', address: '127.0.0.1', port });
    expect(err!.errno).to.be.lessThan(0);
    // Two sockets that both ask for SO_REUSEPORT share the port.
    const r1 = bind({ address: '127.0.0.1', port: 0, reusePort: true });
    const r2 = bind({ address: '127.0.0.1', port: r1.address().port, reusePort: true });
    expect(r2.address().port).to.equal(r1.address().port);
  });

  it('checks its options', () => {
    const bad: Array<[unknown, ErrorConstructor]> = [
      [undefined, TypeError],
      [null, TypeError],
      [{ port: 0 }, TypeError],
      [{ address: '127.0.0.1' }, TypeError],
      [{ address: 'localhost', port: 0 }, RangeError],
      [{ address: '127.0.0.1', port: 65536 }, RangeError],
      [{ address: '127.0.0.1', port: 0, ipv6Only: 1 }, TypeError],
      [{ address: '127.0.0.1', port: 0, reusePort: 'yes' }, TypeError],
      [{ address: '127.0.0.1', port: 0, recvBufferSize: 0 }, RangeError],
      [{ address: '127.0.0.1', port: 0, sendBufferSize: '1' }, TypeError],
      [{ address: '127.0.0.1', port: 0, sendQueueSize: -1 }, RangeError],
    ];
    for (const [options, type] of bad)
      expect(() => bind(options as never), JSON.stringify(options)).to.throw(type);
  });

  describe('junk arguments', () => {
    const emit = (): void => {};
    let rx: NativeUdpSocket;
    let socket: NativeUdpSocket;
    let handle: unknown;
    let group: unknown;
    before(() => {
      group = nativeUdp.udpGroupBind('127.0.0.1', 0, false, 2, 65536, 65536);
      rx = NativeUdpSocket.bind({ address: '127.0.0.1', port: 0 });
      socket = NativeUdpSocket.bind({ address: '127.0.0.1', port: 0 });
      handle = (socket as unknown as { handle: unknown }).handle;
    });
    after(() => {
      socket.close();
      rx.close();
      nativeUdp.udpGroupClose(group as never);
    });
    const call = (fn: unknown) => (args: unknown[]) =>
      (fn as (...a: unknown[]) => unknown)(...args);
    const specs = (): JunkSpec[] => [
      {
        name: 'udpBind',
        params: [
          'address',
          'port',
          'ipv6Only',
          'reusePort',
          'recvBufferSize',
          'sendBufferSize',
          'sendQueueSize',
          'emit',
        ],
        valid: () => ['127.0.0.1', 0, false, false, 65536, 65536, 65536, emit],
        call: (args) => nativeUdp.udpClose(call(nativeUdp.udpBind)(args) as never),
      },
      {
        name: 'udpSend',
        params: ['socket', 'buf', 'desc', 'count', 'peers'],
        valid: () => [
          handle,
          new Uint8Array(64),
          new Uint32Array([0, 16, 0, 2, 16, 16, 1, 0]),
          2,
          [rx.address(), { address: '127.0.0.1', port: rx.address().port }],
        ],
        call: call(nativeUdp.udpSend),
      },
      {
        name: 'udpAdopt',
        params: ['fd', 'sendQueueSize', 'emit'],
        valid: () => [nativeUdp.udpGroupFds(group as never)[0], 65536, emit],
        call: (args) => nativeUdp.udpClose(call(nativeUdp.udpAdopt)(args) as never),
      },
      {
        name: 'udpGroupBind',
        params: ['address', 'port', 'ipv6Only', 'count', 'recvBufferSize', 'sendBufferSize'],
        valid: () => ['127.0.0.1', 0, false, 2, 65536, 65536],
        call: (args) => nativeUdp.udpGroupClose(call(nativeUdp.udpGroupBind)(args) as never),
      },
      {
        name: 'udpGroupFds',
        params: ['group'],
        valid: () => [group],
        call: call(nativeUdp.udpGroupFds),
      },
      {
        name: 'udpGroupSteer',
        params: ['group', 'program'],
        // A program of one instruction: return 0 (socket 0).
        valid: () => [group, new Uint32Array([0x06, 0])],
        call: call(nativeUdp.udpGroupSteer),
      },
      {
        name: 'udpAddress',
        params: ['socket'],
        valid: () => [handle],
        call: call(nativeUdp.udpAddress),
      },
      {
        name: 'udpBlocked',
        params: ['socket'],
        valid: () => [handle],
        call: call(nativeUdp.udpBlocked),
      },
      {
        name: 'udpStats',
        params: ['socket'],
        valid: () => [handle],
        call: call(nativeUdp.udpStats),
      },
      {
        name: 'udpRef',
        params: ['socket', 'ref'],
        valid: () => [handle, true],
        call: call(nativeUdp.udpRef),
      },
      {
        name: 'udpInjectEagain',
        params: ['socket', 'calls'],
        valid: () => [handle, 0],
        call: call(nativeUdp.udpInjectEagain),
      },
    ];

    // Descriptors and peers get junk of their own: each slot out of range, odd peer entries.
    function sendJunk(v: unknown): Array<[unknown, string]> {
      if (v instanceof Uint32Array) {
        const out: Array<[unknown, string]> = [];
        const bad = [64, 65, 2 ** 32 - 1, 65536, 2, 4, 2 ** 31];
        for (let slot = 0; slot < v.length; slot++)
          for (const x of bad) {
            const d = v.slice();
            d[slot] = x;
            out.push([d, `[${Array.from(d).join(',')}]`]);
          }
        out.push([new Uint32Array(3), 'Uint32Array(3)']);
        return out;
      }
      if (!Array.isArray(v)) return [];
      const entries: unknown[] = [
        null,
        7,
        'x',
        {},
        { address: 'localhost', port: 1 },
        { address: '::1', port: 1 },
        { address: '127.0.0.1', port: 0 },
        { address: '127.0.0.1', port: 65536 },
        { address: '127.0.0.1', port: '1' },
        { address: 42, port: 1 },
        { address: 'x'.repeat(100), port: 1 },
      ];
      const out: Array<[unknown, string]> = entries.map((e) => [[v[0], e], `[ok, ${String(e)}]`]);
      out.push([[v[0]], 'one peer'], [[], 'no peers']);
      return out;
    }

    for (const name of [
      'udpBind',
      'udpSend',
      'udpAddress',
      'udpBlocked',
      'udpStats',
      'udpRef',
      'udpInjectEagain',
      'udpAdopt',
      'udpGroupBind',
      'udpGroupFds',
      'udpGroupSteer',
    ])
      it(`${name}: junk in every argument`, () => {
        const spec = specs().find((s) => s.name === name)!;
        spec.call(spec.valid()); // the valid call itself works
        // An fd that is no UDP socket, a program the kernel refuses, a port in use: their own
        // errors (with the system call's code), never a crash.
        const tolerated = (err: Error): boolean =>
          /not a UDP socket|EBADF|EINVAL|EADDRINUSE|EACCES|EADDRNOTAVAIL/.test(
            `${err.message} ${(err as { code?: string }).code}`,
          );
        junkEachArgument(
          spec,
          JUNK,
          (args, what) => expectNamedError(spec, args, what, tolerated),
          sendJunk,
        );
      });

    it('udpClose and foreign handles', () => {
      const aead = native.aeadNew('aes-128-gcm', new Uint8Array(16));
      for (const j of [...JUNK, aead])
        expect(() => nativeUdp.udpClose(j as never)).to.throw(TypeError, /socket/);
      expect(() => nativeUdp.udpStats(aead as never)).to.throw(TypeError, /socket/);
      native.aeadDestroy(aead);
    });

    it('peers whose getters throw, close the socket or detach the buffer', () => {
      const ab = new ArrayBuffer(64);
      const desc = new Uint32Array([0, 16, 0, 0]);
      const withGetter = (get: () => unknown): unknown[] => {
        const peers: unknown[] = [];
        Object.defineProperty(peers, 0, { get });
        return peers;
      };
      const throwing = withGetter(() => {
        throw new Error('getter threw');
      });
      expect(() => socket.send(new Uint8Array(ab), desc, 1, throwing as never)).to.throw(
        Error,
        'getter threw',
      );
      const detaching = withGetter(() => {
        structuredClone(ab, { transfer: [ab] });
        return rx.address();
      });
      expect(() => socket.send(new Uint8Array(ab), desc, 1, detaching as never)).to.throw(
        TypeError,
        /buf/,
      );
      const victim = NativeUdpSocket.bind({ address: '127.0.0.1', port: 0 });
      const closing = withGetter(() => {
        victim.close();
        return rx.address();
      });
      expect(() => victim.send(new Uint8Array(64), desc, 1, closing as never)).to.throw(
        Error,
        /closed/,
      );
    });

    it('a peer getter that sends on the same socket: both sends go out whole', async () => {
      // udpSend keeps its per-call scratch by thread; a send made while reading the peers of
      // another takes its own, and the outer one's datagrams and destinations stay intact.
      // (A socket of its own: the junk calls above left injected EAGAINs on `socket`.)
      const tx = bind({ address: '127.0.0.1', port: 0 });
      const sink = bind({ address: '127.0.0.1', port: 0 });
      const r = collect(sink);
      const inner = datagrams([10, 20]);
      const outer = datagrams([30, 40, 50], (i) => (i < 2 ? 0 : 1));
      const peers: unknown[] = [sink.address()];
      Object.defineProperty(peers, 1, {
        get: () => {
          expect(tx.send(inner.buf, inner.desc, inner.count, [sink.address()])).to.equal(2);
          return sink.address();
        },
      });
      expect(tx.send(outer.buf, outer.desc, outer.count, peers as never)).to.equal(3);
      await r.until(5);
      expect(r.got.map((g) => g.data.length)).to.deep.equal([10, 20, 30, 40, 50]);
      expect(r.got.map((g) => g.data[0])).to.deep.equal([0, 1, 0, 1, 2]);
    });
  });

  describe('in a worker thread', () => {
    // The addon as lib/crypto/native.ts loads it; the worker requires it directly.
    const addonPath =
      process.env['ZQUIC_ADDON'] ??
      (createRequire(import.meta.url)('bindings') as (o: object) => string)({
        bindings: 'zquic',
        path: true,
      });
    /** Runs `body` (CommonJS, `a` = the addon, `post` = postMessage) in a worker. */
    function worker(body: string): Worker {
      const code = `const { parentPort, workerData } = require('node:worker_threads');
        const a = require(workerData); const post = (m) => parentPort.postMessage(m);
        ${body}`;
      return new Worker(code, { eval: true, workerData: addonPath });
    }
    const poke = async (port: number): Promise<void> => {
      const s = await dgramBound('udp4', '127.0.0.1');
      open.push(s);
      s.send(Buffer.from('poke'), port, '127.0.0.1');
    };

    it('an exception thrown by a callback is an uncaught exception, not swallowed', async () => {
      const w = worker(`const h = a.udpBind('127.0.0.1', 0, false, false, 65536, 65536, 65536,
          (kind) => { if (kind === 0) throw new Error('thrown by onbatch'); });
        post(a.udpAddress(h).port);`);
      w.once('message', (port: number) => void poke(port));
      const err = await new Promise<Error>((resolve) => w.once('error', resolve));
      expect(err.message).to.equal('thrown by onbatch');
      await new Promise((resolve) => w.once('exit', resolve));
    });

    it('a socket left open is closed when its environment goes away', async () => {
      const w = worker(`const h = a.udpBind('127.0.0.1', 0, false, false, 65536, 65536, 65536,
          (kind) => { if (kind === 0) post('got'); });
        post(a.udpAddress(h).port);`);
      const port = await new Promise<number>((resolve) => w.once('message', resolve));
      await poke(port);
      expect(await new Promise((resolve) => w.once('message', resolve))).to.equal('got');
      // A handle still open at teardown would make the worker's loop close abort the process.
      expect(await w.terminate()).to.equal(1);
      const again = bind({ address: '127.0.0.1', port }); // the port is free again
      expect(again.address().port).to.equal(port);
    });

    it('an unref()ed socket does not keep its event loop alive', async () => {
      const w = worker(`const h = a.udpBind('127.0.0.1', 0, false, false, 65536, 65536, 65536,
          () => {});
        a.udpRef(h, false);`);
      expect(await new Promise((resolve) => w.once('exit', resolve))).to.equal(0);
    });
  });

  it('closes idempotently; a send after close throws a clear Error', () => {
    const s = NativeUdpSocket.bind({ address: '127.0.0.1', port: 0 });
    s.unref();
    s.ref();
    s.close();
    s.close();
    const d = datagrams([10]);
    expect(() => s.send(d.buf, d.desc, 1, [local(9)])).to.throw(
      Error,
      'send on a closed UDP socket',
    );
    expect(() => s.address()).to.throw(Error, /destroyed/);
    expect(s.stats.datagramsSent).to.equal(0);
    expect(s.blocked).to.equal(false);
    s.unref(); // no-op once closed
  });
});
