// ML-KEM backend `liboqs-wasm`: liboqs compiled to WebAssembly (@oqs/liboqs-js), always present.
// Instantiated with top-level await so every call is synchronous. Its build exports no _derand
// functions, so it cannot take the FIPS 203 internal randomness (seeded keygen/encapsulation).
import {
  bytesKeyPair,
  kemNative,
  type KemBackendImpl,
  type KemParams,
  type MlKemParameterSet,
} from './kem-backend.js';

interface WasmKem {
  generateKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array };
  encapsulate(publicKey: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array };
  decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array;
}

let kems: Record<MlKemParameterSet, WasmKem> | undefined;
let failure: string | undefined;
try {
  // imported here, not statically, so that a broken install only disables this backend
  const oqs = await import('@oqs/liboqs-js/kem');
  const [a, b, c] = await Promise.all([
    oqs.createMLKEM512(),
    oqs.createMLKEM768(),
    oqs.createMLKEM1024(),
  ]);
  kems = { 'ML-KEM-512': a, 'ML-KEM-768': b, 'ML-KEM-1024': c };
} catch (e) {
  failure = `@oqs/liboqs-js failed to load: ${(e as Error).message}`;
}

function kem(p: KemParams): WasmKem {
  if (!kems) throw new Error(`the liboqs-wasm ML-KEM backend is unavailable: ${failure}`);
  return kems[p.name];
}

const view = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
// The package accepts only objects whose constructor is named Uint8Array (not Buffer).
const plain = (u: Uint8Array): Uint8Array =>
  u.constructor === Uint8Array ? u : new Uint8Array(u.buffer, u.byteOffset, u.byteLength);

function noSeed(what: string): never {
  throw new Error(`the liboqs-wasm ML-KEM backend cannot take ${what}: its build has no _derand`);
}

export const wasmBackend: KemBackendImpl = {
  name: 'liboqs-wasm',
  unavailable: failure,
  deterministic: false,
  version: '@oqs/liboqs-js',
  keygen(p, seed) {
    if (seed) noSeed('a key generation seed');
    const { publicKey, secretKey } = kem(p).generateKeyPair();
    return [view(publicKey), view(secretKey)];
  },
  encapsulate(p, ek, m) {
    if (m) noSeed('the encapsulation randomness m');
    const { ciphertext, sharedSecret } = kem(p).encapsulate(plain(ek));
    return [view(ciphertext), view(sharedSecret)];
  },
  decapsulate(p, dk, ct) {
    // FIPS 203 §7.3 hash check here: what the wasm build does with a bad key is not ours to know.
    if (!kemNative.mlkemCheckDecapsulationKey(p.k, dk))
      throw new RangeError(
        'decapsulationKey fails the FIPS 203 §7.3 hash check (not an ML-KEM key)',
      );
    return view(kem(p).decapsulate(plain(ct), plain(dk)));
  },
  generateKeyPair(p, seed) {
    return bytesKeyPair(this, p, seed);
  },
};
