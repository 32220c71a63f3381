// The only place that loads the native addon. ZQUIC_ADDON may point at another build of it
// (e.g. the ASan build made by `npm run test:asan`).
import { createRequire } from 'node:module';

/** Opaque native handle (an N-API External tagged with its kind). */
export type NativeHandle = { readonly __nativeHandle: unique symbol };

/** The addon's exports owned by the symmetric-crypto layer (native/*.cc). */
export interface NativeAddon {
  hkdfExtract(hash: string, salt: Uint8Array, ikm: Uint8Array): Buffer;
  hkdfExpand(hash: string, prk: Uint8Array, info: Uint8Array, length: number): Buffer;
  hkdfExpandLabel(
    hash: string,
    secret: Uint8Array,
    label: string,
    context: Uint8Array,
    length: number,
  ): Buffer;

  aeadNew(algorithm: string, key: Uint8Array): NativeHandle;
  aeadSeal(aead: NativeHandle, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer;
  aeadOpen(
    aead: NativeHandle,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
  ): Buffer | null;
  aeadDestroy(aead: NativeHandle): void;

  packetKeyNew(suite: number, secret: Uint8Array, labelPrefix: string): NativeHandle;
  packetKeyNext(key: NativeHandle): NativeHandle;
  packetKeyDestroy(key: NativeHandle): void;
  packetProtect(
    key: NativeHandle,
    buf: Uint8Array,
    start: number,
    headerLength: number,
    pnLength: number,
    payloadLength: number,
    packetNumber: number,
  ): number;
  packetUnprotect(
    key: NativeHandle,
    buf: Uint8Array,
    start: number,
    pnOffset: number,
    end: number,
    largestPn: number,
    expectedKeyPhase: number | undefined,
  ): number;
  packetOpen(
    key: NativeHandle,
    buf: Uint8Array,
    start: number,
    headerLength: number,
    end: number,
    packetNumber: number,
  ): boolean;
  packetProtectBatch(
    keys: NativeHandle[],
    slab: Uint8Array,
    desc: Float64Array,
    count: number,
  ): void;
  packetUnprotectBatch(
    keys: NativeHandle[],
    slab: Uint8Array,
    desc: Float64Array,
    count: number,
    results: Float64Array,
  ): void;
  /** Benchmark ceiling: protects the same packet `iterations` times without leaving C++. */
  benchProtectLoop(
    key: NativeHandle,
    buf: Uint8Array,
    start: number,
    headerLength: number,
    pnLength: number,
    payloadLength: number,
    iterations: number,
  ): void;

  x25519KeyPair(): { privateKey: Buffer; publicKey: Buffer };
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Buffer;

  /** glibc malloc_trim(0) (native/memory.cc): true if memory went back to the system. */
  mallocTrim(): boolean;
}

/** Counters of a native UDP socket (udpStats). */
export interface NativeUdpStats {
  datagramsSent: number;
  bytesSent: number;
  datagramsReceived: number;
  bytesReceived: number;
  sendSyscalls: number;
  recvSyscalls: number;
  /** Messages sent with UDP_SEGMENT (more than one datagram each). */
  gsoMessages: number;
  /** Received messages the kernel had coalesced (UDP_GRO), split again natively. */
  groMessages: number;
  /** Sends the kernel pushed back (EAGAIN / ENOBUFS). */
  eagain: number;
  /** Datagrams in the native queue now. */
  queued: number;
  /** Datagrams refused because the native queue was full. */
  queueDrops: number;
  /** Datagrams the kernel rejected (reported through the error callback). */
  sendErrors: number;
  /** Received datagrams dropped because they did not fit (never expected). */
  truncated: number;
  /** SO_RCVBUF / SO_SNDBUF as granted by the kernel. */
  recvBufferSize: number;
  sendBufferSize: number;
  /** Whether the kernel takes UDP_SEGMENT (GSO) / UDP_GRO on this socket. */
  gso: boolean;
  gro: boolean;
}

/** The addon's native UDP socket exports (native/udp_*.cc; Linux only: udpSupported). */
export interface NativeUdpAddon {
  udpSupported: boolean;
  /** emit(kind, ...): 0 = batch (buffer, desc, count, peers), 1 = writable, 2 = error (err). */
  udpBind(
    address: string,
    port: number,
    ipv6Only: boolean,
    reusePort: boolean,
    recvBufferSize: number,
    sendBufferSize: number,
    sendQueueSize: number,
    emit: (kind: number, ...args: unknown[]) => void,
  ): NativeHandle;
  udpSend(
    socket: NativeHandle,
    buf: Uint8Array,
    desc: Uint32Array,
    count: number,
    peers: readonly { address: string; port: number }[],
  ): number;
  udpAddress(socket: NativeHandle): { address: string; port: number; family: 'IPv4' | 'IPv6' };
  udpBlocked(socket: NativeHandle): boolean;
  udpStats(socket: NativeHandle): NativeUdpStats;
  udpRef(socket: NativeHandle, ref: boolean): void;
  udpClose(socket: NativeHandle): void;
  /** Test seam: the next `calls` send system calls report EAGAIN without being made. */
  udpInjectEagain(socket: NativeHandle, calls: number): void;
  /** Polls a duplicate of `fd`, a member of a reuseport group of this process. */
  udpAdopt(
    fd: number,
    sendQueueSize: number,
    emit: (kind: number, ...args: unknown[]) => void,
  ): NativeHandle;
  /** `count` SO_REUSEPORT sockets bound to one address, held until udpGroupClose. */
  udpGroupBind(
    address: string,
    port: number,
    ipv6Only: boolean,
    count: number,
    recvBufferSize: number,
    sendBufferSize: number,
  ): NativeHandle;
  /** The members' fds in the kernel's order (the index a steering program returns). */
  udpGroupFds(group: NativeHandle): number[];
  /** Attaches a classic BPF program ([code | jt << 16 | jf << 24, k] per instruction). */
  udpGroupSteer(group: NativeHandle, program: Uint32Array): void;
  udpGroupClose(group: NativeHandle): void;
}

const require = createRequire(import.meta.url);
const override = process.env['ZQUIC_ADDON'];

/** Every export of the addon, untyped (other native files declare their own views of it). */
export const addon: Record<string, unknown> = override
  ? require(override)
  : require('bindings')('zquic');

/** The addon's symmetric-crypto exports, typed. */
export const native = addon as unknown as NativeAddon;

/** The addon's native UDP socket exports, typed (udpSupported is false off Linux). */
export const nativeUdp = addon as unknown as NativeUdpAddon;
