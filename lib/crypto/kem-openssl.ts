// ML-KEM backend `openssl`: the OpenSSL inside the running Node, when it is >= 3.5 (Node >=
// 24.7). Detected at load time by a deterministic round trip in native code.
import { bytesKeyPair, kemNative as n, type KemBackendImpl } from './kem-backend.js';

const probe = n.mlkemOpensslProbe();

export const opensslBackend: KemBackendImpl = {
  name: 'openssl',
  unavailable: probe ?? undefined,
  deterministic: true,
  version: `OpenSSL ${process.versions.openssl}`,
  keygen: (p, seed) => n.mlkemOpensslKeygen(p.k, seed),
  encapsulate: (p, ek, m) => n.mlkemOpensslEncapsulate(p.k, ek, m),
  decapsulate: (p, dk, ct) => n.mlkemOpensslDecapsulate(p.k, dk, ct),
  generateKeyPair(p, seed) {
    if (probe !== null) return bytesKeyPair(this, p, seed); // throws the unavailable error
    // The private key stays an EVP_PKEY: importing dk again costs a pairwise test in OpenSSL.
    const [encapsulationKey, key] = n.mlkemOpensslGenerate(p.k, seed);
    return {
      encapsulationKey,
      decapsulate: (ct) => n.mlkemOpensslKeyDecapsulate(key, ct),
      destroy: () => n.mlkemOpensslKeyDestroy(key),
    };
  },
};
