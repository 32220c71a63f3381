// A synthetic QUIC connection built with our own encoders (for inspect and tshark tests): a
// post-quantum ClientHello over two client Initials, the server's Initial (ServerHello),
// Handshake (EncryptedExtensions) and 1-RTT packets carrying every frame type allowed there,
// with the SSLKEYLOGFILE lines that open them.
import { randomBytes } from 'node:crypto';

import { PacketKey, initialSecrets } from '../../lib/crypto/index.js';
import { PacketBuilder, type PacketSpec } from '../../lib/quic/builder.js';
import type { Frame } from '../../lib/quic/frames.js';
import { encodeTransportParameters } from '../../lib/quic/transport-params.js';
import {
  encodeClientHello,
  encodeEncryptedExtensions,
  encodeServerHello,
} from '../../lib/tls/messages.js';

export interface Capture {
  datagrams: Buffer[];
  /** true for datagrams the client sent. */
  fromClient: boolean[];
  keylog: string;
  clientDcid: Buffer;
  clientScid: Buffer;
  serverScid: Buffer;
}

/** Every frame type a 1-RTT packet may carry (RFC 9000 §19, RFC 9221), one of each; CRYPTO
 * appears in the Initial and Handshake packets. */
export function oneRttFrames(): Frame[] {
  return [
    { type: 'ping' },
    {
      type: 'ack',
      largest: 20,
      ackDelay: 5,
      ranges: [
        { start: 15, end: 20 },
        { start: 2, end: 10 },
      ],
      ecn: { ect0: 7, ect1: 0, ce: 1 },
    },
    { type: 'reset_stream', streamId: 8, errorCode: 0x10c, finalSize: 1000 },
    { type: 'stop_sending', streamId: 12, errorCode: 0x10c },
    { type: 'new_token', token: Buffer.from('a new token') },
    { type: 'stream', streamId: 3, offset: 0, data: Buffer.from('hello'), fin: true },
    { type: 'max_data', maximum: 1 << 22 },
    { type: 'max_stream_data', streamId: 0, maximum: 1 << 20 },
    { type: 'max_streams', bidi: true, maximum: 200 },
    { type: 'max_streams', bidi: false, maximum: 100 },
    { type: 'data_blocked', limit: 1 << 21 },
    { type: 'stream_data_blocked', streamId: 4, limit: 1 << 16 },
    { type: 'streams_blocked', bidi: true, limit: 200 },
    { type: 'streams_blocked', bidi: false, limit: 100 },
    {
      type: 'new_connection_id',
      sequence: 1,
      retirePriorTo: 0,
      connectionId: Buffer.alloc(8, 0x11),
      statelessResetToken: Buffer.alloc(16, 0x22),
    },
    { type: 'retire_connection_id', sequence: 0 },
    { type: 'path_challenge', data: Buffer.from('01234567') },
    { type: 'path_response', data: Buffer.from('76543210') },
    { type: 'handshake_done' },
    { type: 'datagram', data: Buffer.from('dgram') },
  ];
}

export interface CaptureOptions {
  /** The ALPN protocol both sides name (default 'hq-interop'). */
  alpn?: string;
  /** The frames of each server 1-RTT packet, one datagram each (default: every 1-RTT frame
   * type, then CONNECTION_CLOSE). */
  oneRtt?: Frame[][];
}

const CLOSE: Frame = {
  type: 'connection_close',
  application: false,
  errorCode: 0x0a,
  frameType: 0x08,
  reason: Buffer.from('bye'),
};

export function buildCapture(version: number, options: CaptureOptions = {}): Capture {
  const alpn = options.alpn ?? 'hq-interop';
  const oneRtt = options.oneRtt ?? [oneRttFrames(), [CLOSE]];
  const clientDcid = randomBytes(8);
  const clientScid = randomBytes(8);
  const serverScid = randomBytes(8);
  const random = randomBytes(32);
  const hs = { client: randomBytes(48), server: randomBytes(48) };
  const app = { client: randomBytes(48), server: randomBytes(48) };
  const ch = encodeClientHello({
    random,
    cipherSuites: [0x1301, 0x1302],
    extensions: {
      serverName: 'pq.example',
      alpn: [alpn],
      supportedVersions: [0x0304],
      supportedGroups: [0x11ec, 0x001d],
      keyShares: [{ group: 0x11ec, keyExchange: randomBytes(1216) }],
      signatureAlgorithms: [0x0403, 0x0804],
      quicTransportParameters: encodeTransportParameters(
        { initialSourceConnectionId: clientScid, initialMaxData: 1 << 20 },
        'client',
      ),
    },
  });
  const sh = encodeServerHello({
    random: randomBytes(32),
    cipherSuite: 0x1302,
    extensions: {
      supportedVersions: [0x0304],
      keyShare: { group: 0x11ec, keyExchange: randomBytes(1120) },
    },
  });
  const ee = encodeEncryptedExtensions({
    alpn: [alpn],
    quicTransportParameters: encodeTransportParameters(
      {
        originalDestinationConnectionId: clientDcid,
        initialSourceConnectionId: serverScid,
        maxDatagramFrameSize: 1200,
      },
      'server',
    ),
  });
  const initial = initialSecrets(version, clientDcid);
  const keys = [
    PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', initial.client, version),
    PacketKey.fromSecret('TLS_AES_128_GCM_SHA256', initial.server, version),
    PacketKey.fromSecret('TLS_AES_256_GCM_SHA384', hs.server, version),
    PacketKey.fromSecret('TLS_AES_256_GCM_SHA384', app.server, version),
  ];
  const b = new PacketBuilder(16384, 8);
  const fromClient: boolean[] = [];
  const datagram = (
    client: boolean,
    spec: Omit<PacketSpec, 'version' | 'largestAcked'>,
    frames: Frame[],
  ): void => {
    b.startDatagram(1500);
    b.startPacket({ ...spec, version, largestAcked: -1 });
    for (const f of frames) b.writeFrame(f);
    b.finishPacket();
    b.finishDatagram();
    fromClient.push(client);
  };
  const cInit = { type: 'initial' as const, dcid: clientDcid, scid: clientScid, keyIndex: 0 };
  datagram(true, { ...cInit, packetNumber: 0 }, [
    { type: 'crypto', offset: 0, data: ch.subarray(0, 1000) },
  ]);
  datagram(true, { ...cInit, packetNumber: 1 }, [
    { type: 'crypto', offset: 1000, data: ch.subarray(1000) },
  ]);
  datagram(
    false,
    { type: 'initial', dcid: clientScid, scid: serverScid, keyIndex: 1, packetNumber: 0 },
    [
      { type: 'ack', largest: 1, ackDelay: 0, ranges: [{ start: 0, end: 1 }] },
      { type: 'crypto', offset: 0, data: sh },
    ],
  );
  datagram(
    false,
    { type: 'handshake', dcid: clientScid, scid: serverScid, keyIndex: 2, packetNumber: 0 },
    [{ type: 'crypto', offset: 0, data: ee }],
  );
  oneRtt.forEach((frames, packetNumber) =>
    datagram(false, { type: '1rtt', dcid: clientScid, keyIndex: 3, packetNumber }, frames),
  );
  b.protect(keys);
  for (const k of keys) k.destroy();
  const r = random.toString('hex');
  return {
    datagrams: Array.from({ length: b.datagramCount }, (_, i) => Buffer.from(b.datagram(i))),
    fromClient,
    keylog: [
      `SERVER_HANDSHAKE_TRAFFIC_SECRET ${r} ${hs.server.toString('hex')}`,
      `CLIENT_HANDSHAKE_TRAFFIC_SECRET ${r} ${hs.client.toString('hex')}`,
      `SERVER_TRAFFIC_SECRET_0 ${r} ${app.server.toString('hex')}`,
      `CLIENT_TRAFFIC_SECRET_0 ${r} ${app.client.toString('hex')}`,
      '',
    ].join('\n'),
    clientDcid,
    clientScid,
    serverScid,
  };
}
