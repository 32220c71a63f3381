// QUIC packet protection (RFC 9001 §5; QUIC v2: RFC 9369 §3.3). All packet work happens in
// place in one native call per packet or per batch.
import { Aead } from './aead.js';
import { hkdfExpandLabel, hkdfExtract } from './hkdf.js';
import { native, type NativeHandle } from './native.js';
import { cipherSuiteByName, type CipherSuite, type CipherSuiteName } from './suites.js';

export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;

export function isSupportedVersion(version: number): boolean {
  return version === QUIC_V1 || version === QUIC_V2;
}

interface VersionParams {
  salt: Buffer; // RFC 9001 §5.2, RFC 9369 §3.3.1
  labelPrefix: string; // RFC 9369 §3.3.2: "quicv2 key" etc. instead of "quic key"
  retryKey: Buffer; // RFC 9001 §5.8, RFC 9369 §3.3.3
  retryNonce: Buffer;
}

const VERSIONS = new Map<number, VersionParams>([
  [
    QUIC_V1,
    {
      salt: Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex'),
      labelPrefix: 'quic ',
      retryKey: Buffer.from('be0c690b9f66575a1d766b54e368c84e', 'hex'),
      retryNonce: Buffer.from('461599d35d632bf2239825bb', 'hex'),
    },
  ],
  [
    QUIC_V2,
    {
      salt: Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex'),
      labelPrefix: 'quicv2 ',
      retryKey: Buffer.from('8fb4b01b56ac48e260fbcbcead7ccc92', 'hex'),
      retryNonce: Buffer.from('d86969bc2d7c6d9990efb04a', 'hex'),
    },
  ],
]);

function versionParams(version: number): VersionParams {
  if (typeof version !== 'number') throw new TypeError('version must be a number');
  const params = VERSIONS.get(version);
  if (!params) throw new RangeError(`version 0x${version.toString(16)} is not supported`);
  return params;
}

function checkBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
  if (value.length === 0) {
    try {
      new Uint8Array(value.buffer, value.byteOffset, 0);
    } catch {
      throw new TypeError(`${name} is backed by a detached ArrayBuffer`);
    }
  }
}

// RFC 9000 §17.2: connection IDs are at most 20 bytes in QUIC v1 (and v2).
function checkCid(value: unknown, name: string): asserts value is Uint8Array {
  checkBytes(value, name);
  if (value.length > 20) throw new RangeError(`${name} must be at most 20 bytes long`);
}

const EMPTY = new Uint8Array(0);

/** RFC 9001 §5.2 / RFC 9369 §3.3.1: the Initial secrets from the client's first DCID. */
export function initialSecrets(
  version: number,
  dcid: Uint8Array,
): { client: Buffer; server: Buffer } {
  const { salt } = versionParams(version);
  checkCid(dcid, 'dcid');
  const initial = hkdfExtract('sha256', salt, dcid);
  const client = hkdfExpandLabel('sha256', initial, 'client in', EMPTY, 32);
  const server = hkdfExpandLabel('sha256', initial, 'server in', EMPTY, 32);
  initial.fill(0);
  return { client, server };
}

const retryAeads = new Map<number, Aead>();

// RFC 9001 §5.8: the tag is AES-128-GCM over the Retry Pseudo-Packet
// (ODCID length ‖ ODCID ‖ Retry packet without its tag) with an empty plaintext.
function retryTag(version: number, originalDcid: Uint8Array, retry: Uint8Array): Buffer {
  const params = versionParams(version);
  checkCid(originalDcid, 'originalDcid');
  let aead = retryAeads.get(version);
  if (!aead) {
    aead = new Aead('aes-128-gcm', params.retryKey);
    retryAeads.set(version, aead);
  }
  const pseudo = Buffer.allocUnsafe(1 + originalDcid.length + retry.length);
  pseudo[0] = originalDcid.length;
  pseudo.set(originalDcid, 1);
  pseudo.set(retry, 1 + originalDcid.length);
  return aead.seal(params.retryNonce, pseudo, EMPTY);
}

/** RFC 9001 §5.8 / RFC 9369 §3.3.3: the 16-byte Retry Integrity Tag. */
export function retryIntegrityTag(
  version: number,
  originalDcid: Uint8Array,
  retryWithoutTag: Uint8Array,
): Buffer {
  checkBytes(retryWithoutTag, 'retryWithoutTag');
  return retryTag(version, originalDcid, retryWithoutTag);
}

/** True if the last 16 bytes of retryPacket are its valid Retry Integrity Tag. */
export function verifyRetryIntegrity(
  version: number,
  originalDcid: Uint8Array,
  retryPacket: Uint8Array,
): boolean {
  checkBytes(retryPacket, 'retryPacket');
  if (retryPacket.length < 16) return false;
  const cut = retryPacket.length - 16;
  const tag = retryTag(version, originalDcid, retryPacket.subarray(0, cut));
  let diff = 0;
  for (let i = 0; i < 16; i++) diff |= tag[i]! ^ retryPacket[cut + i]!;
  return diff === 0;
}

/** Unprotect results below zero. */
export const UNPROTECT_MALFORMED = -1;
export const UNPROTECT_AUTH_FAILED = -2;
export const UNPROTECT_KEY_PHASE = -3;

export class PacketKey {
  readonly suite: CipherSuite;
  readonly version: number;
  /** @internal the native key, used by protectBatch/unprotectBatch */
  readonly #handle: NativeHandle;

  private constructor(suite: CipherSuite, version: number, handle: NativeHandle) {
    this.suite = suite;
    this.version = version;
    this.#handle = handle;
  }

  /** Derives key, iv and hp from a traffic secret ("quic key"/"quic iv"/"quic hp", or the
   * "quicv2 " labels for QUIC v2). */
  static fromSecret(suite: CipherSuiteName, secret: Uint8Array, version: number): PacketKey {
    const s = typeof suite === 'string' ? cipherSuiteByName(suite) : undefined;
    if (!s) throw new TypeError('suite must be a TLS 1.3 cipher suite name');
    const { labelPrefix } = versionParams(version);
    return new PacketKey(s, version, native.packetKeyNew(s.code, secret, labelPrefix));
  }

  /** RFC 9001 §6.1: the next key phase ("quic ku"/"quicv2 ku"); header protection is kept. */
  nextPhase(): PacketKey {
    return new PacketKey(this.suite, this.version, native.packetKeyNext(this.#handle));
  }

  /** Protects buf[start, start+headerLength+payloadLength) in place and writes the 16-byte
   * tag after it. The header ends with the truncated packet number (pnLength bytes, matching
   * the first byte's low two bits). Returns headerLength + payloadLength + 16. */
  protect(
    buf: Uint8Array,
    start: number,
    headerLength: number,
    pnLength: number,
    payloadLength: number,
    packetNumber: number,
  ): number {
    return native.packetProtect(
      this.#handle,
      buf,
      start,
      headerLength,
      pnLength,
      payloadLength,
      packetNumber,
    );
  }

  /** Unprotects buf[start, end) in place. Returns the full packet number, or
   * UNPROTECT_MALFORMED / UNPROTECT_AUTH_FAILED / UNPROTECT_KEY_PHASE. After a failure the
   * packet's bytes are not meaningful (except after UNPROTECT_KEY_PHASE: header unmasked,
   * payload untouched, so open() with another key can follow). */
  unprotect(
    buf: Uint8Array,
    start: number,
    pnOffset: number,
    end: number,
    largestPn: number,
    expectedKeyPhase = -1,
  ): number {
    return native.packetUnprotect(
      this.#handle,
      buf,
      start,
      pnOffset,
      end,
      largestPn,
      expectedKeyPhase,
    );
  }

  /** Opens the payload of a packet whose header is already unmasked. */
  open(
    buf: Uint8Array,
    start: number,
    headerLength: number,
    end: number,
    packetNumber: number,
  ): boolean {
    return native.packetOpen(this.#handle, buf, start, headerLength, end, packetNumber);
  }

  destroy(): void {
    native.packetKeyDestroy(this.#handle);
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  /** @internal */
  static handleOf(key: PacketKey): NativeHandle {
    return key.#handle;
  }
}

// One scratch array reused by every batch call (no per-batch allocation).
const handles: NativeHandle[] = [];

function keyHandles(keys: readonly PacketKey[]): NativeHandle[] {
  if (!Array.isArray(keys)) throw new TypeError('keys must be an array of PacketKey');
  handles.length = keys.length;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    if (!(k instanceof PacketKey)) throw new TypeError(`keys[${i}] must be a PacketKey`);
    handles[i] = PacketKey.handleOf(k);
  }
  return handles;
}

// The batch descriptors: a Float64Array holding `stride` numbers per packet, each field at its
// offset. native/packet_batch.cc defines the same layout (ProtectDesc, UnprotectDesc) and
// exports it as `batchLayout`; test/crypto-batch-layout.test.ts checks that the two agree.

/** protectBatch's descriptor: the arguments of PacketKey.protect, after an index into keys. */
export const PROTECT_DESC = Object.freeze({
  keyIndex: 0,
  start: 1,
  headerLength: 2,
  pnLength: 3,
  payloadLength: 4,
  packetNumber: 5,
  stride: 6,
} as const);

/** unprotectBatch's descriptor: the arguments of PacketKey.unprotect, after an index into keys
 * (pnOffset is relative to start, end absolute, as there). */
export const UNPROTECT_DESC = Object.freeze({
  keyIndex: 0,
  start: 1,
  pnOffset: 2,
  end: 3,
  largestPn: 4,
  expectedKeyPhase: 5,
  stride: 6,
} as const);

/** Protects `count` packets of slab in one native call; desc holds PROTECT_DESC.stride numbers
 * per packet at the PROTECT_DESC offsets. */
export function protectBatch(
  keys: readonly PacketKey[],
  slab: Uint8Array,
  desc: Float64Array,
  count: number,
): void {
  native.packetProtectBatch(keyHandles(keys), slab, desc, count);
}

/** Unprotects `count` packets of slab in one native call; desc holds UNPROTECT_DESC.stride
 * numbers per packet at the UNPROTECT_DESC offsets. results[i] receives what
 * PacketKey.unprotect would return for packet i. */
export function unprotectBatch(
  keys: readonly PacketKey[],
  slab: Uint8Array,
  desc: Float64Array,
  count: number,
  results: Float64Array,
): void {
  native.packetUnprotectBatch(keyHandles(keys), slab, desc, count, results);
}

/** RFC 9000 Appendix A.3: the full packet number from its truncated encoding (pnLength
 * bytes) and the largest packet number received so far (-1 if none). */
export function decodePacketNumber(
  largestPn: number,
  truncatedPn: number,
  pnLength: number,
): number {
  const win = 2 ** (8 * pnLength);
  const hwin = win / 2;
  const expected = largestPn + 1;
  const candidate = expected - (expected % win) + truncatedPn;
  if (candidate <= expected - hwin && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + hwin && candidate >= win) return candidate - win;
  return candidate;
}
