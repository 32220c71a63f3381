// The datagram transports an endpoint runs on, behind one interface: the addon's batched socket
// (udp-socket.ts: recvmmsg/GRO, sendmmsg/GSO; Linux) and node:dgram (elsewhere, or on request).
// Both hand over what one read brought as a UdpBatch (udp-socket.ts) and take a whole batch per
// send().
import { createSocket, type Socket } from 'node:dgram';

import type { Address } from '../quic/connection.js';
import { NativeUdpSocket, type UdpBatch } from './udp-socket.js';

/** A socket error about a peer (an ICMP error, e.g. 'ECONNREFUSED'), or about the socket. */
export type TransportError = Error & { code?: string; address?: string; port?: number };

export interface Transport {
  onbatch: (batch: UdpBatch) => void;
  /** The transport accepts datagrams again after `blocked`. */
  onwritable: () => void;
  onerror: (err: TransportError) => void;
  address(): Address;
  /** Sends `count` datagrams ([offset, length, peerIndex, ecn] × count in `desc`, into `buf`,
   * not kept) and returns how many it accepted (fewer only when its queue is full). */
  send(buf: Uint8Array, desc: Uint32Array, count: number, peers: readonly Address[]): number;
  /** Datagrams are waiting for the kernel: stop producing until onwritable. */
  readonly blocked: boolean;
  /** Which implementation this is. */
  readonly kind: 'native' | 'dgram';
  /** Datagrams carry the ECN codepoint of their send() descriptor (node:dgram cannot). */
  readonly ecn: boolean;
  close(): Promise<void>;
}

export interface TransportOptions {
  io: 'auto' | 'native' | 'dgram';
  host: string;
  port: number;
  recvBufferSize: number;
  sendBufferSize: number;
}

/** Binds a transport of the requested kind ('auto': native where the addon has it). */
export async function bindTransport(o: TransportOptions): Promise<Transport> {
  if (o.io === 'native' && !NativeUdpSocket.supported)
    throw new Error("io 'native' is not available here (the addon's UDP socket needs Linux)");
  if (o.io !== 'dgram' && NativeUdpSocket.supported) {
    const socket = NativeUdpSocket.bind({
      address: o.host,
      port: o.port,
      recvBufferSize: o.recvBufferSize,
      sendBufferSize: o.sendBufferSize,
    });
    return new NativeTransport(socket);
  }
  return DgramTransport.bind(o);
}

/** The native transport on a duplicate of `fd`, a member of a reuseport group. */
export function adoptTransport(fd: number): Transport {
  return new NativeTransport(NativeUdpSocket.adopt(fd));
}

const noop = (): void => {};

/** The addon's socket as a Transport. */
class NativeTransport implements Transport {
  readonly kind = 'native';
  readonly ecn = true;
  onbatch: (batch: UdpBatch) => void = noop;
  onwritable: () => void = noop;
  onerror: (err: TransportError) => void = noop;

  constructor(private readonly socket: NativeUdpSocket) {
    socket.onbatch = (b) => this.onbatch(b);
    socket.onwritable = () => this.onwritable();
    socket.onerror = (e) => this.onerror(e);
  }

  address(): Address {
    return this.socket.address();
  }

  send(buf: Uint8Array, desc: Uint32Array, count: number, peers: readonly Address[]): number {
    return this.socket.send(buf, desc, count, peers);
  }

  get blocked(): boolean {
    return this.socket.blocked;
  }

  close(): Promise<void> {
    this.socket.close();
    return Promise.resolve();
  }
}

/** Datagrams node:dgram may hold before we stop producing (it queues without bound). */
const MAX_SEND_QUEUE = 4096;

/** node:dgram as a Transport: one datagram per batch; send() copies the batch once into a
 * Buffer node:dgram may hold until the datagrams are out (ARCHITECTURE.md, "Buffer ownership"). */
class DgramTransport implements Transport {
  readonly kind = 'dgram';
  readonly ecn = false;
  onbatch: (batch: UdpBatch) => void = noop;
  onwritable: () => void = noop;
  onerror: (err: TransportError) => void = noop;
  private readonly one = new Uint32Array(4);
  private waiting: NodeJS.Immediate | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('message', (msg, rinfo) => {
      this.one[1] = msg.length;
      const family = rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4';
      const peer = { address: rinfo.address, port: rinfo.port, family } as const;
      this.onbatch({ buffer: msg, desc: this.one, count: 1, peers: [peer] });
    });
    socket.on('error', (err) => this.onerror(err));
  }

  static async bind(o: TransportOptions): Promise<DgramTransport> {
    const type = o.host.includes(':') ? 'udp6' : 'udp4';
    const { recvBufferSize, sendBufferSize } = o;
    const socket = createSocket({ type, recvBufferSize, sendBufferSize });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(o.port, o.host, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      socket.close();
      throw err;
    });
    return new DgramTransport(socket);
  }

  address(): Address {
    const a = this.socket.address();
    return { address: a.address, port: a.port, family: a.family === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  send(buf: Uint8Array, desc: Uint32Array, count: number, peers: readonly Address[]): number {
    if (count === 0) return 0;
    const base = desc[0]!;
    const last = 4 * (count - 1);
    const copy = Buffer.from(buf.subarray(base, desc[last]! + desc[last + 1]!));
    for (let i = 0; i < 4 * count; i += 4) {
      const peer = peers[desc[i + 2]!]!;
      const off = desc[i]! - base;
      this.socket.send(copy.subarray(off, off + desc[i + 1]!), peer.port, peer.address);
    }
    return count;
  }

  /** node:dgram tells nothing when its queue drains: look again after each I/O phase. */
  get blocked(): boolean {
    if (this.socket.getSendQueueCount() <= MAX_SEND_QUEUE) return false;
    this.waiting ??= setImmediate(() => this.poll());
    return true;
  }

  private poll(): void {
    this.waiting = undefined;
    if (!this.blocked) this.onwritable();
  }

  close(): Promise<void> {
    if (this.waiting) clearImmediate(this.waiting);
    // Let sends queued this tick (dgram resolves addresses on the next tick) go out first.
    return new Promise((resolve) =>
      setImmediate(() => {
        try {
          this.socket.close(() => resolve());
        } catch {
          resolve();
        }
      }),
    );
  }
}
