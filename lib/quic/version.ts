/**
 * QUIC versions we speak and version negotiation (RFC 9368): the version_information
 * transport parameter we send (§3), the server's choice of a compatible version from the
 * ClientHello (§2.3), and the checks that the negotiation was not tampered with (§4).
 */
import { QUIC_V1, QUIC_V2 } from '../crypto/packet.js';
import { decodeClientHello } from '../tls/messages.js';
import { QuicError, TransportError } from './errors.js';
import { decodeTransportParameters, type VersionInformation } from './transport-params.js';

/** Versions we speak, in our order of preference for version negotiation. */
export const SUPPORTED_VERSIONS: readonly number[] = [QUIC_V1, QUIC_V2];

/** §3: version_information: the chosen version, then every version we support (`preferred`
 * first when given: a server's order of preference). */
export function versionInformation(chosen: number, preferred = chosen): VersionInformation {
  return {
    chosenVersion: chosen,
    availableVersions: [preferred, ...SUPPORTED_VERSIONS.filter((v) => v !== preferred)],
  };
}

/**
 * §2.3: whether the client's whole ClientHello (a TLS handshake message) lists `version` among
 * its available versions, so that a server may switch to it. False for anything else (the TLS
 * engine then reports a malformed message itself).
 */
export function clientOffers(clientHello: Buffer, version: number): boolean {
  if (clientHello[0] !== 1) return false; // not a ClientHello
  const body = clientHello.subarray(4, 4 + clientHello.readUIntBE(1, 3));
  const tp = decodeClientHello(body).extensions.quicTransportParameters;
  if (!tp) return false;
  const vi = decodeTransportParameters(tp, 'client').versionInformation;
  return !!vi && vi.availableVersions.includes(version);
}

/**
 * §4: the peer's version_information must agree with what happened on the wire. A client
 * checks the server's chosen version, and after an incompatible negotiation (from
 * `vnOriginal`) that the server does not support the version it gave up (a downgrade);
 * a server checks the client's chosen version against the version of its first Initial.
 */
export function checkVersionInformation(
  vi: VersionInformation | undefined,
  role: 'client' | 'server',
  wire: { version: number; firstVersion: number; vnOriginal: number },
): void {
  const fail = (m: string): never => {
    throw new QuicError(TransportError.VERSION_NEGOTIATION_ERROR, m);
  };
  if (role === 'server') {
    if (vi && vi.chosenVersion !== wire.firstVersion) fail('client chosen version mismatch');
    return;
  }
  if (!vi) {
    if (wire.version !== wire.firstVersion || wire.vnOriginal)
      fail('version_information missing after version negotiation');
    return;
  }
  if (vi.chosenVersion !== wire.version) fail('server chosen version mismatch');
  if (wire.vnOriginal && vi.availableVersions.includes(wire.vnOriginal)) fail('version downgrade');
}
