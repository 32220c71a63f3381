/**
 * QUIC-LB connection IDs without a key (draft-ietf-quic-load-balancers-21: unencrypted CIDs,
 * the "plaintext" algorithm of earlier drafts): a CID that a CID-aware load balancer can route
 * to the server that issued it, whatever address the client uses (NAT rebinding, migration).
 * Without a key anyone can read the server ID (§5.3: linkability of a client's CIDs to one
 * server, never to one connection: the nonce is random).
 *
 *   First Octet { Config Rotation (3), CID Len or Random Bits (5) }   (§3, §3.4)
 *   Server ID (1..15 octets), Nonce (4..18 octets), together at most 19 octets   (§5.2, §5.3)
 *
 * We always self-encode the length (§3.3: the low five bits are the CID length minus one), as
 * the draft's test vectors (Appendix B) do. The nonce is random (§5.4: with no key, it must
 * have no observable relationship to earlier nonces). Config rotation 0b111 is reserved for servers
 * with no configuration (§3.2) and never encoded here. Stateless reset tokens do not depend on
 * this: they stay an HMAC of the whole CID under the reset key (lib/quic/stateless.ts).
 */
import type { RandomSource } from './random.js';

/** §3.1: codepoints 0..6 name configurations; 0b111 means "unroutable". */
export const QUIC_LB_UNROUTABLE = 0b111;
const MIN_NONCE = 4;
/** §5.3: server ID and nonce together fit a 20-byte QUIC v1 CID after the first octet. */
const MAX_BODY = 19;

export interface QuicLbConfig {
  /** This server's ID, 1..15 octets (§5.1, §5.3), as the load balancer's configuration has it. */
  serverId: Uint8Array;
  /** Config rotation codepoint 0..6 (default 0, §3.1). */
  configRotation?: number;
  /** Nonce octets, 4..18, with serverId at most 19 together (§5.3). */
  nonceLength: number;
}

/** What a QUIC-LB CID carries (decodeQuicLbCid). */
export interface QuicLbFields {
  configRotation: number;
  /** The length the first octet self-encodes (§3.3): the whole CID's length. */
  encodedLength: number;
  serverId: Uint8Array;
  nonce: Uint8Array;
}

/** Checks a configuration (TypeError / RangeError naming the field); returns its CID length. */
export function quicLbCidLength(config: QuicLbConfig): number {
  if (config === null || typeof config !== 'object')
    throw new TypeError('quicLb config must be an object');
  const { serverId, nonceLength } = config;
  const configRotation = config.configRotation ?? 0;
  if (!(serverId instanceof Uint8Array)) throw new TypeError('serverId must be a Uint8Array');
  if (serverId.length < 1 || serverId.length > MAX_BODY - MIN_NONCE)
    throw new RangeError(`serverId must be 1..${MAX_BODY - MIN_NONCE} bytes`);
  if (
    !Number.isInteger(configRotation) ||
    configRotation < 0 ||
    configRotation >= QUIC_LB_UNROUTABLE
  )
    throw new RangeError('configRotation must be an integer 0..6');
  if (!Number.isInteger(nonceLength) || nonceLength < MIN_NONCE)
    throw new RangeError(`nonceLength must be an integer >= ${MIN_NONCE}`);
  if (serverId.length + nonceLength > MAX_BODY)
    throw new RangeError(`serverId and nonceLength must sum to at most ${MAX_BODY} bytes`);
  return 1 + serverId.length + nonceLength;
}

/** The CID for `config` with this `nonce` (nonceLength bytes). */
export function encodeQuicLbCid(config: QuicLbConfig, nonce: Uint8Array): Uint8Array {
  const length = quicLbCidLength(config);
  if (!(nonce instanceof Uint8Array)) throw new TypeError('nonce must be a Uint8Array');
  if (nonce.length !== config.nonceLength)
    throw new RangeError(`nonce must be ${config.nonceLength} bytes`);
  const cid = new Uint8Array(length);
  cid[0] = ((config.configRotation ?? 0) << 5) | (length - 1);
  cid.set(config.serverId, 1);
  cid.set(nonce, 1 + config.serverId.length);
  return cid;
}

/**
 * What a load balancer reads from `cid` (§5.5, no key: the server ID is the octets after the
 * first), given the server ID length of its configuration; undefined for an unroutable CID
 * (§4.1: too short for that configuration, or config rotation 0b111).
 */
export function decodeQuicLbCid(cid: Uint8Array, serverIdLength: number): QuicLbFields | undefined {
  if (!(cid instanceof Uint8Array)) throw new TypeError('cid must be a Uint8Array');
  if (!Number.isInteger(serverIdLength) || serverIdLength < 1 || serverIdLength > 15)
    throw new RangeError('serverIdLength must be an integer 1..15');
  if (cid.length < 1 + serverIdLength + MIN_NONCE || cid.length > 1 + MAX_BODY) return undefined;
  const configRotation = cid[0]! >> 5;
  if (configRotation === QUIC_LB_UNROUTABLE) return undefined;
  return {
    configRotation,
    encodedLength: (cid[0]! & 0x1f) + 1,
    serverId: cid.slice(1, 1 + serverIdLength),
    nonce: cid.slice(1 + serverIdLength),
  };
}

/** A generator of fresh CIDs for `config`, nonces from `random` (a CSPRNG: §5.4, §9.6). */
export function quicLbGenerator(config: QuicLbConfig, random: RandomSource): () => Uint8Array {
  quicLbCidLength(config);
  const fixed: QuicLbConfig = {
    serverId: Uint8Array.from(config.serverId),
    configRotation: config.configRotation ?? 0,
    nonceLength: config.nonceLength,
  };
  return () => encodeQuicLbCid(fixed, random(fixed.nonceLength));
}
