/**
 * The receive path of a connection: datagrams are split and unprotected in batches
 * (parser.ts, one native call per batch), then each packet is checked and its frames handed to
 * the connection (RFC 9000 §12.2, §17; RFC 9001 §5, §6). Dropped packets are counted and
 * logged with a reason.
 */
import { UNPROTECT_AUTH_FAILED, UNPROTECT_KEY_PHASE, type PacketKey } from '../crypto/packet.js';
import { enabled } from '../debug/log.js';
import { Ecn, PacketSpace } from './ack-tracker.js';
import { ownCopy } from './bytes.js';
import { LOCAL_CID_LENGTH, type ConnectionCore } from './connection-core.js';
import { QuicError, TransportError } from './errors.js';
import { appended } from './empty.js';
import type { Frame } from './frames.js';
import { isStatelessReset, type PacketHeader } from './header.js';
import { logPacket } from './packet-log.js';
import { decodePacketNumber, readTruncatedPacketNumber } from './packet-number.js';
import {
  DCID_MISMATCH,
  NO_KEY,
  ReceiveBatch,
  readPacketFrames,
  statusName,
  unprotectPacket,
} from './parser.js';
import { sameAddress, type Address } from './path.js';
import { qlogFrame, qlogPacket } from './qlog.js';
import { onRetry, onVersionNegotiation, switchVersion } from './version-change.js';

/** Receive batches for onDatagrams() (a pool: replayed packets nest a second batch). */
const batches: ReceiveBatch[] = [];
/** Datagrams unprotected per native call, and the packets a batch holds (room for some
 * coalesced packets beyond one per datagram). */
export const BATCH_DATAGRAMS = 96;
const BATCH_PACKETS = 128;
type BatchKey = { key: PacketKey; largestPn: number; expectedKeyPhase: number };
/** batchKey()'s answer, consumed at once by the batch. */
const found = {} as BatchKey;
const NO_CID = new Uint8Array(0);
const MAX_BUFFERED_UNDECRYPTABLE = 8;
const { Initial, Handshake, ApplicationData: App } = PacketSpace;

function spaceOf(h: PacketHeader): PacketSpace {
  return h.type === 'initial' ? Initial : h.type === 'handshake' ? Handshake : App;
}

/** The connection whose datagrams are being split (addDatagram() is synchronous), and one
 * lookup for all connections: no closure per connection (memory per connection). */
let keying: ConnectionCore | undefined;
const lookupKey = (h: PacketHeader): BatchKey | undefined => batchKey(keying!, h);

/** Datagrams [from, to) of `list`, which share one buffer: one batch. */
export function onDatagrams(
  c: ConnectionCore,
  list: readonly Uint8Array[],
  from: number,
  to: number,
  remote: Address,
  now: number,
  replay: boolean,
  ecn?: readonly number[],
): void {
  if (c._state === 'closed' || c._state === 'draining') return;
  // One datagram is its own slab; several are offsets into their common buffer.
  const first = list[from]!;
  const slab = to - from === 1 ? first : new Uint8Array(first.buffer);
  const batch = batches.pop() ?? new ReceiveBatch(LOCAL_CID_LENGTH, BATCH_PACKETS);
  try {
    batch.reset(slab);
    if (c._state !== 'closing') {
      keying = c;
      for (let k = from; k < to; k++) {
        const start = slab === first ? 0 : list[k]!.byteOffset;
        batch.addDatagram(start, start + list[k]!.length, k, lookupKey);
      }
      batch.run();
    }
    let p = 0;
    for (let k = from; k < to; k++) {
      let q = p;
      while (q < batch.length && batch.tag(q) === k) q++;
      const start = slab === first ? 0 : list[k]!.byteOffset;
      c.datagramEcn = ((ecn?.[k] ?? 0) & 3) as Ecn;
      onDatagram(c, slab, start, start + list[k]!.length, batch, p, q, remote, now, replay);
      p = q;
    }
  } finally {
    batch.release(); // no received buffer stays reachable from the pool
    batches.push(batch);
    keying = undefined;
    c.packetDcid = NO_CID; // a view into the datagram
    c.datagramEcn = Ecn.NotEct;
  }
}

/** The key a packet is unprotected with in the batch, when that needs no decision (a
 * version change, a key phase change, keys that come with earlier packets): the rest are
 * left to onPacket(). */
function batchKey(c: ConnectionCore, h: PacketHeader): BatchKey | undefined {
  if (h.type !== '1rtt' && h.version !== c.version) return undefined;
  const space = spaceOf(h);
  const sp = c.spaces[space];
  if (sp.discarded) return undefined;
  const keys = c.keys;
  const key =
    space !== App
      ? sp.readKey
      : h.type === '1rtt'
        ? keys.read
        : c.role === 'server' && keys.readPhaseStartPn < 0
          ? keys.zeroRttRead
          : undefined;
  if (!key) return undefined;
  found.key = key;
  found.largestPn = sp.acks.largestReceived;
  found.expectedKeyPhase = keys.readPhase;
  return found;
}

/** The packets [from, to) of the datagram slab[start, end). */
function onDatagram(
  c: ConnectionCore,
  slab: Uint8Array,
  start: number,
  end: number,
  batch: ReceiveBatch,
  from: number,
  to: number,
  remote: Address,
  now: number,
  replay: boolean,
): void {
  if (c._state === 'closed' || c._state === 'draining') return;
  if (!replay) {
    c._stats.bytesReceived += end - start;
    if (sameAddress(remote, c.path.remote)) c.path.bytesReceived += end - start;
  }
  if (c.period) return c.period.onDatagram(); // closing (RFC 9000 §10.2.1)
  if (from === to) c.drop(now, undefined, end - start, 'invalid', 'unparseable datagram');
  const before = c._stats.packetsReceived;
  for (let i = from; i < to; i++) {
    const h = batch.header(i);
    if (!c.isOpen()) {
      if (closedByConvertedClose(c)) findApplicationClose(c, slab, batch, i, to);
      return;
    }
    if (h.type === 'version_negotiation') return onVersionNegotiation(c, h, now);
    if (h.type === 'retry') return onRetry(c, slab, h, now);
    onPacket(c, slab, h, batch.status(i), remote, now);
  }
  // RFC 9000 §10.3.1: a datagram we could not process that ends in a token the peer gave
  // us is a Stateless Reset.
  if (c._stats.packetsReceived === before && c.isOpen() && (slab[start]! & 0x80) === 0) {
    const d = slab.subarray(start, end);
    for (const id of c.cids.peer)
      if (id.token && isStatelessReset(d, id.token)) {
        const info = { code: 0, reason: 'stateless reset', application: false, remote: true };
        return c.beginClose({ kind: 'stateless-reset', ...info }, now);
      }
  }
  if (c.ld.amplificationLimited && c.role === 'server') c.updateAmplification(now);
}

/** The peer's close was an application close converted for an Initial/Handshake packet. */
function closedByConvertedClose(c: ConnectionCore): boolean {
  const e = c.period?.info;
  return e?.kind === 'peer' && !e.application && e.code === TransportError.APPLICATION_ERROR;
}

/**
 * RFC 9000 §10.2.3: a peer closing before the handshake is confirmed sends the application's
 * CONNECTION_CLOSE in 1-RTT and, replaced by APPLICATION_ERROR, in Initial/Handshake packets,
 * coalesced in one datagram. When we can read the 1-RTT one too, it says what the
 * application said: report that instead (nothing else in those packets is processed).
 */
function findApplicationClose(
  c: ConnectionCore,
  buf: Uint8Array,
  batch: ReceiveBatch,
  from: number,
  to: number,
) {
  for (let i = from; i < to; i++) {
    const h = batch.header(i);
    const key = c.keys.read;
    if (h.type !== '1rtt' || !key) continue;
    let pn = batch.status(i);
    if (pn === NO_KEY)
      pn = unprotectPacket(key, buf, h, c.spaces[App].acks.largestReceived, c.keys.readPhase);
    if (pn < 0) continue;
    let frames: Frame[];
    try {
      frames = readPacketFrames(buf, h);
    } catch {
      continue; // malformed: the close we have stands
    }
    for (const f of frames)
      if (f.type === 'connection_close' && f.application) {
        // The queued 'closed' event holds this same object.
        const e = c.period!.info;
        e.code = f.errorCode;
        e.reason = Buffer.from(f.reason).toString('utf8');
        e.application = true;
        return;
      }
  }
}

/**
 * One packet of a datagram. `status` is what the batch did with it: the packet number once
 * unprotected, NO_KEY when it is left to this function, or an unprotect/§12.2 status.
 */
function onPacket(
  c: ConnectionCore,
  buf: Uint8Array,
  h: PacketHeader,
  status: number,
  remote: Address,
  now: number,
): void {
  const size = h.end - h.start;
  if (status === DCID_MISMATCH) return c.drop(now, h, size, 'invalid', statusName(status));
  let oldInitial = false;
  let leftVersion = 0; // client: the version this packet moved us from, until it authenticates
  if (h.type !== '1rtt' && h.version !== c.version) {
    if (h.type !== 'initial') return c.drop(now, h, size, 'unsupported', 'version');
    if (c.role === 'server' && c.oldInitialRead && h.version === c.oldVersion)
      oldInitial = true; // Client Initials sent before it saw our switch (RFC 9368 §2.3).
    else if (
      c.role === 'client' &&
      c.version === c.firstVersion &&
      !c.vnOriginalVersion &&
      !c.spaces[Handshake].readKey
    ) {
      // Compatible version negotiation (RFC 9368 §2.3): once, before the ServerHello. A
      // server may first acknowledge part of a multi-packet ClientHello in the original
      // version before it can choose (ngtcp2 does), so earlier packets do not prevent it.
      leftVersion = c.version;
      switchVersion(c, h.version);
    } else return c.drop(now, h, size, 'unsupported', 'version');
  }
  const space = spaceOf(h);
  const sp = c.spaces[space];
  if (sp.discarded) return c.drop(now, h, size, 'key_unavailable', 'keys discarded');
  // RFC 9000 §17.2.3: only clients send 0-RTT; servers drop it once 1-RTT keys are in use.
  if (h.type === '0rtt' && (c.role === 'client' || c.keys.readPhaseStartPn >= 0))
    return c.drop(now, h, size, 'rejected', '0-RTT');
  if (h.type === '1rtt' && !c.cids.isFirst(h.dcid) && !c.cids.isLocal(h.dcid))
    return c.drop(now, h, size, 'connection_unknown', 'DCID');
  const largest = sp.acks.largestReceived;
  let pn = status;
  if (pn === NO_KEY) {
    const key = oldInitial
      ? c.oldInitialRead
      : h.type === '0rtt'
        ? c.keys.zeroRttRead
        : space === App
          ? c.keys.read
          : sp.readKey;
    if (!key) {
      // RFC 9001 §5.7: keep a few packets that arrive before their keys.
      // (0-RTT only until the server's TLS decided: its handshake keys come with that.)
      const undecided = h.type !== '0rtt' || !c.spaces[Handshake].readKey;
      if (c.pendingPackets.length < MAX_BUFFERED_UNDECRYPTABLE && space !== Initial && undecided)
        c.pendingPackets = appended(c.pendingPackets, {
          data: Buffer.from(buf.subarray(h.start, h.end)),
          remote,
        });
      return c.drop(now, h, size, 'key_unavailable', 'no key yet');
    }
    pn = unprotectPacket(key, buf, h, largest, h.type === '1rtt' ? c.keys.readPhase : -1);
  }
  let phaseChanged = false;
  if (pn === UNPROTECT_KEY_PHASE) {
    // RFC 9001 §6.3: another key phase than expected: the previous key (reordered) or the
    // next one. Header protection is off: the packet number and phase bit are readable.
    const first = buf[h.start]!;
    const pnLen = (first & 3) + 1;
    pn = decodePacketNumber(largest, readTruncatedPacketNumber(buf, h.pnOffset, pnLen), pnLen);
    const k = c.keys.forPhase((first >> 2) & 1, pn);
    if (!k || !k.key.open(buf, h.start, h.pnOffset - h.start + pnLen, h.end, pn))
      pn = UNPROTECT_AUTH_FAILED;
    else phaseChanged = k.next;
  }
  if (pn < 0 && leftVersion) switchVersion(c, leftVersion); // a forged or corrupt packet
  if (pn === UNPROTECT_AUTH_FAILED) return authFailed(c, h, now);
  if (pn < 0) return c.drop(now, h, size, 'invalid', statusName(pn));
  if (sp.acks.isDuplicate(pn)) return c.drop(now, h, size, 'duplicate', `packet ${pn}`);
  const frames = readPacketFrames(buf, h);
  if (phaseChanged) c.onPeerKeyUpdate(pn, now);
  else if (h.type === '1rtt') c.keys.onPacketReceived(pn);

  c.receivedFromPeer = true;
  c._stats.packetsReceived++;
  if (c.role === 'client' && h.type === 'initial' && !c.peerInitialScid) {
    // RFC 9000 §7.2: the server's SCID becomes our DCID.
    c.peerInitialScid = ownCopy(h.scid);
    c.dcid = c.peerInitialScid;
  }
  if (enabled('packets')) logPacket('rx', h.type, h.version, h.dcid, h.scid, pn, size, frames);
  if (c.qlog)
    c.emitQlog(
      now,
      'transport:packet_received',
      qlogPacket(h.type, pn, size, frames.map(qlogFrame)),
    );
  let ackEliciting = false;
  c.packetDcid = h.dcid;
  for (const f of frames) {
    if (f.type !== 'ack' && f.type !== 'padding' && f.type !== 'connection_close')
      ackEliciting = true;
    c.onFrame(space, f, now);
    if (!c.isOpen()) return;
  }
  // (Unless its frames completed the handshake and the space was discarded meanwhile, or a
  // STREAM frame was dropped: unacknowledged, the packet's frames are sent again.)
  const unacknowledged = c.streams.takeDropped();
  if (!sp.discarded) {
    if (unacknowledged) sp.acks.onPacketRefused(pn);
    else sp.acks.onPacketReceived(pn, ackEliciting, now, c.datagramEcn);
  }
  c.lastActivity = c.lastReceived = now;
  c.ackElicitingSinceReceive = false;
  // RFC 9000 §8.1: a Handshake packet from the client validates its address; RFC 9001
  // §4.9.1: the server discards Initial keys on the first Handshake packet.
  if (space === Handshake && c.role === 'server') {
    c.path.validated = true;
    c.updateAmplification(now);
    c.discardSpace(Initial, now);
  }
  // RFC 9000 §9.3: a non-probing packet with the largest pn from a new address: rebinding.
  if (space === App && !sameAddress(remote, c.path.remote) && pn >= sp.acks.largestReceived)
    onPeerAddressChange(c, remote, frames, now);
}

/**
 * RFC 9001 §6.6: forged 1-RTT packets count against the AEAD integrity limit; past it the
 * connection closes with AEAD_LIMIT_REACHED.
 */
function authFailed(c: ConnectionCore, h: PacketHeader, now: number): void {
  c.drop(now, h, h.end - h.start, 'decryption_failure', 'authentication failed');
  if (h.type !== '1rtt') return;
  const limit = c.keys.read?.suite.aead === 'chacha20-poly1305' ? 2 ** 36 : 2 ** 52;
  if (++c.keys.authFailures >= limit)
    throw new QuicError(TransportError.AEAD_LIMIT_REACHED, 'AEAD integrity limit reached');
}

function onPeerAddressChange(
  c: ConnectionCore,
  remote: Address,
  frames: Frame[],
  now: number,
): void {
  // RFC 9000 §9.1: packets with only probing frames do not move the path.
  const probing = frames.every(
    (f) =>
      f.type === 'path_challenge' ||
      f.type === 'path_response' ||
      f.type === 'new_connection_id' ||
      f.type === 'padding',
  );
  if (probing) return;
  if (c.role === 'client') return; // Servers do not migrate (no preferred_address).
  c.path.migrate(remote, c.random(8));
  c.ecn.onNewPath(c.ecnEnabled);
  // A new path (RFC 9000 §9) may carry less: back to the base size, and a new search.
  const old = c.pmtu.size;
  if (c.pmtu.onNewPath(now)) c.onMtuUpdated(old, now);
  c.events.push({ type: 'path-changed', remote });
  c.emitQlog(now, 'connectivity:connection_id_updated', {
    remote: `${remote.address}:${remote.port}`,
  });
}
