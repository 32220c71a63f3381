// TLS 1.3 cipher suites usable with QUIC (RFC 8446 §B.4, RFC 9001 §5.3).
import type { Hash } from './hkdf.js';

export type AeadAlgorithm = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
export type CipherSuiteName =
  'TLS_AES_128_GCM_SHA256' | 'TLS_AES_256_GCM_SHA384' | 'TLS_CHACHA20_POLY1305_SHA256';

export interface CipherSuite {
  name: CipherSuiteName;
  code: number;
  aead: AeadAlgorithm;
  hash: Hash;
  keyLength: number;
  ivLength: 12;
}

export const CIPHER_SUITES: readonly CipherSuite[] = Object.freeze(
  (
    [
      ['TLS_AES_128_GCM_SHA256', 0x1301, 'aes-128-gcm', 'sha256', 16],
      ['TLS_AES_256_GCM_SHA384', 0x1302, 'aes-256-gcm', 'sha384', 32],
      ['TLS_CHACHA20_POLY1305_SHA256', 0x1303, 'chacha20-poly1305', 'sha256', 32],
    ] as const
  ).map(([name, code, aead, hash, keyLength]) =>
    Object.freeze({ name, code, aead, hash, keyLength, ivLength: 12 as const }),
  ),
);

export function cipherSuiteByCode(code: number): CipherSuite | undefined {
  return CIPHER_SUITES.find((s) => s.code === code);
}

export function cipherSuiteByName(name: string): CipherSuite | undefined {
  return CIPHER_SUITES.find((s) => s.name === name);
}
