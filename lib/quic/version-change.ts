/**
 * A connection changing its version or its first flight: compatible version negotiation
 * (RFC 9368 §2.3), incompatible version negotiation after a Version Negotiation packet
 * (RFC 9000 §6, RFC 9368 §2.1), and Retry (RFC 9000 §17.2.5). The client's side, except
 * decideVersion() (the server's choice).
 */
import { PacketSpace } from './ack-tracker.js';
import { equalBytes, ownCopy } from './bytes.js';
import { LOCAL_CID_LENGTH, type ConnectionCore } from './connection-core.js';
import { TransportError } from './errors.js';
import { isSupportedVersion, verifyRetry, type PacketHeader } from './header.js';
import { Space } from './spaces.js';
import { clientOffers, SUPPORTED_VERSIONS, versionInformation } from './version.js';

const { Initial } = PacketSpace;

/** Server: switch to our preferred version if the client lists it (RFC 9368 §2.3). */
export function decideVersion(c: ConnectionCore, ch: Buffer): void {
  const want = c.config.version!;
  if (!clientOffers(ch, want)) return;
  c.oldInitialRead = c.spaces[Initial].readKey;
  c.oldVersion = c.version;
  c.retireKey(c.spaces[Initial].writeKey!);
  c.version = want;
  c.installInitialKeys(c.initialKeysDcid);
  c.tls.transportParameters.versionInformation!.chosenVersion = want;
  c.tls.restart();
}

/** Client: the server answered in another version we offered (RFC 9368 §2.3). */
export function switchVersion(c: ConnectionCore, version: number): void {
  if (!isSupportedVersion(version)) return;
  c.retireKey(c.spaces[Initial].readKey!);
  c.retireKey(c.spaces[Initial].writeKey!);
  c.version = version;
  c.installInitialKeys(c.initialKeysDcid);
}

export function onRetry(c: ConnectionCore, buf: Uint8Array, h: PacketHeader, now: number): void {
  const reject = (why: string) => c.drop(now, h, h.end - h.start, 'rejected', why);
  // RFC 9000 §17.2.5.2: only one Retry, before any other packet from the server, valid tag.
  if (c.role !== 'client' || c.retrySourceCid || c.receivedFromPeer)
    return reject('unexpected Retry');
  if (equalBytes(h.scid, c.dcid)) return reject('Retry SCID equals our DCID');
  if (!verifyRetry(buf, h, c.originalDcid)) return reject('Retry integrity tag');
  c.retrySourceCid = ownCopy(h.scid);
  c.dcid = c.retrySourceCid;
  c.initialKeysDcid = c.dcid;
  c.token = ownCopy(h.token);
  c.spaces[Initial].readKey?.destroy();
  c.spaces[Initial].writeKey?.destroy();
  c.installInitialKeys(c.dcid);
  // RFC 9002 §6.3: Initial packets in flight are gone; the CRYPTO data is sent again.
  c.ld.resetSpace(Initial, now);
  c.spaces[Initial].resendCrypto();
  c.emitQlog(now, 'transport:packet_received', { header: { packet_type: 'retry' } });
}

export function onVersionNegotiation(c: ConnectionCore, h: PacketHeader, now: number): void {
  const reject = (why: string) => c.drop(now, h, h.end - h.start, 'rejected', why);
  // RFC 9000 §6.2: ignore VN after any other packet or listing our version.
  if (c.role !== 'client' || c.receivedFromPeer) return reject('unexpected VN');
  if (!c.cids.isFirst(h.dcid) || !equalBytes(h.scid, c.originalDcid))
    return reject('VN connection IDs');
  const versions = h.supportedVersions ?? [];
  if (versions.includes(c.version)) return reject('VN lists our version');
  // RFC 9368 §2.1: incompatible negotiation: start again with a version both support.
  const next = SUPPORTED_VERSIONS.find((v) => versions.includes(v));
  if (next !== undefined && !c.vnOriginalVersion) return restartWithVersion(c, next, now);
  // RFC 9368 §4: no common version: abandon the attempt.
  const code = TransportError.VERSION_NEGOTIATION_ERROR;
  const reason = 'no common QUIC version';
  const info = { code, reason, application: false, remote: true };
  c.beginClose({ kind: 'version-negotiation', ...info }, now);
}

/**
 * RFC 9368 §2.1: a new connection attempt in `version` (a new Initial DCID and ClientHello,
 * the same SCID and streams); 0-RTT data goes again under the new attempt's keys.
 */
function restartWithVersion(c: ConnectionCore, version: number, now: number): void {
  c.vnOriginalVersion = c.version;
  c.version = c.firstVersion = version;
  const initial = c.spaces[Initial];
  c.retireKey(initial.readKey!);
  c.retireKey(initial.writeKey!);
  // A new CRYPTO stream; packet numbers go on (loss detection has seen the old ones).
  c.spaces[Initial] = new Space(Initial, 0, 3);
  c.spaces[Initial].nextPn = initial.nextPn;
  c.ld.resetSpace(Initial, now);
  if (c.keys.zeroRttWrite) c.endZeroRtt(false, now);
  const dcid = c.random(LOCAL_CID_LENGTH);
  c.dcid = c.originalDcid = c.initialKeysDcid = dcid;
  c.installInitialKeys(dcid);
  c.tls.transportParameters.versionInformation = versionInformation(version);
  c.tls.restart();
  c.tls.start(c.wall(now));
  c.drainTls(now);
  c._stats.handshakeStart = now;
}
