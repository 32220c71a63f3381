/**
 * Connection ID bookkeeping (RFC 9000 §5.1): the IDs we issued (sequence -> CID) and the IDs
 * the peer issued to us with their stateless reset tokens, retire_prior_to and the
 * active_connection_id_limit. Frames and events are the connection's job: the methods return
 * what to send.
 */
import { randomBytes } from 'node:crypto';
import { QuicError, TransportError } from './errors.js';
import { FrameType } from './frames.js';
import type { RandomSource } from './random.js';

/**
 * A CID the peer issued, with its stateless reset token (RFC 9000 §10.3) when it gave one.
 * Both are kept as one short latin1 string, after a first character holding the CID's length
 * (memory per connection: a few dozen bytes instead of typed arrays and their buffers); the
 * byte views are made when asked for (rarely).
 */
export class PeerCid {
  private readonly bytes: string;
  constructor(
    readonly seq: number,
    cid: Uint8Array,
    token: Uint8Array | undefined,
  ) {
    // One flat string (a concatenation would be a rope of several strings).
    const parts = [Uint8Array.of(cid.length), cid];
    if (token) parts.push(token);
    this.bytes = latin1(Buffer.concat(parts));
  }
  private get cidEnd(): number {
    return 1 + this.bytes.charCodeAt(0);
  }
  get cid(): Uint8Array {
    return bytesOf(this.bytes, 1, this.cidEnd);
  }
  get token(): Uint8Array | undefined {
    const end = this.cidEnd;
    return end < this.bytes.length ? bytesOf(this.bytes, end, this.bytes.length) : undefined;
  }
  /** Same CID bytes as `cid`. */
  isCid(cid: Uint8Array): boolean {
    if (cid.length !== this.cidEnd - 1) return false;
    for (let i = 0; i < cid.length; i++) if (this.bytes.charCodeAt(1 + i) !== cid[i]) return false;
    return true;
  }
}

/** Latin1 string `s` holds the bytes `b`. */
function sameBytes(s: string, b: Uint8Array): boolean {
  if (b.length !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== b[i]) return false;
  return true;
}

/** A private copy (not a slice of Node's Buffer pool, which a kept CID would pin). */
function bytesOf(s: string, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = s.charCodeAt(i);
  return out;
}

function latin1(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
}

/** Makes one connection ID of ours, in a load balancer's format for instance
 * (lib/quic/quic-lb.ts); it must have the endpoint's CID length (short headers carry none). */
export type CidGenerator = () => Uint8Array;

/** A CID of ours: from `generate` when given (checked), else `length` random bytes. */
export function newLocalCid(
  length: number,
  random: RandomSource,
  generate: CidGenerator | undefined,
): Uint8Array {
  if (generate === undefined) return random(length);
  if (typeof generate !== 'function') throw new TypeError('cidGenerator must be a function');
  const cid = generate();
  if (!(cid instanceof Uint8Array) || cid.length !== length)
    throw new TypeError(`cidGenerator must return a Uint8Array of ${length} bytes`);
  return cid;
}

export interface IssuedCid {
  seq: number;
  cid: Uint8Array;
}

const NCID = { frameType: FrameType.NEW_CONNECTION_ID };

export class ConnectionIds {
  /** CIDs we issued, by sequence number from `localBase` (undefined once retired): latin1
   * strings in an exact-size array (memory per connection; see localIds()). */
  private local: (string | undefined)[];
  private localBase = 0;
  /** CIDs we issued that the peer may use (not retired). */
  private localLive = 1;
  private nextSeq = 1;
  /** CIDs the peer issued that we have not retired (an exact-size array: a pushed-to one
   * keeps spare capacity for the connection's life). */
  peer: PeerCid[] = [];
  private retirePriorTo = 0;
  /** The peer CID we send with. */
  current: Uint8Array;
  /** Our first CID (sequence 0), also once retired: the SCID of our long headers. */
  private readonly first: string;

  constructor(
    ourFirst: Uint8Array,
    peerFirst: Uint8Array,
    readonly cidLength: number,
    private readonly random: RandomSource = randomBytes,
    private readonly generate?: CidGenerator,
  ) {
    this.first = latin1(ourFirst);
    this.local = [this.first];
    this.current = peerFirst;
  }

  /** The handshake CID of the peer (sequence 0) with the token from its transport parameters. */
  setPeerFirst(cid: Uint8Array, token: Uint8Array | undefined): void {
    this.current = cid;
    if (!this.peer.some((c) => c.seq === 0))
      this.peer = this.peer.concat(new PeerCid(0, cid, token));
  }

  /** Our first CID (a copy). */
  get firstCid(): Uint8Array {
    return bytesOf(this.first, 0, this.first.length);
  }

  /** `cid` is our first CID (retired or not). */
  isFirst(cid: Uint8Array): boolean {
    return sameBytes(this.first, cid);
  }

  isLocal(cid: Uint8Array): boolean {
    for (const c of this.local) if (c !== undefined && sameBytes(c, cid)) return true;
    return false;
  }

  /** The CIDs we issued and have not retired (copies). */
  localIds(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const c of this.local) if (c !== undefined) out.push(bytesOf(c, 0, c.length));
    return out;
  }

  /** Our CID with this sequence number is still active. */
  hasLocal(seq: number): boolean {
    return this.localAt(seq) !== undefined;
  }

  /** Our CID with sequence number `seq` is `cid`. */
  isLocalSeq(seq: number, cid: Uint8Array): boolean {
    const c = this.localAt(seq);
    return c !== undefined && sameBytes(c, cid);
  }

  private localAt(seq: number): string | undefined {
    return seq >= this.localBase ? this.local[seq - this.localBase] : undefined;
  }

  /** New CIDs to announce so that `limit` are active (RFC 9000 §5.1.1). */
  issue(limit: number): IssuedCid[] {
    const out: IssuedCid[] = [];
    const n = limit - this.localLive;
    if (n <= 0) return out;
    // One draw for all random CIDs (a seeded simulation replays it); a generator makes each.
    const all = this.generate ? undefined : this.random(n * this.cidLength);
    const added: string[] = [];
    for (let i = 0; i < n; i++) {
      const seq = this.nextSeq++; // = localBase + local.length + i
      const cid = all
        ? all.subarray(i * this.cidLength, (i + 1) * this.cidLength)
        : newLocalCid(this.cidLength, this.random, this.generate);
      added.push(latin1(cid));
      out.push({ seq, cid });
    }
    this.local = this.local.concat(added);
    this.localLive += n;
    return out;
  }

  /**
   * NEW_CONNECTION_ID (RFC 9000 §19.15). Returns the sequence numbers to retire with
   * RETIRE_CONNECTION_ID; throws QuicError for a violation. `activeLimit` is our
   * active_connection_id_limit.
   */
  onNew(
    seq: number,
    retirePriorTo: number,
    cid: Uint8Array,
    token: Uint8Array,
    activeLimit: number,
  ): number[] {
    if (retirePriorTo > seq)
      throw new QuicError(TransportError.FRAME_ENCODING_ERROR, 'retire_prior_to > sequence', NCID);
    // §19.15: a peer using zero-length CIDs cannot issue new ones.
    if (this.current.length === 0)
      throw new QuicError(
        TransportError.PROTOCOL_VIOLATION,
        'NEW_CONNECTION_ID with zero-length CIDs',
        NCID,
      );
    const existing = this.peer.find((c) => c.seq === seq);
    if (existing) {
      if (!existing.isCid(cid))
        throw new QuicError(
          TransportError.PROTOCOL_VIOLATION,
          'sequence reused for another CID',
          NCID,
        );
      return [];
    }
    // §5.1.2: a CID below the retire_prior_to already seen is retired at once.
    if (seq < this.retirePriorTo) return [seq];
    // Copied (views into the datagram would keep it alive for the connection's life).
    this.peer = this.peer.concat(new PeerCid(seq, cid, token));
    const retire: number[] = [];
    if (retirePriorTo > this.retirePriorTo) {
      this.retirePriorTo = retirePriorTo;
      for (let i = this.peer.length - 1; i >= 0; i--) {
        const c = this.peer[i]!;
        if (c.seq < retirePriorTo) {
          this.peer.splice(i, 1);
          retire.push(c.seq);
        }
      }
      this.peer = this.peer.slice(); // exact size again
      // Move to the oldest CID still active.
      if (!this.peer.some((c) => c.isCid(this.current)))
        this.current = this.peer.reduce((a, b) => (a.seq < b.seq ? a : b)).cid;
    }
    // §5.1.1: more active CIDs than our active_connection_id_limit.
    if (this.peer.length > activeLimit)
      throw new QuicError(
        TransportError.CONNECTION_ID_LIMIT_ERROR,
        'too many connection IDs',
        NCID,
      );
    return retire;
  }

  /**
   * RETIRE_CONNECTION_ID (RFC 9000 §19.16): returns the CID no longer routed to us, or
   * undefined if it was already retired.
   */
  onRetire(seq: number): Uint8Array | undefined {
    if (seq >= this.nextSeq)
      throw new QuicError(
        TransportError.PROTOCOL_VIOLATION,
        'RETIRE_CONNECTION_ID of an unissued sequence',
        { frameType: FrameType.RETIRE_CONNECTION_ID },
      );
    const cid = this.localAt(seq);
    if (cid === undefined) return undefined;
    this.local[seq - this.localBase] = undefined;
    this.localLive--;
    // Retired sequence numbers at the front leave the array.
    let k = 0;
    while (k < this.local.length && this.local[k] === undefined) k++;
    if (k > 0) {
      this.local = this.local.slice(k);
      this.localBase += k;
    }
    return bytesOf(cid, 0, cid.length);
  }
}
