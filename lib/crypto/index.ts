// zquic/crypto: the crypto layer's public API.
export * from './errors.js';
export * from './hkdf.js';
export * from './suites.js';
export * from './aead.js';
export * from './packet.js';
export * from './x25519.js';
export * from './ecdh.js';
export * from './mlkem.js';
export * from './groups.js';
