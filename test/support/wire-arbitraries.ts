// fast-check arbitraries for the QUIC wire layer (frames, headers, transport parameters).
import fc from 'fast-check';

import type { AckRange, Frame } from '../../lib/quic/frames.js';
import type { TransportParameters } from '../../lib/quic/transport-params.js';

export const varint = (): fc.Arbitrary<number> =>
  fc.oneof(
    fc.integer({ min: 0, max: 63 }),
    fc.integer({ min: 0, max: 16383 }),
    fc.integer({ min: 0, max: 2 ** 30 - 1 }),
    fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  );
const small = (): fc.Arbitrary<number> => fc.integer({ min: 0, max: 2 ** 40 });
export const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength: min, maxLength: max });

// Descending disjoint ranges with at least one missing pn between neighbours.
const ackRanges = (): fc.Arbitrary<AckRange[]> =>
  fc
    .tuple(
      small(),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 })), {
        minLength: 1,
        maxLength: 8,
      }),
    )
    .map(([top, pairs]) => {
      const ranges: AckRange[] = [];
      let end = top + 2100 * pairs.length;
      for (const [len, gap] of pairs) {
        const start = end - len;
        if (start < 0) break;
        ranges.push({ start, end });
        end = start - gap - 2;
        if (end < 0) break;
      }
      return ranges;
    });

export const frame = (): fc.Arbitrary<Frame> =>
  fc.oneof(
    fc.integer({ min: 1, max: 40 }).map((length): Frame => ({ type: 'padding', length })),
    fc.constant<Frame>({ type: 'ping' }),
    fc
      .tuple(
        ackRanges(),
        varint(),
        fc.option(fc.tuple(varint(), varint(), varint()), { nil: undefined }),
      )
      .map(([ranges, ackDelay, ecn]): Frame => {
        const f: Frame = { type: 'ack', largest: ranges[0]!.end, ackDelay, ranges };
        if (ecn) f.ecn = { ect0: ecn[0], ect1: ecn[1], ce: ecn[2] };
        return f;
      }),
    fc.tuple(varint(), varint(), varint()).map(([streamId, errorCode, finalSize]): Frame => ({
      type: 'reset_stream',
      streamId,
      errorCode,
      finalSize,
    })),
    fc
      .tuple(varint(), varint())
      .map(([streamId, errorCode]): Frame => ({ type: 'stop_sending', streamId, errorCode })),
    fc
      .tuple(small(), bytes(0, 64))
      .map(([offset, data]): Frame => ({ type: 'crypto', offset, data })),
    bytes(1, 64).map((token): Frame => ({ type: 'new_token', token })),
    fc
      .tuple(varint(), small(), bytes(0, 64), fc.boolean())
      .map(([streamId, offset, data, fin]): Frame => ({
        type: 'stream',
        streamId,
        offset,
        data,
        fin,
      })),
    varint().map((maximum): Frame => ({ type: 'max_data', maximum })),
    fc
      .tuple(varint(), varint())
      .map(([streamId, maximum]): Frame => ({ type: 'max_stream_data', streamId, maximum })),
    fc
      .tuple(fc.boolean(), fc.integer({ min: 0, max: 2 ** 50 }))
      .map(([bidi, maximum]): Frame => ({ type: 'max_streams', bidi, maximum })),
    varint().map((limit): Frame => ({ type: 'data_blocked', limit })),
    fc
      .tuple(varint(), varint())
      .map(([streamId, limit]): Frame => ({ type: 'stream_data_blocked', streamId, limit })),
    fc
      .tuple(fc.boolean(), fc.integer({ min: 0, max: 2 ** 50 }))
      .map(([bidi, limit]): Frame => ({ type: 'streams_blocked', bidi, limit })),
    fc
      .tuple(varint(), fc.nat(), bytes(1, 20), bytes(16, 16))
      .map(([sequence, r, connectionId, statelessResetToken]): Frame => ({
        type: 'new_connection_id',
        sequence,
        retirePriorTo: sequence === 0 ? 0 : r % (sequence + 1),
        connectionId,
        statelessResetToken,
      })),
    varint().map((sequence): Frame => ({ type: 'retire_connection_id', sequence })),
    bytes(8, 8).map((data): Frame => ({ type: 'path_challenge', data })),
    bytes(8, 8).map((data): Frame => ({ type: 'path_response', data })),
    fc
      .tuple(fc.boolean(), varint(), varint(), bytes(0, 40))
      .map(([application, errorCode, frameType, reason]): Frame => ({
        type: 'connection_close',
        application,
        errorCode,
        frameType: application ? 0 : frameType,
        reason,
      })),
    fc.constant<Frame>({ type: 'handshake_done' }),
    bytes(0, 64).map((data): Frame => ({ type: 'datagram', data })),
  );

const cid = (): fc.Arbitrary<Uint8Array> => bytes(0, 20);

export const transportParameters = (
  sender: 'client' | 'server',
): fc.Arbitrary<TransportParameters> =>
  fc
    .record(
      {
        originalDestinationConnectionId: cid(),
        maxIdleTimeout: varint(),
        statelessResetToken: bytes(16, 16),
        maxUdpPayloadSize: fc.integer({ min: 1200, max: 65527 }),
        initialMaxData: varint(),
        initialMaxStreamDataBidiLocal: varint(),
        initialMaxStreamDataBidiRemote: varint(),
        initialMaxStreamDataUni: varint(),
        initialMaxStreamsBidi: fc.integer({ min: 0, max: 2 ** 50 }),
        initialMaxStreamsUni: fc.integer({ min: 0, max: 2 ** 50 }),
        ackDelayExponent: fc.integer({ min: 0, max: 20 }),
        maxAckDelay: fc.integer({ min: 0, max: 2 ** 14 - 1 }),
        disableActiveMigration: fc.constant(true),
        preferredAddress: fc.record({
          ipv4Address: bytes(4, 4),
          ipv4Port: fc.integer({ min: 0, max: 65535 }),
          ipv6Address: bytes(16, 16),
          ipv6Port: fc.integer({ min: 0, max: 65535 }),
          connectionId: bytes(1, 20),
          statelessResetToken: bytes(16, 16),
        }),
        activeConnectionIdLimit: fc.integer({ min: 2, max: 2 ** 40 }),
        initialSourceConnectionId: cid(),
        retrySourceConnectionId: cid(),
        versionInformation: fc.record({
          chosenVersion: fc.integer({ min: 1, max: 0xffffffff }),
          availableVersions: fc.array(fc.integer({ min: 1, max: 0xffffffff }), { maxLength: 4 }),
        }),
        maxDatagramFrameSize: varint(),
        greaseQuicBit: fc.constant(true),
      },
      {
        requiredKeys:
          sender === 'server'
            ? ['initialSourceConnectionId', 'originalDestinationConnectionId']
            : ['initialSourceConnectionId'],
      },
    )
    .map((record) => {
      const tp = record as TransportParameters;
      if (sender === 'client') {
        delete tp.originalDestinationConnectionId;
        delete tp.statelessResetToken;
        delete tp.preferredAddress;
        delete tp.retrySourceConnectionId;
      }
      return tp;
    });
