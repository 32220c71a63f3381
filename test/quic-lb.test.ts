/**
 * QUIC-LB connection IDs (lib/quic/quic-lb.ts, draft-ietf-quic-load-balancers-21, plaintext
 * algorithm): the draft's test vector, the format's rules, and every CID a server issues with a
 * server ID configured (Retry SCID, handshake SCID, NEW_CONNECTION_ID) carrying it.
 */
import { expect } from 'chai';

import type { Address, Connection } from '../lib/quic/connection.js';
import { Endpoint } from '../lib/quic/endpoint.js';
import { parseHeader } from '../lib/quic/header.js';
import {
  decodeQuicLbCid,
  encodeQuicLbCid,
  quicLbCidLength,
  quicLbGenerator,
} from '../lib/quic/quic-lb.js';
import { seededRandom } from './support/seeded-random.js';
import { EndpointNet } from './support/endpoint-net.js';
import { SERVER_ADDR, clientConfig, serverConfig, withoutRole } from './support/link.js';

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const CLIENT: Address = { address: '10.0.1.1', port: 50_000, family: 'IPv4' };

describe('quic/quic-lb: plaintext QUIC-LB connection IDs', () => {
  it("encodes and decodes the draft's unencrypted test vector (Appendix B)", () => {
    // cr_bits 0, sid c4605e, nonce 4504cc4f -> 07c4605e4504cc4f (length 8 self-encoded as 7).
    const config = { serverId: hex('c4605e'), configRotation: 0, nonceLength: 4 };
    const cid = encodeQuicLbCid(config, hex('4504cc4f'));
    expect(Buffer.from(cid).toString('hex')).to.equal('07c4605e4504cc4f');
    expect(decodeQuicLbCid(cid, 3)).to.deep.equal({
      configRotation: 0,
      encodedLength: 8,
      serverId: new Uint8Array(hex('c4605e')),
      nonce: new Uint8Array(hex('4504cc4f')),
    });
  });

  it('config rotation in the top 3 bits, length - 1 in the low 5 (derived from the format)', () => {
    // The draft's second unencrypted vector (cr_bits 1, sid 350d28b420) prints a nonce of nine
    // hex digits, so it cannot be used byte for byte; with a 5-byte nonce the format (§3.4,
    // §5.2) gives an 11-byte CID whose first octet is 0b001_01010.
    const config = { serverId: hex('350d28b420'), configRotation: 1, nonceLength: 5 };
    const cid = encodeQuicLbCid(config, hex('3487d970b0'));
    expect(Buffer.from(cid).toString('hex')).to.equal('2a350d28b4203487d970b0');
    const fields = decodeQuicLbCid(cid, 5)!;
    expect(fields.configRotation).to.equal(1);
    expect(fields.encodedLength).to.equal(11);
    expect(Buffer.from(fields.serverId).toString('hex')).to.equal('350d28b420');
    // The longest: 15-byte server ID + 4-byte nonce = 20 bytes, codepoint 6.
    const max = { serverId: new Uint8Array(15).fill(9), configRotation: 6, nonceLength: 4 };
    const long = encodeQuicLbCid(max, new Uint8Array(4));
    expect(long.length).to.equal(20);
    expect(long[0]).to.equal((6 << 5) | 19);
  });

  it('unroutable CIDs decode to undefined: codepoint 0b111, too short or too long', () => {
    expect(decodeQuicLbCid(hex('e7c4605e4504cc4f'), 3)).to.equal(undefined); // 0b111
    expect(decodeQuicLbCid(hex('07c4605e4504cc'), 3)).to.equal(undefined); // nonce < 4
    expect(decodeQuicLbCid(new Uint8Array(21), 3)).to.equal(undefined);
    expect(decodeQuicLbCid(hex('07c4605e4504cc4f'), 4)).to.equal(undefined);
  });

  it('configurations and arguments are checked (TypeError / RangeError naming them)', () => {
    const ok = { serverId: hex('01'), nonceLength: 7 };
    expect(quicLbCidLength(ok)).to.equal(9);
    const bad: [unknown, RegExp][] = [
      [null, /config must be an object/],
      [{ ...ok, serverId: 'x' }, /serverId must be a Uint8Array/],
      [{ ...ok, serverId: new Uint8Array(0) }, /serverId must be 1\.\.15 bytes/],
      [{ ...ok, serverId: new Uint8Array(16) }, /serverId must be 1\.\.15 bytes/],
      [{ ...ok, configRotation: 7 }, /configRotation must be an integer 0\.\.6/],
      [{ ...ok, configRotation: -1 }, /configRotation/],
      [{ ...ok, nonceLength: 3 }, /nonceLength must be an integer >= 4/],
      [{ ...ok, nonceLength: 1.5 }, /nonceLength/],
      [{ serverId: new Uint8Array(10), nonceLength: 10 }, /sum to at most 19/],
    ];
    for (const [config, re] of bad)
      expect(() => quicLbCidLength(config as never), String(re)).to.throw(re);
    expect(() => encodeQuicLbCid(ok, new Uint8Array(6))).to.throw(RangeError, /nonce must be 7/);
    expect(() => encodeQuicLbCid(ok, 'x' as never)).to.throw(TypeError, /nonce/);
    expect(() => decodeQuicLbCid('x' as never, 3)).to.throw(TypeError, /cid/);
    expect(() => decodeQuicLbCid(new Uint8Array(8), 0)).to.throw(RangeError, /serverIdLength/);
    expect(() => quicLbGenerator({ ...ok, nonceLength: 2 }, seededRandom(1))).to.throw(RangeError);
  });

  it('a generator makes CIDs of its server with fresh random nonces', () => {
    const next = quicLbGenerator(
      { serverId: hex('abcd'), configRotation: 2, nonceLength: 5 },
      seededRandom(7),
    );
    const cids = Array.from({ length: 50 }, next);
    const nonces = new Set(
      cids.map((c) => Buffer.from(decodeQuicLbCid(c, 2)!.nonce).toString('hex')),
    );
    expect(nonces.size).to.equal(50);
    for (const c of cids) {
      expect(c.length).to.equal(8);
      expect(c[0]).to.equal((2 << 5) | 7);
      expect(Buffer.from(c.subarray(1, 3)).toString('hex')).to.equal('abcd');
    }
  });

  it('every CID the server issues carries its server ID: Retry SCID, handshake SCID, NEW_CONNECTION_ID', () => {
    const serverId = hex('5a17e0');
    const cidGenerator = quicLbGenerator({ serverId, nonceLength: 4 }, seededRandom(3));
    const net = new EndpointNet();
    const srv = net.add(
      'server',
      SERVER_ADDR,
      new Endpoint({
        server: () => withoutRole(serverConfig()),
        retry: true,
        stateless: { cidGenerator },
      }),
    );
    const client = net.add('client', CLIENT, new Endpoint());
    const conn = net.connect(client, withoutRole(clientConfig()), SERVER_ADDR);
    const announced: Uint8Array[] = [];
    let server: Connection | undefined;
    srv.onEvent = (c, ev) => {
      server = c;
      if (ev.type === 'connection-id' && ev.action === 'add') announced.push(ev.cid);
    };
    // Until the server has announced its CIDs (NEW_CONNECTION_ID after the handshake).
    expect(net.run(() => conn.state === 'established' && announced.length > 0)).to.equal(true);
    const retry = srv.received.find((r) => r.kind === 'respond');
    expect(retry?.kind === 'respond' && retry.reason).to.equal('retry');
    if (retry?.kind !== 'respond') return;
    const retryScid = parseHeader(retry.datagram, 0, retry.datagram.length, 8).scid;
    const issued = [retryScid, ...server!.localConnectionIds(), ...announced];
    expect(server!.localConnectionIds().length).to.be.greaterThan(1);
    for (const cid of issued) {
      const fields = decodeQuicLbCid(cid, 3);
      expect(fields, Buffer.from(cid).toString('hex')).to.not.equal(undefined);
      expect(Buffer.from(fields!.serverId).equals(serverId)).to.equal(true);
      expect(fields!.encodedLength).to.equal(8);
    }
    // The client talks to the server's CIDs: the short-header packets it sent were routed.
    expect(srv.received.filter((r) => r.kind === 'routed').length).to.be.greaterThan(0);
  });

  it('a cidGenerator of the wrong length or type is refused, not made into unroutable CIDs', () => {
    expect(
      () => new Endpoint({ server: () => ({ tls: {} }), stateless: { cidGenerator: 1 as never } }),
    ).to.throw(TypeError, /cidGenerator must be a function/);
    const ep = new Endpoint({
      server: () => withoutRole(serverConfig()),
      retry: true,
      stateless: { cidGenerator: () => new Uint8Array(9) },
    });
    const net = new EndpointNet();
    net.add('server', SERVER_ADDR, ep);
    const client = net.add('client', CLIENT, new Endpoint());
    const conn = net.connect(client, withoutRole(clientConfig()), SERVER_ADDR);
    net.run(() => false, 2000);
    expect(conn.state).to.not.equal('established');
    expect(ep.stats.retry).to.equal(0);
    expect(ep.stats.dropped).to.be.greaterThan(0);
  });
});
