// Transport parameters (RFC 9000 §18, §7.3, §7.4; RFC 9368 §3; RFC 9221 §3).
import { expect } from 'chai';
import fc from 'fast-check';

import { QuicError } from '../lib/quic/errors.js';
import {
  TRANSPORT_PARAMETER_DEFAULTS,
  decodeTransportParameters,
  encodeTransportParameters,
  withDefaults,
  type Role,
} from '../lib/quic/transport-params.js';
import { writeVarint } from '../lib/quic/varint.js';
import { transportParameters } from './support/wire-arbitraries.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ISCID = '0f 04 01020304'; // initial_source_connection_id, required of both (§7.3)
const ODCID = '00 04 0a0b0c0d'; // original_destination_connection_id, required of a server

function tpError(h: string, sender: Role, match?: string): void {
  try {
    decodeTransportParameters(hex(h), sender);
  } catch (err) {
    expect(err).to.be.instanceOf(QuicError);
    expect((err as QuicError).code).to.equal(0x08);
    if (match) expect((err as Error).message).to.contain(match);
    return;
  }
  expect.fail(`no TRANSPORT_PARAMETER_ERROR for ${h}`);
}

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function param(id: number, value: Uint8Array): string {
  const b = Buffer.alloc(16 + value.length);
  let p = writeVarint(b, 0, id);
  p = writeVarint(b, p, value.length);
  b.set(value, p);
  return b.subarray(0, p + value.length).toString('hex');
}
const vint = (v: number): Uint8Array => {
  const b = new Uint8Array(8);
  return b.subarray(0, writeVarint(b, 0, v));
};

describe('quic/transport-params', () => {
  for (const sender of ['client', 'server'] as const) {
    it(`round trip: random ${sender} parameter sets (with GREASE)`, () => {
      fc.assert(
        fc.property(transportParameters(sender), fc.boolean(), (tp, grease) => {
          const enc = encodeTransportParameters(tp, sender, { grease });
          expect(plain(decodeTransportParameters(enc, sender))).to.deep.equal(plain(tp));
        }),
        { numRuns: 500 },
      );
    });
  }

  it('defaults (§18.2) fill absent parameters', () => {
    const tp = withDefaults(decodeTransportParameters(hex(ISCID + '0b 01 0a'), 'client'));
    expect(tp.maxAckDelay).to.equal(10);
    expect(tp.ackDelayExponent).to.equal(3);
    expect(tp.maxUdpPayloadSize).to.equal(65527);
    expect(tp.activeConnectionIdLimit).to.equal(2);
    expect(TRANSPORT_PARAMETER_DEFAULTS.maxDatagramFrameSize).to.equal(0);
  });

  it('unknown and GREASE parameters are skipped', () => {
    const tp = decodeTransportParameters(
      hex(ISCID + '1b 02 abcd' + '4041 00' + '01 01 05'),
      'client',
    );
    expect(tp.maxIdleTimeout).to.equal(5);
  });

  it('§18.2 value rules are TRANSPORT_PARAMETER_ERROR', () => {
    tpError(ISCID + param(0x03, vint(1199)), 'client', 'max_udp_payload_size');
    tpError(ISCID + param(0x0a, vint(21)), 'client', 'ack_delay_exponent');
    tpError(ISCID + param(0x0b, vint(2 ** 14)), 'client', 'max_ack_delay');
    tpError(ISCID + param(0x0e, vint(1)), 'client', 'active_connection_id_limit');
    tpError(ISCID + param(0x08, hex('d000000000000001')), 'client', 'initial_max_streams_bidi');
    tpError(ISCID + param(0x09, hex('d000000000000001')), 'client', 'initial_max_streams_uni');
    tpError(ISCID + param(0x0c, hex('00')), 'client', 'disable_active_migration');
    tpError(ODCID + ISCID + param(0x02, new Uint8Array(15)), 'server', 'stateless_reset_token');
    tpError(ISCID + param(0x01, hex('40')), 'client', 'truncated'); // value shorter than its varint
    tpError(ISCID + param(0x01, hex('0505')), 'client', 'trailing'); // value longer than the varint
    tpError(param(0x0f, new Uint8Array(21)), 'client', 'longer than 20');
    tpError(ISCID + '01 05 00', 'client', 'truncated'); // length beyond the end
    tpError(ISCID + '01', 'client', 'truncated');
  });

  it('preferred_address: exact layout, non-empty CID', () => {
    const pa = (cidLen: number): Uint8Array =>
      Buffer.concat([
        hex('7f000001 1234'),
        Buffer.alloc(16, 1),
        hex('4321'),
        Buffer.from([cidLen]),
        Buffer.alloc(cidLen, 2),
        Buffer.alloc(16, 3),
      ]);
    const tp = decodeTransportParameters(hex(ODCID + ISCID + param(0x0d, pa(4))), 'server');
    expect(tp.preferredAddress!.ipv4Port).to.equal(0x1234);
    expect(tp.preferredAddress!.ipv6Port).to.equal(0x4321);
    expect(Buffer.from(tp.preferredAddress!.connectionId).toString('hex')).to.equal('02020202');
    tpError(ODCID + ISCID + param(0x0d, pa(0)), 'server', 'connection id length 0');
    tpError(ODCID + ISCID + param(0x0d, pa(21)), 'server');
    tpError(ODCID + ISCID + param(0x0d, Buffer.concat([pa(4), hex('00')])), 'server', 'trailing');
  });

  it('version_information (RFC 9368 §3)', () => {
    const tp = decodeTransportParameters(hex(ISCID + '11 08 6b3343cf 00000001'), 'client');
    expect(tp.versionInformation).to.deep.equal({
      chosenVersion: 0x6b3343cf,
      availableVersions: [1],
    });
    tpError(ISCID + '11 00', 'client', 'version_information');
    tpError(ISCID + '11 06 6b3343cf 0000', 'client', 'version_information');
    tpError(ISCID + '11 04 00000000', 'client', 'chosen version is 0');
    tpError(ISCID + '11 08 00000001 00000000', 'client', 'available version is 0');
  });

  it('§18.2: server-only parameters from a client are TRANSPORT_PARAMETER_ERROR', () => {
    tpError(ISCID + ODCID, 'client', 'sent by a client');
    tpError(ISCID + param(0x02, new Uint8Array(16)), 'client', 'sent by a client');
    tpError(ISCID + param(0x10, new Uint8Array(4)), 'client', 'sent by a client');
    expect(() =>
      encodeTransportParameters(
        {
          initialSourceConnectionId: new Uint8Array(1),
          retrySourceConnectionId: new Uint8Array(1),
        },
        'client',
      ),
    ).to.throw(RangeError);
  });

  it('§7.3: missing connection ID parameters are TRANSPORT_PARAMETER_ERROR', () => {
    tpError('01 01 05', 'client', 'initial_source_connection_id missing');
    tpError(ISCID, 'server', 'original_destination_connection_id missing');
    expect(
      decodeTransportParameters(hex(ODCID + ISCID), 'server').originalDestinationConnectionId,
    ).to.have.length(4);
  });

  it('§7.4: duplicate parameters are TRANSPORT_PARAMETER_ERROR (also unknown ones)', () => {
    tpError(ISCID + '01 01 05 01 01 06', 'client', 'duplicate');
    tpError(ISCID + '1b 00 1b 00', 'client', 'duplicate');
  });

  it('encoder rejects values §18.2 forbids', () => {
    const base = { initialSourceConnectionId: new Uint8Array(0) };
    expect(() => encodeTransportParameters({ ...base, ackDelayExponent: 21 }, 'client')).to.throw(
      RangeError,
    );
    expect(() =>
      encodeTransportParameters({ ...base, maxUdpPayloadSize: 1000 }, 'client'),
    ).to.throw(RangeError);
    expect(() => encodeTransportParameters({ ...base, initialMaxData: -1 }, 'client')).to.throw(
      RangeError,
    );
    expect(() =>
      encodeTransportParameters({ initialSourceConnectionId: new Uint8Array(21) }, 'client'),
    ).to.throw(RangeError);
  });

  it('mutated parameter blocks give only QuicError', () => {
    fc.assert(
      fc.property(
        transportParameters('server'),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        fc.integer({ min: 0, max: 2 }),
        fc.uint8Array({ maxLength: 10 }),
        fc.constantFrom<Role>('client', 'server'),
        (tp, at, bit, how, extra, role) => {
          let buf: Buffer = encodeTransportParameters(tp, 'server');
          const i = at % buf.length;
          if (how === 0) buf[i] = buf[i]! ^ (1 << bit);
          else if (how === 1) buf = buf.subarray(0, i);
          else buf = Buffer.concat([buf, extra]);
          try {
            decodeTransportParameters(buf, role);
          } catch (err) {
            if (!(err instanceof QuicError)) throw err;
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});
