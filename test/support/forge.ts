/**
 * A misbehaving peer for hostile-input tests, seen from outside the connection: packets with
 * any frames, sealed with keys taken from a key log (as Wireshark would), so the connection
 * under test reads them through its real receive path.
 */
import { randomBytes } from 'node:crypto';

import { PacketKey, QUIC_V1 } from '../../lib/crypto/packet.js';
import type { CipherSuiteName } from '../../lib/crypto/suites.js';
import { PacketBuilder } from '../../lib/quic/builder.js';
import type { Frame } from '../../lib/quic/frames.js';
import { writeLongHeader } from '../../lib/quic/header.js';

/** The secret of `label` (e.g. CLIENT_TRAFFIC_SECRET_0) in NSS key log lines. */
export function secretFromKeylog(lines: readonly string[], label: string): Buffer {
  const line = lines.find((l) => l.startsWith(`${label} `));
  if (!line) throw new Error(`no ${label} in the key log`);
  return Buffer.from(line.trim().split(' ')[2]!, 'hex');
}

/** One datagram holding one packet of `type` with `frames`, protected with `secret`. */
export function forgePacket(opts: {
  type: 'initial' | 'handshake' | '1rtt';
  secret: Uint8Array;
  suite?: CipherSuiteName;
  dcid: Uint8Array;
  scid?: Uint8Array;
  packetNumber: number;
  frames: Frame[];
  /** Largest datagram (default 1500): room for big frames or padding. */
  size?: number;
}): Buffer {
  const key = PacketKey.fromSecret(opts.suite ?? 'TLS_AES_128_GCM_SHA256', opts.secret, QUIC_V1);
  const size = opts.size ?? 1500;
  const b = new PacketBuilder(size, 1);
  b.startDatagram(size);
  b.startPacket({
    type: opts.type,
    version: QUIC_V1,
    dcid: opts.dcid,
    scid: opts.scid,
    packetNumber: opts.packetNumber,
    largestAcked: -1,
    keyIndex: b.keyIndex(key),
  });
  for (const f of opts.frames) b.writeFrame(f);
  b.finishPacket();
  b.finishDatagram(false);
  b.protect();
  key.destroy();
  return Buffer.from(b.datagram(0));
}

/** 1,200 bytes of garbage behind a valid v1 Initial header: passes every stateless check,
 * never decrypts. */
export function fakeInitial(): Buffer {
  const buf = randomBytes(1200);
  const end = writeLongHeader(
    buf,
    0,
    'initial',
    QUIC_V1,
    randomBytes(8),
    randomBytes(8),
    Buffer.alloc(0),
    0,
    1,
    0,
  );
  writeLongHeader(
    buf,
    0,
    'initial',
    QUIC_V1,
    buf.subarray(6, 14),
    buf.subarray(15, 23),
    Buffer.alloc(0),
    0,
    1,
    1200 - end + 1,
  );
  return buf;
}
