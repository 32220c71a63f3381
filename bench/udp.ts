/**
 * Loopback UDP throughput, 1,252-byte datagrams, sender and receiver in this one process:
 * the native batched socket (lib/net/udp-socket.ts: sendmmsg + GSO, recvmmsg + GRO) against
 * node:dgram (one system call and one callback per datagram). The sender keeps at most a
 * receive buffer's worth in flight, so that drops measure nothing but the receiver's buffer.
 * Prints one JSON line per figure, then a table. Run: npm run bench:udp
 */
import { createSocket, type Socket } from 'node:dgram';

import { NativeUdpSocket } from '../lib/net/udp-socket.js';

const DATAGRAMS = 200_000;
const SIZE = 1252;
/** Datagrams per send call (what one endpoint flush typically hands over). */
const BURST = 64;
/** Silence after which the receiver is taken to have all it will get. */
const IDLE_MS = 300;

interface Figure {
  name: string;
  sent: number;
  received: number;
  datagramsPerSecond: number;
  sendSyscallsPerDatagram: number | null;
  recvSyscallsPerDatagram: number | null;
}

/** Counts what arrives; `settled(n)` resolves once n arrived or nothing came for IDLE_MS. */
class Counter {
  received = 0;
  private wake: (() => void) | undefined;
  add(n: number): void {
    this.received += n;
    this.wake?.();
  }
  next(): Promise<void> {
    return new Promise((resolve) => (this.wake = resolve));
  }
  async settled(n: number): Promise<void> {
    while (this.received < n) {
      const before = this.received;
      await Promise.race([this.next(), new Promise((r) => setTimeout(r, IDLE_MS))]);
      if (this.received === before) return;
    }
  }
}

async function runNative(): Promise<Figure> {
  const tx = NativeUdpSocket.bind({ address: '127.0.0.1', port: 0 });
  const rx = NativeUdpSocket.bind({ address: '127.0.0.1', port: 0 });
  const window = Math.floor(rx.stats.recvBufferSize / 4096);
  const counter = new Counter();
  rx.onbatch = (b) => counter.add(b.count);
  let writable: (() => void) | undefined;
  tx.onwritable = () => writable?.();
  const buf = Buffer.alloc(SIZE * BURST, 0x5a);
  const desc = new Uint32Array(BURST * 4);
  for (let i = 0; i < BURST; i++) desc.set([i * SIZE, SIZE, 0, 0], i * 4);
  const peers = [rx.address()];
  let sent = 0;
  const t0 = process.hrtime.bigint();
  while (sent < DATAGRAMS) {
    while (sent - counter.received > window) await counter.next();
    sent += tx.send(buf, desc, BURST, peers);
    if (tx.blocked) await new Promise<void>((r) => (writable = r));
  }
  await counter.settled(sent);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const txs = tx.stats;
  const rxs = rx.stats;
  tx.close();
  rx.close();
  return {
    name: `native (gso ${txs.gso}, gro ${rxs.gro})`,
    sent,
    received: counter.received,
    datagramsPerSecond: Math.round(counter.received / seconds),
    sendSyscallsPerDatagram: txs.sendSyscalls / txs.datagramsSent,
    recvSyscallsPerDatagram: rxs.recvSyscalls / rxs.datagramsReceived,
  };
}

function dgram(): Promise<Socket> {
  return new Promise((resolve) => {
    const s = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

async function runDgram(): Promise<Figure> {
  const tx = await dgram();
  const rx = await dgram();
  const window = Math.floor(rx.getRecvBufferSize() / 4096);
  const counter = new Counter();
  rx.on('message', () => counter.add(1));
  const port = (rx.address() as { port: number }).port;
  const datagram = Buffer.alloc(SIZE, 0x5a);
  let sent = 0;
  const t0 = process.hrtime.bigint();
  while (sent < DATAGRAMS) {
    while (sent - counter.received > window) await counter.next();
    for (let i = 0; i < BURST; i++) tx.send(datagram, port, '127.0.0.1');
    sent += BURST;
  }
  await counter.settled(sent);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  tx.close();
  rx.close();
  return {
    name: 'node:dgram',
    sent,
    received: counter.received,
    datagramsPerSecond: Math.round(counter.received / seconds),
    sendSyscallsPerDatagram: null, // node:dgram does not count its system calls
    recvSyscallsPerDatagram: null,
  };
}

const figures: Figure[] = [];
if (NativeUdpSocket.supported) figures.push(await runNative());
else console.error('the native UDP socket is not available here (Linux only)');
figures.push(await runDgram());
for (const f of figures) console.log(JSON.stringify(f));
const num = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(4));
console.log(
  '\nsocket                          sent   received   datagrams/s  send sc/dg  recv sc/dg',
);
for (const f of figures)
  console.log(
    `${f.name.padEnd(28)} ${String(f.sent).padStart(8)} ${String(f.received).padStart(10)} ` +
      `${String(f.datagramsPerSecond).padStart(13)} ${num(f.sendSyscallsPerDatagram).padStart(11)} ` +
      `${num(f.recvSyscallsPerDatagram).padStart(11)}`,
  );
