// NativeUdpSocket: the addon's batched UDP socket (native/udp_socket.cc, Linux). Datagrams move
// in batches: one callback per poll wake-up with everything read (recvmmsg, GRO segments split),
// one call per send burst (sendmmsg with UDP_SEGMENT runs). ECN rides along per datagram
// (RFC 9000 §13.4); ICMP errors arrive through onerror.
import { nativeUdp, type NativeHandle, type NativeUdpStats } from '../crypto/native.js';
import type { Address } from '../quic/connection.js';

/** One wake-up's datagrams. `buffer` is fresh for every batch (JS may keep views into it);
 * `desc` holds count × 4 uint32: [offset, length, peerIndex, ecn] (ecn = IP TOS low 2 bits); GRO
 * super-datagrams are already split into their segments. `peers[i]` is the sender of datagrams
 * with peerIndex i. Datagrams from one peer keep their arrival order. */
export interface UdpBatch {
  buffer: Buffer;
  desc: Uint32Array;
  count: number;
  peers: Address[];
}

export interface UdpSocketOptions {
  /** '::', '0.0.0.0' or another IP literal (no DNS). */
  address: string;
  /** 0 = any. */
  port: number;
  /** Default false: '::' is dual stack (v4-mapped peers are reported as plain IPv4). */
  ipv6Only?: boolean;
  /** SO_REUSEPORT. */
  reusePort?: boolean;
  /** SO_RCVBUF asked for (default 4 MiB; stats.recvBufferSize says what the kernel granted). */
  recvBufferSize?: number;
  /** SO_SNDBUF asked for (default 4 MiB). */
  sendBufferSize?: number;
  /** Bytes of datagrams queued natively while the kernel pushes back (default 4 MiB). */
  sendQueueSize?: number;
}

export type UdpSocketStats = NativeUdpStats;

export type UdpSocketError = Error & { code: string; address?: string; port?: number };

const DEFAULT_BUFFER = 4 * 1024 * 1024;

/** The kinds native code passes to emit (UdpSocket::Kind in native/udp_socket.h). */
const EMIT = { batch: 0, writable: 1, error: 2 } as const;

function optionalBoolean(v: unknown, name: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new TypeError(`options.${name} must be a boolean`);
  return v;
}

function optionalSize(v: unknown, name: string): number {
  if (v === undefined) return DEFAULT_BUFFER;
  if (typeof v !== 'number') throw new TypeError(`options.${name} must be a number`);
  return v; // range-checked natively
}

export class NativeUdpSocket {
  /** True on Linux when the addon has the socket. */
  static get supported(): boolean {
    return nativeUdp.udpSupported === true;
  }

  /** Creates and binds synchronously; throws an Error with Node-style `code` ('EADDRINUSE',
   * 'EACCES', 'EAFNOSUPPORT', ...) and `syscall`; TypeError/RangeError for bad options. */
  static bind(options: UdpSocketOptions): NativeUdpSocket {
    if (typeof options !== 'object' || options === null)
      throw new TypeError('options must be an object');
    if (!NativeUdpSocket.supported)
      throw new Error('the native UDP socket is not available (Linux only)');
    if (typeof options.address !== 'string')
      throw new TypeError('options.address must be a string');
    if (typeof options.port !== 'number') throw new TypeError('options.port must be a number');
    return new NativeUdpSocket((emit) =>
      nativeUdp.udpBind(
        options.address,
        options.port,
        optionalBoolean(options.ipv6Only, 'ipv6Only'),
        optionalBoolean(options.reusePort, 'reusePort'),
        optionalSize(options.recvBufferSize, 'recvBufferSize'),
        optionalSize(options.sendBufferSize, 'sendBufferSize'),
        optionalSize(options.sendQueueSize, 'sendQueueSize'),
        emit,
      ),
    );
  }

  /** Polls its own duplicate of `fd`, a member of a UdpGroup (udp-group.ts) of this process,
   * typically handed to a worker thread; the group keeps the original. Throws when `fd` is not
   * a UDP socket. */
  static adopt(fd: number, options: { sendQueueSize?: number } = {}): NativeUdpSocket {
    if (!NativeUdpSocket.supported)
      throw new Error('the native UDP socket is not available (Linux only)');
    const queue = optionalSize(options.sendQueueSize, 'sendQueueSize');
    return new NativeUdpSocket((emit) => nativeUdp.udpAdopt(fd, queue, emit));
  }

  /** Called once per poll wake-up with everything read. */
  onbatch: (batch: UdpBatch) => void = () => {};
  /** Called when queued datagrams have all gone out and the socket accepts more. */
  onwritable: () => void = () => {};
  /** ICMP errors (e.g. 'ECONNREFUSED' naming the destination's address and port) and other
   * socket errors; never thrown from the poll callback. */
  onerror: (err: UdpSocketError) => void = () => {};

  private readonly handle: NativeHandle;
  private closed = false;
  private static open = 0;

  private constructor(open: (emit: (kind: number, ...args: unknown[]) => void) => NativeHandle) {
    this.handle = open((kind, a, b, c, d) => this.emit(kind, a, b, c, d));
    NativeUdpSocket.open++;
  }

  private emit(kind: number, a: unknown, b: unknown, c: unknown, d: unknown): void {
    if (kind === EMIT.batch)
      this.onbatch({
        buffer: a as Buffer,
        desc: b as Uint32Array,
        count: c as number,
        peers: d as Address[],
      });
    else if (kind === EMIT.writable) this.onwritable();
    else if (kind === EMIT.error) this.onerror(a as UdpSocketError);
  }

  address(): Address {
    return nativeUdp.udpAddress(this.handle);
  }

  /** Sends `count` datagrams described by `desc` (count × 4 uint32: [offset, length,
   * peerIndex, ecn] into `buf`) to `peers[peerIndex]`. Runs with one peer index, one ecn and
   * one length (the last may be shorter) go out as one GSO message: give each connection its
   * own index (on loopback a GSO message arrives whole, and a reuseport group steers it by its
   * first datagram). While the kernel pushes back
   * the rest is copied into a bounded native queue (then `blocked` is true until onwritable).
   * Returns how many datagrams were accepted (sent or queued): fewer than count only when the
   * queue is full. `buf` is not retained. */
  send(buf: Uint8Array, desc: Uint32Array, count: number, peers: readonly Address[]): number {
    return nativeUdp.udpSend(this.handle, buf, desc, count, peers);
  }

  /** True while datagrams are queued natively (stop producing until onwritable). */
  get blocked(): boolean {
    return nativeUdp.udpBlocked(this.handle);
  }

  get stats(): UdpSocketStats {
    return nativeUdp.udpStats(this.handle);
  }

  /** Keeps the event loop alive while open (the default, like node:dgram). */
  ref(): void {
    nativeUdp.udpRef(this.handle, true);
  }

  unref(): void {
    nativeUdp.udpRef(this.handle, false);
  }

  /** Stops polling and closes the socket; idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    NativeUdpSocket.open--;
    nativeUdp.udpClose(this.handle);
  }

  /** Sockets of this process bound and not closed yet (to check that nothing leaks). */
  static get openCount(): number {
    return NativeUdpSocket.open;
  }

  /** Test seam: the next `calls` send system calls report EAGAIN without being made (a
   * loopback sender is never pushed back by the kernel). */
  injectEagain(calls: number): void {
    nativeUdp.udpInjectEagain(this.handle, calls);
  }
}
