// TLS 1.3 extensions (RFC 8446 §4.2) plus ALPN (RFC 7301), SNI (RFC 6066) and
// quic_transport_parameters (RFC 9001 §8.2, carried as opaque bytes).

import { TlsAlert } from './alerts.js';
import { Reader, Writer } from './codec.js';

export const ExtensionType = {
  server_name: 0,
  supported_groups: 10,
  signature_algorithms: 13,
  application_layer_protocol_negotiation: 16,
  pre_shared_key: 41,
  early_data: 42,
  supported_versions: 43,
  cookie: 44,
  psk_key_exchange_modes: 45,
  certificate_authorities: 47,
  signature_algorithms_cert: 50,
  key_share: 51,
  quic_transport_parameters: 57,
} as const;

/** The message an extension block belongs to; decides each extension's syntax. */
export type ExtensionContext =
  | 'client_hello'
  | 'server_hello'
  | 'hello_retry_request'
  | 'encrypted_extensions'
  | 'certificate'
  | 'certificate_request'
  | 'new_session_ticket';

const E = ExtensionType;
// RFC 8446 §4.2 table (and RFC 9001 §8.2): where each extension we recognise may appear.
const ALLOWED: Record<number, readonly ExtensionContext[]> = {
  [E.server_name]: ['client_hello', 'encrypted_extensions'],
  [E.supported_groups]: ['client_hello', 'encrypted_extensions'],
  [E.signature_algorithms]: ['client_hello', 'certificate_request'],
  [E.signature_algorithms_cert]: ['client_hello', 'certificate_request'],
  [E.application_layer_protocol_negotiation]: ['client_hello', 'encrypted_extensions'],
  [E.pre_shared_key]: ['client_hello', 'server_hello'],
  [E.early_data]: ['client_hello', 'encrypted_extensions', 'new_session_ticket'],
  [E.supported_versions]: ['client_hello', 'server_hello', 'hello_retry_request'],
  [E.cookie]: ['client_hello', 'hello_retry_request'],
  [E.psk_key_exchange_modes]: ['client_hello'],
  [E.certificate_authorities]: ['client_hello', 'certificate_request'],
  [E.key_share]: ['client_hello', 'server_hello', 'hello_retry_request'],
  [E.quic_transport_parameters]: ['client_hello', 'encrypted_extensions'],
};

export interface KeyShareEntry {
  group: number;
  keyExchange: Buffer;
}
export interface PskIdentity {
  identity: Buffer;
  obfuscatedTicketAge: number;
}
export interface OfferedPsks {
  identities: PskIdentity[];
  binders: Buffer[];
}

/** Decoded extension block; fields present only when the extension was. */
export interface Extensions {
  serverName?: string; // client_hello: host name; encrypted_extensions: '' (acknowledged)
  supportedGroups?: number[];
  signatureAlgorithms?: number[];
  signatureAlgorithmsCert?: number[];
  alpn?: string[]; // client_hello: offered list; encrypted_extensions: exactly one
  supportedVersions?: number[]; // client_hello: list; server_hello/hrr: [selected]
  keyShares?: KeyShareEntry[]; // client_hello
  keyShare?: KeyShareEntry; // server_hello
  selectedGroup?: number; // hello_retry_request
  preSharedKey?: OfferedPsks; // client_hello (always the last extension)
  selectedIdentity?: number; // server_hello
  earlyData?: boolean; // client_hello / encrypted_extensions
  maxEarlyDataSize?: number; // new_session_ticket
  cookie?: Buffer;
  pskKeyExchangeModes?: number[];
  quicTransportParameters?: Buffer;
  /** Every extension type in wire order, including ones we do not understand. */
  types: number[];
}

const decodeError = (m: string): never => {
  throw new TlsAlert('decode_error', m);
};

/** Decodes an extension block body (after its u16 length). Unknown extensions are skipped. */
export function decodeExtensions(r: Reader, ctx: ExtensionContext): Extensions {
  const ext: Extensions = { types: [] };
  const seen = new Set<number>();
  while (r.remaining > 0) {
    const type = r.u16('extension type');
    const data = r.vec16('extension data');
    // RFC 8446 §4.2: at most one extension of each type per block.
    if (seen.has(type)) throw new TlsAlert('illegal_parameter', `duplicate extension ${type}`);
    seen.add(type);
    ext.types.push(type);
    const allowed = ALLOWED[type];
    if (!allowed) continue; // unknown: ignored (RFC 8446 §4.2)
    if (!allowed.includes(ctx))
      throw new TlsAlert('illegal_parameter', `extension ${type} not allowed in ${ctx}`);
    if (type === E.pre_shared_key && ctx === 'client_hello' && r.remaining > 0) {
      // RFC 8446 §4.2.11: pre_shared_key MUST be the last extension in the ClientHello.
      throw new TlsAlert('illegal_parameter', 'pre_shared_key is not the last extension');
    }
    decodeOne(ext, type, new Reader(data), ctx);
  }
  return ext;
}

function decodeOne(ext: Extensions, type: number, d: Reader, ctx: ExtensionContext): void {
  switch (type) {
    case E.server_name:
      if (ctx === 'encrypted_extensions') ext.serverName = '';
      else {
        // RFC 6066 §3: ServerNameList; we take the host_name entry.
        const list = d.sub16('server_name list', 1);
        while (list.remaining > 0) {
          const nameType = list.u8('name type');
          const name = list.vec16('host name', 1);
          if (nameType === 0) {
            if (ext.serverName !== undefined) decodeError('two host names');
            ext.serverName = name.toString('latin1');
          }
        }
      }
      break;
    case E.supported_groups:
      ext.supportedGroups = d.u16List('supported_groups', 2);
      break;
    case E.signature_algorithms:
      ext.signatureAlgorithms = d.u16List('signature_algorithms', 2);
      break;
    case E.signature_algorithms_cert:
      ext.signatureAlgorithmsCert = d.u16List('signature_algorithms_cert', 2);
      break;
    case E.application_layer_protocol_negotiation: {
      // RFC 7301 §3.1: ProtocolNameList, each name 1..255 bytes, list non-empty.
      const list = d.sub16('ALPN list', 2);
      const names: string[] = [];
      while (list.remaining > 0) names.push(list.vec8('protocol name', 1).toString('latin1'));
      if (ctx === 'encrypted_extensions' && names.length !== 1)
        decodeError('server ALPN must name one protocol');
      ext.alpn = names;
      break;
    }
    case E.pre_shared_key:
      if (ctx === 'server_hello') ext.selectedIdentity = d.u16('selected_identity');
      else {
        const ids = d.sub16('psk identities', 7);
        const identities: PskIdentity[] = [];
        while (ids.remaining > 0) {
          const identity = ids.vec16('psk identity', 1);
          identities.push({ identity, obfuscatedTicketAge: ids.u32('obfuscated_ticket_age') });
        }
        const bs = d.sub16('psk binders', 33);
        const binders: Buffer[] = [];
        while (bs.remaining > 0) binders.push(bs.vec8('psk binder', 32));
        // RFC 8446 §4.2.11: one binder per identity.
        if (binders.length !== identities.length)
          throw new TlsAlert('illegal_parameter', 'binder count mismatch');
        ext.preSharedKey = { identities, binders };
      }
      break;
    case E.early_data:
      if (ctx === 'new_session_ticket') ext.maxEarlyDataSize = d.u32('max_early_data_size');
      else ext.earlyData = true;
      break;
    case E.supported_versions:
      if (ctx === 'client_hello') {
        const v = d.sub8('supported_versions', 2);
        const list: number[] = [];
        if (v.remaining & 1) decodeError('odd supported_versions');
        while (v.remaining > 0) list.push(v.u16());
        ext.supportedVersions = list;
      } else ext.supportedVersions = [d.u16('selected_version')];
      break;
    case E.cookie:
      ext.cookie = d.vec16('cookie', 1);
      break;
    case E.psk_key_exchange_modes: {
      const m = d.vec8('psk_key_exchange_modes', 1);
      ext.pskKeyExchangeModes = [...m];
      break;
    }
    case E.key_share:
      if (ctx === 'client_hello') {
        const list = d.sub16('client_shares');
        const shares: KeyShareEntry[] = [];
        while (list.remaining > 0) {
          const group = list.u16('key share group');
          shares.push({ group, keyExchange: list.vec16('key_exchange', 1) });
        }
        ext.keyShares = shares;
      } else if (ctx === 'hello_retry_request') ext.selectedGroup = d.u16('selected_group');
      else {
        const group = d.u16('key share group');
        ext.keyShare = { group, keyExchange: d.vec16('key_exchange', 1) };
      }
      break;
    case E.certificate_authorities:
      d.pos = d.end; // accepted, not used
      break;
    case E.quic_transport_parameters:
      ext.quicTransportParameters = d.bytes(d.remaining);
      break;
  }
  d.expectEnd(`extension ${type}`);
}

/** Extensions to encode; written in the order listed in ENCODE_ORDER, pre_shared_key last. */
export type ExtensionsInput = Omit<Extensions, 'types'> & {
  /** Extra raw extensions (type, data), e.g. for tests or GREASE. */
  raw?: { type: number; data: Uint8Array }[];
};

export function encodeExtensions(w: Writer, ext: ExtensionsInput, ctx: ExtensionContext): void {
  w.vec16(() => {
    const put = (type: number, fill: (w: Writer) => void) => {
      w.u16(type);
      w.vec16(fill);
    };
    if (ext.serverName !== undefined)
      put(E.server_name, (x) => {
        if (ctx === 'encrypted_extensions') return;
        x.vec16((y) => y.u8(0).vec16(Buffer.from(ext.serverName!, 'latin1')));
      });
    if (ext.supportedVersions)
      put(E.supported_versions, (x) => {
        if (ctx === 'client_hello') x.vec8((y) => ext.supportedVersions!.forEach((v) => y.u16(v)));
        else x.u16(ext.supportedVersions![0]!);
      });
    if (ext.supportedGroups) put(E.supported_groups, (x) => x.u16List(ext.supportedGroups!));
    if (ext.signatureAlgorithms)
      put(E.signature_algorithms, (x) => x.u16List(ext.signatureAlgorithms!));
    if (ext.signatureAlgorithmsCert)
      put(E.signature_algorithms_cert, (x) => x.u16List(ext.signatureAlgorithmsCert!));
    if (ext.alpn)
      put(E.application_layer_protocol_negotiation, (x) =>
        x.vec16((y) => ext.alpn!.forEach((p) => y.vec8(Buffer.from(p, 'latin1')))),
      );
    if (ext.keyShares)
      put(E.key_share, (x) =>
        x.vec16((y) => ext.keyShares!.forEach((s) => y.u16(s.group).vec16(s.keyExchange))),
      );
    if (ext.keyShare)
      put(E.key_share, (x) => x.u16(ext.keyShare!.group).vec16(ext.keyShare!.keyExchange));
    if (ext.selectedGroup !== undefined) put(E.key_share, (x) => x.u16(ext.selectedGroup!));
    if (ext.cookie) put(E.cookie, (x) => x.vec16(ext.cookie!));
    if (ext.pskKeyExchangeModes)
      put(E.psk_key_exchange_modes, (x) => x.vec8(Uint8Array.from(ext.pskKeyExchangeModes!)));
    if (ext.earlyData) put(E.early_data, () => {});
    if (ext.maxEarlyDataSize !== undefined) put(E.early_data, (x) => x.u32(ext.maxEarlyDataSize!));
    if (ext.quicTransportParameters)
      put(E.quic_transport_parameters, (x) => x.bytes(ext.quicTransportParameters!));
    for (const r of ext.raw ?? []) put(r.type, (x) => x.bytes(r.data));
    if (ext.selectedIdentity !== undefined)
      put(E.pre_shared_key, (x) => x.u16(ext.selectedIdentity!));
    if (ext.preSharedKey)
      put(E.pre_shared_key, (x) => {
        x.vec16((y) =>
          ext.preSharedKey!.identities.forEach((i) =>
            y.vec16(i.identity).u32(i.obfuscatedTicketAge),
          ),
        );
        x.vec16((y) => ext.preSharedKey!.binders.forEach((b) => y.vec8(b)));
      });
  });
}

/** Length of the encoded binders list (u16 prefix included) for a set of binder lengths. */
export function bindersLength(binderLengths: readonly number[]): number {
  return 2 + binderLengths.reduce((n, l) => n + 1 + l, 0);
}
