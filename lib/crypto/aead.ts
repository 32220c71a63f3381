// AEAD with a key installed once (TLS record layer, tickets, tokens, Retry tags).
import { native, type NativeHandle } from './native.js';
import type { AeadAlgorithm } from './suites.js';

export class Aead {
  readonly algorithm: AeadAlgorithm;
  readonly #handle: NativeHandle;

  constructor(algorithm: AeadAlgorithm, key: Uint8Array) {
    this.#handle = native.aeadNew(algorithm, key);
    this.algorithm = algorithm;
  }

  /** Returns ciphertext ‖ 16-byte tag. */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
    return native.aeadSeal(this.#handle, nonce, aad, plaintext);
  }

  /** Returns the plaintext, or null when authentication fails. */
  open(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer | null {
    return native.aeadOpen(this.#handle, nonce, aad, sealed);
  }

  /** Wipes the key now; later use throws. (Otherwise the key is freed by GC.) */
  destroy(): void {
    native.aeadDestroy(this.#handle);
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}
