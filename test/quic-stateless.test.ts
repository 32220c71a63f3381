import { expect } from 'chai';
import { randomBytes } from 'node:crypto';

import {
  QUIC_V1,
  QUIC_V2,
  isStatelessReset,
  parseHeader,
  verifyRetry,
  writeLongHeader,
} from '../lib/quic/header.js';
import { StatelessServer } from '../lib/quic/stateless.js';

const client = { address: '127.0.0.1', port: 40000, family: 'IPv4' };

/** An (unprotected-looking) client Initial datagram of `size` bytes. */
function initial(
  dcid: Uint8Array,
  scid: Uint8Array,
  token: Uint8Array,
  size = 1200,
  version = QUIC_V1,
) {
  const buf = new Uint8Array(size);
  const end = writeLongHeader(buf, 0, 'initial', version, dcid, scid, token, 0, 1, 0);
  const length = size - end + 1;
  writeLongHeader(buf, 0, 'initial', version, dcid, scid, token, 0, 1, length);
  return buf;
}

describe('quic/stateless', () => {
  const dcid = randomBytes(8);
  const scid = randomBytes(5);

  it('accepts a plain Initial without address validation', () => {
    const s = new StatelessServer();
    const d = s.decideFirstPacket(initial(dcid, scid, new Uint8Array(0)), client, 1000);
    expect(d.kind).to.equal('accept');
    if (d.kind !== 'accept') return;
    expect(d.addressValidated).to.equal(false);
    expect(Buffer.from(d.dcid).equals(dcid)).to.equal(true);
    expect(d.originalDcid).to.equal(undefined);
  });

  it('drops Initials below 1200 bytes, DCIDs below 8 bytes, and non-Initial long headers', () => {
    const s = new StatelessServer();
    expect(
      s.decideFirstPacket(initial(dcid, scid, new Uint8Array(0), 1199), client, 0).kind,
    ).to.equal('drop');
    expect(
      s.decideFirstPacket(initial(randomBytes(7), scid, new Uint8Array(0)), client, 0).kind,
    ).to.equal('drop');
    const hs = new Uint8Array(1200);
    writeLongHeader(hs, 0, 'handshake', QUIC_V1, dcid, scid, new Uint8Array(0), 0, 1, 1200 - 25);
    expect(s.decideFirstPacket(hs, client, 0).kind).to.equal('drop');
  });

  it('Retry round trip: integrity tag, token validation, original DCID and retry SCID returned', () => {
    for (const version of [QUIC_V1, QUIC_V2]) {
      const s = new StatelessServer();
      const d = s.decideFirstPacket(
        initial(dcid, scid, new Uint8Array(0), 1200, version),
        client,
        5000,
        { retry: true },
      );
      expect(d.kind).to.equal('retry');
      if (d.kind !== 'retry') return;
      const h = parseHeader(d.packet, 0, d.packet.length, 8);
      expect(h.type).to.equal('retry');
      expect(h.version).to.equal(version);
      expect(Buffer.from(h.dcid).equals(scid)).to.equal(true);
      expect(verifyRetry(d.packet, h, dcid)).to.equal(true);
      // The client's second Initial: DCID = Retry SCID, token = Retry token.
      const second = initial(h.scid, scid, h.token, 1200, version);
      const a = s.decideFirstPacket(second, client, 6000, { retry: true });
      expect(a.kind).to.equal('accept');
      if (a.kind !== 'accept') return;
      expect(a.addressValidated).to.equal(true);
      expect(Buffer.from(a.originalDcid!).equals(dcid)).to.equal(true);
      expect(Buffer.from(a.retrySourceCid!).equals(h.scid)).to.equal(true);
      // Other port, other DCID, expired, or tampered: dropped.
      const other = { ...client, port: 40001 };
      expect(s.decideFirstPacket(second, other, 6000).kind).to.equal('drop');
      expect(
        s.decideFirstPacket(initial(randomBytes(8), scid, h.token, 1200, version), client, 6000)
          .kind,
      ).to.equal('drop');
      expect(s.decideFirstPacket(second, client, 5000 + 10_001).kind).to.equal('drop');
      const bad = Buffer.from(h.token);
      bad[bad.length - 1]! ^= 1;
      expect(
        s.decideFirstPacket(initial(h.scid, scid, bad, 1200, version), client, 6000).kind,
      ).to.equal('drop');
    }
  });

  it('a Retry token from another server key is refused', () => {
    const a = new StatelessServer();
    const b = new StatelessServer();
    const t = a.retryToken(client, dcid, Buffer.alloc(8, 1), 0);
    expect(b.validateRetryToken(t, client, Buffer.alloc(8, 1), 1)).to.equal(undefined);
    expect(
      Buffer.from(a.validateRetryToken(t, client, Buffer.alloc(8, 1), 1)!).equals(dcid),
    ).to.equal(true);
  });

  it('NEW_TOKEN tokens validate the IP once, from any port, until they expire', () => {
    const s = new StatelessServer({ newTokenLifetime: 60_000 });
    const t = s.newToken(client, 0);
    const later = { ...client, port: 50000 };
    const d = s.decideFirstPacket(initial(dcid, scid, t), later, 1000, { retry: true });
    expect(d.kind).to.equal('accept');
    if (d.kind === 'accept') expect(d.addressValidated).to.equal(true);
    // Used once: a replay is treated as no token (here: Retry is forced).
    expect(s.decideFirstPacket(initial(dcid, scid, t), later, 1001, { retry: true }).kind).to.equal(
      'retry',
    );
    const t2 = s.newToken(client, 0);
    expect(s.validateNewToken(t2, { ...client, address: '127.0.0.2' }, 10)).to.equal(false);
    expect(s.validateNewToken(t2, client, 60_001)).to.equal(false);
    // Across one key rotation a token is still valid.
    const t3 = s.newToken(client, 59_000);
    s.newToken(client, 61_000); // rotates
    expect(s.validateNewToken(t3, client, 61_500)).to.equal(true);
    // An invalid NEW_TOKEN token is ignored, not fatal (RFC 9000 §8.1.3). (Its first byte says
    // NEW_TOKEN: random junk that says Retry would be refused as an invalid Retry token.)
    const junk = initial(dcid, scid, Buffer.concat([Buffer.from('N'), randomBytes(39)]));
    const j = s.decideFirstPacket(junk, client, 2000);
    expect(j.kind).to.equal('accept');
    if (j.kind === 'accept') expect(j.addressValidated).to.equal(false);
  });

  it('Version Negotiation for unknown versions in >= 1200-byte datagrams only, never for VN', () => {
    const s = new StatelessServer();
    const buf = Buffer.alloc(1200);
    buf[0] = 0xc0;
    buf.writeUInt32BE(0x1a2a3a4a, 1);
    buf[5] = 8;
    dcid.copy(buf, 6);
    buf[14] = 5;
    scid.copy(buf, 15);
    const d = s.decideFirstPacket(buf, client, 0);
    expect(d.kind).to.equal('version-negotiation');
    if (d.kind !== 'version-negotiation') return;
    const h = parseHeader(d.packet, 0, d.packet.length, 8);
    expect(h.type).to.equal('version_negotiation');
    expect(Buffer.from(h.dcid).equals(scid)).to.equal(true);
    expect(Buffer.from(h.scid).equals(dcid)).to.equal(true);
    expect(h.supportedVersions).to.deep.equal([QUIC_V1, QUIC_V2]);
    expect(s.decideFirstPacket(buf.subarray(0, 1199), client, 0).kind).to.equal('drop');
    expect(s.decideFirstPacket(d.packet, client, 0).kind).to.equal('drop');
  });

  it('stateless reset: smaller than the trigger, >= 21 bytes, token from the CID, rate limited', () => {
    const s = new StatelessServer({ resetRate: 3 });
    const cid = randomBytes(8);
    const token = s.resetToken(cid);
    expect(Buffer.from(token).equals(new StatelessServer().resetToken(cid))).to.equal(false);
    expect(
      Buffer.from(new StatelessServer({ resetKey: Buffer.alloc(32, 7) }).resetToken(cid)).equals(
        new StatelessServer({ resetKey: Buffer.alloc(32, 7) }).resetToken(cid),
      ),
    ).to.equal(true);
    for (const size of [22, 30, 43, 44, 100, 1200]) {
      const trigger = Buffer.concat([Buffer.from([0x41]), cid, randomBytes(size - 9)]);
      const s2 = new StatelessServer({ resetKey: Buffer.alloc(32, 1) });
      const d = s2.decideFirstPacket(trigger, client, 0);
      expect(d.kind).to.equal('stateless-reset');
      if (d.kind !== 'stateless-reset') return;
      expect(d.packet.length).to.be.lessThan(size).and.at.least(21);
      expect(d.packet[0]! & 0xc0).to.equal(0x40);
      expect(isStatelessReset(d.packet, s2.resetToken(cid))).to.equal(true);
    }
    expect(s.statelessReset(Buffer.alloc(21, 0x40), 0)).to.equal(undefined);
    const trigger = Buffer.concat([Buffer.from([0x40]), cid, randomBytes(40)]);
    let sent = 0;
    for (let i = 0; i < 10; i++) if (s.statelessReset(trigger, 0)) sent++;
    expect(sent).to.equal(3);
    expect(s.statelessReset(trigger, 1000)).to.not.equal(undefined);
  });

  it('garbage never throws: only drop, reset or version negotiation', () => {
    const s = new StatelessServer();
    for (let i = 0; i < 2000; i++) {
      const len = (i * 37) % 1400;
      const d = s.decideFirstPacket(randomBytes(len), client, i);
      expect(['drop', 'stateless-reset', 'version-negotiation']).to.include(d.kind);
    }
  });

  it('options are checked', () => {
    expect(() => new StatelessServer({ cidLength: 2 })).to.throw(RangeError, /cidLength/);
    expect(() => new StatelessServer({ resetKey: new Uint8Array(4) })).to.throw(
      RangeError,
      /resetKey/,
    );
    expect(() => new StatelessServer({ retryTokenLifetime: -1 })).to.throw(
      RangeError,
      /retryTokenLifetime/,
    );
  });
});
