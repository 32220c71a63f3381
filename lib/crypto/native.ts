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
}

const require = createRequire(import.meta.url);
const override = process.env['ZQUIC_ADDON'];

/** Every export of the addon, untyped (other native files declare their own views of it). */
export const addon: Record<string, unknown> = override
  ? require(override)
  : require('bindings')('zquic');

/** The addon's symmetric-crypto exports, typed. */
export const native = addon as unknown as NativeAddon;
