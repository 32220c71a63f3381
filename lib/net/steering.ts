/**
 * The classic BPF program a reuseport group (native/udp_group.h) runs for every datagram to
 * pick the socket, and so the worker, that gets it (SO_ATTACH_REUSEPORT_CBPF; the program sees
 * the UDP payload from offset 0). It returns the worker a datagram's DCID names
 * (lib/quic/worker-cid.ts):
 *
 * - short header: the DCID follows the first byte (RFC 9000 §17.3);
 * - long header whose DCID has our CIDs' length: the DCID follows the first byte, the version
 *   and the DCID length byte (§17.2). That is every long-header packet sent to a CID of ours,
 *   and a client's first Initials and 0-RTT when it chose a DCID of that length: those carry
 *   one DCID until the server answers, so they all reach one worker, which then accepts the
 *   connection and issues CIDs that name it;
 * - anything else (other DCID lengths, datagrams too short to hold the byte): a value past the
 *   last socket, which makes the kernel fall back to its 4-tuple hash.
 */
import type { WorkerSlot } from '../quic/worker-cid.js';

// linux/bpf_common.h and linux/filter.h.
const LD = 0x00;
const ALU = 0x04;
const JMP = 0x05;
const RET = 0x06;
const W = 0x00;
const B = 0x10;
const ABS = 0x20;
const LEN = 0x80;
const MOD = 0x90;
const JA = 0x00;
const JEQ = 0x10;
const JGE = 0x30;
const JSET = 0x40;
const K = 0x00;
const A = 0x10;

/** What the kernel reads as "no socket": fall back to the hash. */
const FALLBACK = 0xffffffff;

/** An instruction; a label in a jump field (or in k, for JA) is resolved to its offset. */
type Insn = [code: number, jt: string | 0, jf: string | 0, k: number | string];

/** The program for `slot.count` workers with CIDs of `cidLength` bytes, as udpGroupSteer
 * takes it: [code | jt << 16 | jf << 24, k] per instruction. */
export function steeringProgram(
  slot: Pick<WorkerSlot, 'count' | 'offset'>,
  cidLength: number,
): Uint32Array {
  const { count, offset } = slot;
  const labels: Record<string, number> = {};
  const body: (Insn | string)[] = [
    [LD | W | LEN, 0, 0, 0],
    // The long-header byte is the farther one: shorter datagrams are nobody's packets.
    [JMP | JGE | K, 0, 'fallback', 6 + offset + 1],
    [LD | B | ABS, 0, 0, 0],
    [JMP | JSET | K, 0, 'short', 0x80],
    [LD | B | ABS, 0, 0, 5],
    [JMP | JEQ | K, 0, 'fallback', cidLength],
    [LD | B | ABS, 0, 0, 6 + offset],
    [JMP | JA | K, 0, 0, 'pick'],
    'short',
    [LD | B | ABS, 0, 0, 1 + offset],
    'pick',
    [ALU | MOD | K, 0, 0, count],
    [RET | A, 0, 0, 0],
    'fallback',
    [RET | K, 0, 0, FALLBACK],
  ];
  const insns: Insn[] = [];
  for (const item of body) {
    if (typeof item === 'string') labels[item] = insns.length;
    else insns.push(item);
  }
  const out = new Uint32Array(2 * insns.length);
  insns.forEach(([code, jt, jf, k], i) => {
    // Jumps count instructions from the next one.
    const rel = (label: string | 0): number => (label === 0 ? 0 : labels[label]! - i - 1);
    out[2 * i] = code | (rel(jt) << 16) | (rel(jf) << 24);
    out[2 * i + 1] = (typeof k === 'string' ? rel(k) : k) >>> 0;
  });
  return out;
}
