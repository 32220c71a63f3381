// What every ML-KEM backend provides (internal to lib/crypto), and the FIPS 203 parameter sets.
import { addon, type NativeHandle } from './native.js';

export type MlKemParameterSet = 'ML-KEM-512' | 'ML-KEM-768' | 'ML-KEM-1024';
export type KemBackendName = 'liboqs' | 'openssl' | 'liboqs-wasm';

/** FIPS 203 §8, Table 3: byte lengths per parameter set (k = module rank). */
export interface KemParams {
  readonly name: MlKemParameterSet;
  readonly k: 2 | 3 | 4;
  readonly ek: number; // 384k + 32
  readonly dk: number; // 768k + 96
  readonly ct: number; // 32 (du k + dv)
}

export const KEM_PARAMS: Readonly<Record<MlKemParameterSet, KemParams>> = {
  'ML-KEM-512': { name: 'ML-KEM-512', k: 2, ek: 800, dk: 1632, ct: 768 },
  'ML-KEM-768': { name: 'ML-KEM-768', k: 3, ek: 1184, dk: 2400, ct: 1088 },
  'ML-KEM-1024': { name: 'ML-KEM-1024', k: 4, ek: 1568, dk: 3168, ct: 1568 },
};

export const SEED_LENGTH = 64; // d ‖ z
export const COINS_LENGTH = 32; // m

/** A private key held by a backend; decapsulation without re-importing the key. */
export interface KemKeyPairImpl {
  readonly encapsulationKey: Buffer;
  decapsulate(ciphertext: Uint8Array): Buffer;
  destroy(): void;
}

/** One ML-KEM implementation. Arguments arrive already type- and length-checked, ek already
 * checked per FIPS 203 §7.2; a decapsulation key failing §7.3 makes decapsulate throw. */
export interface KemBackendImpl {
  readonly name: KemBackendName;
  /** Why the backend cannot be used here, or undefined when it can. */
  readonly unavailable: string | undefined;
  /** Whether keygen/encapsulate accept the FIPS 203 internal randomness (d ‖ z, m). */
  readonly deterministic: boolean;
  readonly version: string | undefined;
  keygen(p: KemParams, seed: Uint8Array | undefined): [Buffer, Buffer];
  encapsulate(p: KemParams, ek: Uint8Array, m: Uint8Array | undefined): [Buffer, Buffer];
  decapsulate(p: KemParams, dk: Uint8Array, ct: Uint8Array): Buffer;
  generateKeyPair(p: KemParams, seed: Uint8Array | undefined): KemKeyPairImpl;
}

/** The addon's ML-KEM exports (native/mlkem*.cc). Backend-specific ones may be absent. */
export interface KemNative {
  mlkemCheckEncapsulationKey(k: number, ek: Uint8Array): boolean;
  mlkemCheckDecapsulationKey(k: number, dk: Uint8Array): boolean;
  mlkemOpensslProbe(): string | null;
  mlkemOpensslKeygen(k: number, seed?: Uint8Array): [Buffer, Buffer];
  mlkemOpensslEncapsulate(k: number, ek: Uint8Array, m?: Uint8Array): [Buffer, Buffer];
  mlkemOpensslDecapsulate(k: number, dk: Uint8Array, ct: Uint8Array): Buffer;
  mlkemOpensslGenerate(k: number, seed?: Uint8Array): [Buffer, NativeHandle];
  mlkemOpensslKeyDecapsulate(key: NativeHandle, ct: Uint8Array): Buffer;
  mlkemOpensslKeyDestroy(key: NativeHandle): void;
  /** Benchmark ceiling: generate + encapsulate + decapsulate `iterations` times in C++. */
  mlkemOpensslBenchLoop(k: number, iterations: number): void;
  mlkemLiboqsStatus(): string | null;
  mlkemLiboqsVersion?(): string;
  mlkemLiboqsKeygen?(k: number, seed?: Uint8Array): [Buffer, Buffer];
  mlkemLiboqsEncapsulate?(k: number, ek: Uint8Array, m?: Uint8Array): [Buffer, Buffer];
  mlkemLiboqsDecapsulate?(k: number, dk: Uint8Array, ct: Uint8Array): Buffer;
  mlkemLiboqsBenchLoop?(k: number, iterations: number): void;
  mlkemLiboqsGenerate?(k: number, seed?: Uint8Array): [Buffer, NativeHandle];
  mlkemLiboqsKeyDecapsulate?(key: NativeHandle, ct: Uint8Array): Buffer;
  mlkemLiboqsKeyDestroy?(key: NativeHandle): void;
}

export const kemNative = addon as unknown as KemNative;

/** A key pair kept as bytes: decapsulation goes through the backend's byte API; the
 * decapsulation key is zeroed on destroy(). */
export function bytesKeyPair(
  backend: KemBackendImpl,
  p: KemParams,
  seed: Uint8Array | undefined,
): KemKeyPairImpl {
  const [encapsulationKey, dk] = backend.keygen(p, seed);
  let live = true;
  return {
    encapsulationKey,
    decapsulate(ct) {
      if (!live) throw new Error('ML-KEM key pair has been destroyed');
      return backend.decapsulate(p, dk, ct);
    },
    destroy() {
      live = false;
      dk.fill(0);
    },
  };
}
