/**
 * Connection IDs that name a worker: a server running one endpoint per thread, all on one
 * address (SO_REUSEPORT), marks every CID it issues with its worker index so that the kernel's
 * steering program (lib/net/steering.ts) hands each packet to the worker that owns its
 * connection, whatever the client's address does (NAT rebinding, migration: RFC 9000 §9).
 *
 * One byte of the CID carries the index as its value modulo the worker count; the rest of the
 * byte stays random, so CIDs keep their entropy but for log2(count) bits. The byte follows the
 * QUIC-LB server ID when there is one (lib/quic/quic-lb.ts: the first nonce octet), else it is
 * the CID's first byte.
 */
import type { CidGenerator } from './cid.js';
import type { RandomSource } from './random.js';

/** Which of `count` workers this endpoint is, and where its CIDs say so. */
export interface WorkerSlot {
  index: number;
  count: number;
  /** The byte of our CIDs that carries the index. */
  offset: number;
}

/** Most workers: the index is a byte's value modulo the count. */
export const MAX_WORKERS = 256;

/** Checks a slot for CIDs of `cidLength` bytes (TypeError / RangeError naming the field). */
export function checkWorkerSlot(slot: WorkerSlot, cidLength: number): WorkerSlot {
  if (slot === null || typeof slot !== 'object') throw new TypeError('worker must be an object');
  const { index, count, offset } = slot;
  if (!Number.isInteger(count) || count < 1 || count > MAX_WORKERS)
    throw new RangeError(`worker.count must be an integer in 1..${MAX_WORKERS}`);
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new RangeError('worker.index must be an integer in 0..count-1');
  if (!Number.isInteger(offset) || offset < 0 || offset >= cidLength)
    throw new RangeError(`worker.offset must be an integer in 0..${cidLength - 1}`);
  return { index, count, offset };
}

/** The worker a CID of ours names. */
export function cidWorker(cid: Uint8Array, slot: WorkerSlot): number {
  return cid[slot.offset]! % slot.count;
}

/** Fresh CIDs from `base` (or `random`) with the slot's byte set to name its worker. */
export function workerCidGenerator(
  base: CidGenerator | undefined,
  random: RandomSource,
  length: number,
  slot: WorkerSlot,
): CidGenerator {
  const { index, count, offset } = slot;
  return () => {
    const cid = base ? base() : random(length);
    // The nearest value below with the right remainder (or above, near 0): still uniform over
    // the byte values that name this worker, but for the edges.
    let v = cid[offset]! - (cid[offset]! % count) + index;
    if (v > 255) v -= count;
    cid[offset] = v;
    return cid;
  };
}
