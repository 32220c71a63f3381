// ML-KEM (FIPS 203) over three interchangeable backends, fastest first: native liboqs, the
// OpenSSL inside Node (>= 3.5), and liboqs compiled to WebAssembly (always present).
import { KeyShareError } from './errors.js';
import {
  COINS_LENGTH,
  KEM_PARAMS,
  kemNative,
  SEED_LENGTH,
  type KemBackendImpl,
  type KemBackendName,
  type KemKeyPairImpl,
  type KemParams,
  type MlKemParameterSet,
} from './kem-backend.js';
import { liboqsBackend } from './kem-liboqs.js';
import { opensslBackend } from './kem-openssl.js';
import { wasmBackend, wasmLoaded } from './kem-wasm.js';

export type { KemBackendName, MlKemParameterSet } from './kem-backend.js';

export interface KemBackendInfo {
  name: KemBackendName;
  available: boolean;
  reason?: string;
  /** Whether seeded keygen / encapsulation (FIPS 203 internal randomness) is supported. */
  deterministic: boolean;
  version?: string;
}

/** A private key kept inside the backend (for a key share: generate, decapsulate once, destroy). */
export interface MlKemKeyPair {
  readonly encapsulationKey: Buffer;
  /** Implicit rejection: a wrong ciphertext of the right length gives a pseudorandom secret. */
  decapsulate(ciphertext: Uint8Array): Buffer;
  destroy(): void;
  [Symbol.dispose](): void;
}

export interface MlKem {
  readonly parameterSet: MlKemParameterSet;
  readonly backend: KemBackendName;
  readonly deterministic: boolean;
  readonly encapsulationKeyLength: number;
  readonly decapsulationKeyLength: number;
  readonly ciphertextLength: number;
  /** ML-KEM.KeyGen; with a 64-byte seed d ‖ z, ML-KEM.KeyGen_internal (FIPS 203 §6.1). */
  keygen(seed?: Uint8Array): { encapsulationKey: Buffer; decapsulationKey: Buffer };
  /** ML-KEM.Encaps; with a 32-byte m, Encaps_internal (§6.2). KeyShareError if ek fails §7.2. */
  encapsulate(
    encapsulationKey: Uint8Array,
    m?: Uint8Array,
  ): { ciphertext: Buffer; sharedSecret: Buffer };
  /** ML-KEM.Decaps: never throws for a ciphertext of the right length (implicit rejection). */
  decapsulate(decapsulationKey: Uint8Array, ciphertext: Uint8Array): Buffer;
  /** FIPS 203 §7.2 input check (length and modulus). */
  checkEncapsulationKey(encapsulationKey: Uint8Array): boolean;
  /** keygen() with the private key kept by the backend (faster decapsulation with openssl). */
  generateKeyPair(seed?: Uint8Array): MlKemKeyPair;
}

const BACKENDS: readonly KemBackendImpl[] = [liboqsBackend, opensslBackend, wasmBackend];
const NAMES = BACKENDS.map((b) => b.name);

/** Resolves once every ML-KEM backend is ready to be called without waiting (the
 * WebAssembly one loads asynchronously; until then its calls take a slower path). */
export function kemReady(): Promise<void> {
  return wasmLoaded;
}

export function kemBackends(): KemBackendInfo[] {
  return BACKENDS.map((b) => {
    const info: KemBackendInfo = {
      name: b.name,
      available: b.unavailable === undefined,
      deterministic: b.deterministic,
    };
    if (b.unavailable !== undefined) info.reason = b.unavailable;
    else if (b.version) info.version = b.version;
    return info;
  });
}

function usable(name: string, source: string): KemBackendImpl {
  const b = BACKENDS.find((x) => x.name === name);
  if (!b)
    throw new TypeError(
      `${source} must be one of ${NAMES.join(', ')} (got ${JSON.stringify(name)})`,
    );
  if (b.unavailable !== undefined)
    throw new Error(`ML-KEM backend ${name} (from ${source}) is unavailable: ${b.unavailable}`);
  return b;
}

function selected(): KemBackendImpl {
  const env = process.env['ZQUIC_KEM_BACKEND'];
  if (env && env !== 'auto') return usable(env, 'ZQUIC_KEM_BACKEND');
  // liboqs-wasm ships with the package; should even it have failed to load, its calls say why.
  return BACKENDS.find((b) => b.unavailable === undefined) ?? wasmBackend;
}

/** ZQUIC_KEM_BACKEND when set (and not "auto"), else the fastest available backend. */
export function defaultKemBackend(): KemBackendName {
  return selected().name;
}

function bytes(v: unknown, name: string, length?: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (length !== undefined && v.length !== length)
    throw new RangeError(`${name} must be ${length} bytes long (got ${v.length})`);
  return v;
}

function optional(v: unknown, name: string, length: number): Uint8Array | undefined {
  return v === undefined ? undefined : bytes(v, name, length);
}

class MlKemImpl implements MlKem {
  readonly parameterSet: MlKemParameterSet;
  readonly backend: KemBackendName;
  readonly deterministic: boolean;
  readonly encapsulationKeyLength: number;
  readonly decapsulationKeyLength: number;
  readonly ciphertextLength: number;

  constructor(
    private readonly p: KemParams,
    private readonly impl: KemBackendImpl,
  ) {
    this.parameterSet = p.name;
    this.backend = impl.name;
    this.deterministic = impl.deterministic;
    this.encapsulationKeyLength = p.ek;
    this.decapsulationKeyLength = p.dk;
    this.ciphertextLength = p.ct;
  }

  keygen(seed?: Uint8Array) {
    const [encapsulationKey, decapsulationKey] = this.impl.keygen(
      this.p,
      optional(seed, 'seed', SEED_LENGTH),
    );
    return { encapsulationKey, decapsulationKey };
  }

  encapsulate(encapsulationKey: Uint8Array, m?: Uint8Array) {
    const ek = bytes(encapsulationKey, 'encapsulationKey', this.p.ek);
    const coins = optional(m, 'm', COINS_LENGTH);
    // FIPS 203 §7.2: the peer's key must decode to coefficients below q (else illegal_parameter).
    if (!kemNative.mlkemCheckEncapsulationKey(this.p.k, ek))
      throw new KeyShareError(`${this.p.name} encapsulation key fails the FIPS 203 §7.2 check`);
    const [ciphertext, sharedSecret] = this.impl.encapsulate(this.p, ek, coins);
    return { ciphertext, sharedSecret };
  }

  decapsulate(decapsulationKey: Uint8Array, ciphertext: Uint8Array): Buffer {
    const dk = bytes(decapsulationKey, 'decapsulationKey', this.p.dk);
    return this.impl.decapsulate(this.p, dk, bytes(ciphertext, 'ciphertext', this.p.ct));
  }

  checkEncapsulationKey(encapsulationKey: Uint8Array): boolean {
    const ek = bytes(encapsulationKey, 'encapsulationKey');
    return ek.length === this.p.ek && kemNative.mlkemCheckEncapsulationKey(this.p.k, ek);
  }

  generateKeyPair(seed?: Uint8Array): MlKemKeyPair {
    return new KeyPair(
      this.p,
      this.impl.generateKeyPair(this.p, optional(seed, 'seed', SEED_LENGTH)),
    );
  }
}

class KeyPair implements MlKemKeyPair {
  readonly encapsulationKey: Buffer;
  constructor(
    private readonly p: KemParams,
    private readonly impl: KemKeyPairImpl,
  ) {
    this.encapsulationKey = impl.encapsulationKey;
  }
  decapsulate(ciphertext: Uint8Array): Buffer {
    return this.impl.decapsulate(bytes(ciphertext, 'ciphertext', this.p.ct));
  }
  destroy(): void {
    this.impl.destroy();
  }
  [Symbol.dispose](): void {
    this.destroy();
  }
}

const cache = new Map<string, MlKem>();

/** An ML-KEM instance on `options.backend`, else on defaultKemBackend(). */
export function mlkem(
  parameterSet: MlKemParameterSet,
  options?: { backend?: KemBackendName },
): MlKem {
  const p = typeof parameterSet === 'string' ? KEM_PARAMS[parameterSet] : undefined;
  if (!p || !Object.hasOwn(KEM_PARAMS, parameterSet))
    throw new TypeError(`parameterSet must be one of ${Object.keys(KEM_PARAMS).join(', ')}`);
  if (options !== undefined && (options === null || typeof options !== 'object'))
    throw new TypeError('options must be an object');
  const requested = options?.backend;
  if (requested !== undefined && typeof requested !== 'string')
    throw new TypeError('options.backend must be a string');
  const impl = requested === undefined ? selected() : usable(requested, 'options.backend');
  const key = `${p.name}/${impl.name}`;
  let m = cache.get(key);
  if (!m) cache.set(key, (m = new MlKemImpl(p, impl)));
  return m;
}
