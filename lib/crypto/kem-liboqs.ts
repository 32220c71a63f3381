// ML-KEM backend `liboqs`: native liboqs, compiled into the addon when the build found it with
// pkg-config (deps/liboqs.py) and loaded with dlopen() at run time.
import { bytesKeyPair, kemNative as n, type KemBackendImpl } from './kem-backend.js';

const status = n.mlkemLiboqsStatus();

function fn<T>(f: T | undefined): T {
  if (!f) throw new Error(`the liboqs ML-KEM backend is unavailable: ${status}`);
  return f;
}

export const liboqsBackend: KemBackendImpl = {
  name: 'liboqs',
  unavailable: status ?? undefined,
  deterministic: true,
  version: status === null && n.mlkemLiboqsVersion ? `liboqs ${n.mlkemLiboqsVersion()}` : undefined,
  keygen: (p, seed) => fn(n.mlkemLiboqsKeygen)(p.k, seed),
  encapsulate: (p, ek, m) => fn(n.mlkemLiboqsEncapsulate)(p.k, ek, m),
  decapsulate: (p, dk, ct) => fn(n.mlkemLiboqsDecapsulate)(p.k, dk, ct),
  generateKeyPair(p, seed) {
    if (status !== null) return bytesKeyPair(this, p, seed); // throws the unavailable error
    // dk stays in native memory: no Buffer for it, nothing copied back in to decapsulate
    const [encapsulationKey, key] = fn(n.mlkemLiboqsGenerate)(p.k, seed);
    const decaps = fn(n.mlkemLiboqsKeyDecapsulate);
    const destroy = fn(n.mlkemLiboqsKeyDestroy);
    return {
      encapsulationKey,
      decapsulate: (ct) => decaps(key, ct),
      destroy: () => destroy(key),
    };
  },
};
