// TLS 1.3 key-exchange groups as one unit for the TLS layer: the client's key_share, the
// server's answer, and the shared secret, with the byte layouts of draft-ietf-tls-ecdhe-mlkem
// (hybrids), draft-ietf-tls-mlkem (pure ML-KEM) and RFC 8446 §4.2.8.2 / §7.4 (classical).
import { p256, p256KeyPair } from './ecdh.js';
import { KeyShareError } from './errors.js';
import { COINS_LENGTH, SEED_LENGTH } from './kem-backend.js';
import { mlkem, type KemBackendName, type MlKem, type MlKemKeyPair } from './mlkem.js';
import { injectedSource, type RandomSource } from './random.js';
import { x25519, x25519KeyPair } from './x25519.js';

export { KeyShareError } from './errors.js';

export type GroupName =
  'X25519MLKEM768' | 'SecP256r1MLKEM768' | 'MLKEM768' | 'MLKEM1024' | 'X25519' | 'secp256r1';

export interface GroupInfo {
  name: GroupName;
  code: number;
  postQuantum: boolean;
  clientShareLength: number;
  serverShareLength: number;
}

const X25519_LEN = 32;
const P256_LEN = 65; // uncompressed point 0x04 ‖ X ‖ Y
const EK768 = 1184;
const CT768 = 1088;

export const GROUPS: readonly GroupInfo[] = Object.freeze(
  [
    {
      name: 'X25519MLKEM768',
      code: 0x11ec,
      postQuantum: true,
      clientShareLength: EK768 + X25519_LEN,
      serverShareLength: CT768 + X25519_LEN,
    },
    {
      name: 'SecP256r1MLKEM768',
      code: 0x11eb,
      postQuantum: true,
      clientShareLength: P256_LEN + EK768,
      serverShareLength: P256_LEN + CT768,
    },
    {
      name: 'MLKEM768',
      code: 0x0201,
      postQuantum: true,
      clientShareLength: EK768,
      serverShareLength: CT768,
    },
    {
      name: 'MLKEM1024',
      code: 0x0202,
      postQuantum: true,
      clientShareLength: 1568,
      serverShareLength: 1568,
    },
    {
      name: 'X25519',
      code: 0x001d,
      postQuantum: false,
      clientShareLength: X25519_LEN,
      serverShareLength: X25519_LEN,
    },
    {
      name: 'secp256r1',
      code: 0x0017,
      postQuantum: false,
      clientShareLength: P256_LEN,
      serverShareLength: P256_LEN,
    },
  ].map((g) => Object.freeze(g as GroupInfo)),
);

export function groupByCode(code: number): GroupInfo | undefined {
  return GROUPS.find((g) => g.code === code);
}

export function groupByName(name: string): GroupInfo | undefined {
  return GROUPS.find((g) => g.name === name);
}

/** `random`: the key shares' randomness (default node:crypto's), for runs that repeat from a
 * seed. ML-KEM takes it as the FIPS 203 internal randomness (seed d ‖ z, message m) when its
 * backend can (MlKem.deterministic); the WebAssembly backend draws its own. */
type Options = { backend?: KemBackendName; random?: RandomSource };

/** The injected source of `options`, checked; undefined when none (native key generation). */
function randomOf(options: Options | undefined): RandomSource | undefined {
  return injectedSource(options?.random, 'options.random');
}

/** A fresh ML-KEM key pair, from `random` when given and the backend takes a seed. */
function kemKeyPair(kem: MlKem, random: RandomSource | undefined): MlKemKeyPair {
  if (random === undefined || !kem.deterministic) return kem.generateKeyPair();
  const seed = random(SEED_LENGTH);
  try {
    return kem.generateKeyPair(seed);
  } finally {
    seed.fill(0);
  }
}

/** ML-KEM.Encaps, with its message m from `random` when given and the backend takes it. */
function kemEncapsulate(
  kem: MlKem,
  ek: Uint8Array,
  random: RandomSource | undefined,
): { ciphertext: Buffer; sharedSecret: Buffer } {
  if (random === undefined || !kem.deterministic) return kem.encapsulate(ek);
  const m = random(COINS_LENGTH);
  try {
    return kem.encapsulate(ek, m);
  } finally {
    m.fill(0);
  }
}

function groupArg(group: unknown): GroupInfo {
  const g = typeof group === 'string' ? groupByName(group) : undefined;
  if (!g) throw new TypeError(`group must be one of ${GROUPS.map((x) => x.name).join(', ')}`);
  return g;
}

function kemOf(g: GroupInfo, options: Options | undefined): MlKem | undefined {
  if (!g.postQuantum) {
    if (options !== undefined && (options === null || typeof options !== 'object'))
      throw new TypeError('options must be an object');
    return undefined;
  }
  return mlkem(g.name === 'MLKEM1024' ? 'ML-KEM-1024' : 'ML-KEM-768', options);
}

function shareArg(share: unknown, name: string, length: number, g: GroupInfo): Uint8Array {
  if (!(share instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  // RFC 8446 §4.2.8: a share of the wrong size for its group is illegal_parameter.
  if (share.length !== length)
    throw new KeyShareError(`${g.name} key share must be ${length} bytes (got ${share.length})`);
  return share;
}

/** RFC 8446 §7.4.2: an all-zero X25519 result (small-order peer key) must be rejected. */
function x25519Checked(priv: Uint8Array, pub: Uint8Array): Buffer {
  const ss = x25519(priv, pub);
  let acc = 0;
  for (let i = 0; i < ss.length; i++) acc |= ss[i]!;
  if (acc === 0) throw new KeyShareError('X25519 key share gives an all-zero shared secret');
  return ss;
}

function concat(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The two component secrets joined; the components are wiped. */
function joinSecrets(a: Uint8Array, b: Uint8Array): Buffer {
  const out = concat(a, b);
  a.fill(0);
  b.fill(0);
  return out;
}

const INTERNAL = Symbol('ClientKeyShare');

/** The client's half: generate() its key_share, then complete() with the server's share. */
export class ClientKeyShare {
  readonly group: GroupInfo;
  readonly share: Buffer;
  #kem: MlKemKeyPair | undefined;
  #ecPrivate: Buffer | undefined;
  #done = false;

  private constructor(
    token: symbol,
    group: GroupInfo,
    share: Buffer,
    kem: MlKemKeyPair | undefined,
    ec: Buffer | undefined,
  ) {
    // `private` binds TypeScript only: JavaScript callers get a clear error instead of a husk
    if (token !== INTERNAL) throw new TypeError('use ClientKeyShare.generate(group) to create one');
    this.group = group;
    this.share = share;
    this.#kem = kem;
    this.#ecPrivate = ec;
  }

  static generate(group: GroupName, options?: Options): ClientKeyShare {
    const g = groupArg(group);
    const random = randomOf(options);
    const m = kemOf(g, options);
    const kem = m && kemKeyPair(m, random);
    switch (g.name) {
      case 'X25519MLKEM768': {
        const x = x25519KeyPair(random);
        return new ClientKeyShare(
          INTERNAL,
          g,
          concat(kem!.encapsulationKey, x.publicKey),
          kem,
          x.privateKey,
        );
      }
      case 'SecP256r1MLKEM768': {
        const e = p256KeyPair(random);
        return new ClientKeyShare(
          INTERNAL,
          g,
          concat(e.publicKey, kem!.encapsulationKey),
          kem,
          e.privateKey,
        );
      }
      case 'MLKEM768':
      case 'MLKEM1024':
        return new ClientKeyShare(INTERNAL, g, kem!.encapsulationKey, kem, undefined);
      case 'X25519': {
        const x = x25519KeyPair(random);
        return new ClientKeyShare(INTERNAL, g, x.publicKey, undefined, x.privateKey);
      }
      case 'secp256r1': {
        const e = p256KeyPair(random);
        return new ClientKeyShare(INTERNAL, g, e.publicKey, undefined, e.privateKey);
      }
    }
  }

  /** The shared secret from the server's key_share; KeyShareError if that share is unusable.
   * After success the private keys are wiped (a key share is used once). */
  complete(serverShare: Uint8Array): Buffer {
    if (this.#done) throw new Error('ClientKeyShare has been completed or destroyed');
    const g = this.group;
    const s = shareArg(serverShare, 'serverShare', g.serverShareLength, g);
    const kem = this.#kem;
    const ec = this.#ecPrivate!;
    let secret: Buffer;
    switch (g.name) {
      case 'X25519MLKEM768': {
        // ct ‖ x25519 → ML-KEM ss ‖ X25519 ss
        const xs = x25519Checked(ec, s.subarray(CT768));
        secret = joinSecrets(kem!.decapsulate(s.subarray(0, CT768)), xs);
        break;
      }
      case 'SecP256r1MLKEM768': {
        // point ‖ ct → ECDH ss ‖ ML-KEM ss
        const es = p256(ec, s.subarray(0, P256_LEN));
        secret = joinSecrets(es, kem!.decapsulate(s.subarray(P256_LEN)));
        break;
      }
      case 'MLKEM768':
      case 'MLKEM1024':
        secret = kem!.decapsulate(s);
        break;
      case 'X25519':
        secret = x25519Checked(ec, s);
        break;
      case 'secp256r1':
        secret = p256(ec, s);
        break;
    }
    this.destroy();
    return secret;
  }

  /** Wipes the private keys. */
  destroy(): void {
    this.#done = true;
    this.#kem?.destroy();
    this.#kem = undefined;
    this.#ecPrivate?.fill(0);
    this.#ecPrivate = undefined;
  }

  [Symbol.dispose](): void {
    this.destroy();
  }
}

/** The server's half: its key_share and the shared secret for a client's key_share. */
export function serverKeyShare(
  group: GroupName,
  clientShare: Uint8Array,
  options?: Options,
): { share: Buffer; sharedSecret: Buffer } {
  const g = groupArg(group);
  const random = randomOf(options);
  const kem = kemOf(g, options);
  const c = shareArg(clientShare, 'clientShare', g.clientShareLength, g);
  switch (g.name) {
    case 'X25519MLKEM768': {
      // ek ‖ x25519 → ct ‖ x25519; secret ML-KEM ss ‖ X25519 ss
      const x = x25519KeyPair(random);
      try {
        const xs = x25519Checked(x.privateKey, c.subarray(EK768));
        const e = kemEncapsulate(kem!, c.subarray(0, EK768), random);
        return {
          share: concat(e.ciphertext, x.publicKey),
          sharedSecret: joinSecrets(e.sharedSecret, xs),
        };
      } finally {
        x.privateKey.fill(0);
      }
    }
    case 'SecP256r1MLKEM768': {
      // point ‖ ek → point ‖ ct; secret ECDH ss ‖ ML-KEM ss
      const k = p256KeyPair(random);
      try {
        const es = p256(k.privateKey, c.subarray(0, P256_LEN));
        const e = kemEncapsulate(kem!, c.subarray(P256_LEN), random);
        return {
          share: concat(k.publicKey, e.ciphertext),
          sharedSecret: joinSecrets(es, e.sharedSecret),
        };
      } finally {
        k.privateKey.fill(0);
      }
    }
    case 'MLKEM768':
    case 'MLKEM1024': {
      const e = kemEncapsulate(kem!, c, random);
      return { share: e.ciphertext, sharedSecret: e.sharedSecret };
    }
    case 'X25519': {
      const x = x25519KeyPair(random);
      try {
        return { share: x.publicKey, sharedSecret: x25519Checked(x.privateKey, c) };
      } finally {
        x.privateKey.fill(0);
      }
    }
    case 'secp256r1': {
      const k = p256KeyPair(random);
      try {
        return { share: k.publicKey, sharedSecret: p256(k.privateKey, c) };
      } finally {
        k.privateKey.fill(0);
      }
    }
  }
}
