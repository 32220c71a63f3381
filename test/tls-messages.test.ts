import { expect } from 'chai';
import fc from 'fast-check';
import { TlsAlert } from '../lib/tls/alerts.js';
import {
  HRR_RANDOM,
  HandshakeReassembler,
  HandshakeType,
  decodeCertificate,
  decodeCertificateRequest,
  decodeCertificateVerify,
  decodeClientHello,
  decodeEncryptedExtensions,
  decodeNewSessionTicket,
  decodeServerHello,
  encodeCertificate,
  encodeCertificateRequest,
  encodeCertificateVerify,
  encodeClientHello,
  encodeEncryptedExtensions,
  encodeNewSessionTicket,
  encodeServerHello,
  ExtensionType,
} from '../lib/tls/messages.js';

const rnd = (n: number, v = 7) => Buffer.alloc(n, v);

function sampleClientHello(): Buffer {
  return encodeClientHello({
    random: rnd(32, 1),
    cipherSuites: [0x1301, 0x1302, 0x1303],
    extensions: {
      serverName: 'example.com',
      supportedVersions: [0x0304],
      supportedGroups: [0x11ec, 0x001d],
      signatureAlgorithms: [0x0403, 0x0804, 0x0807],
      alpn: ['h3', 'hq-interop'],
      keyShares: [
        { group: 0x11ec, keyExchange: rnd(1216, 2) },
        { group: 0x001d, keyExchange: rnd(32, 3) },
      ],
      pskKeyExchangeModes: [1],
      earlyData: true,
      cookie: rnd(5, 4),
      quicTransportParameters: Buffer.from([1, 2, 3]),
      raw: [{ type: 0xfafa, data: rnd(3) }],
      preSharedKey: {
        identities: [{ identity: rnd(40, 5), obfuscatedTicketAge: 123456 }],
        binders: [rnd(32, 6)],
      },
    },
  });
}

function expectAlert(fn: () => unknown, alert?: number): void {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(TlsAlert);
    if (alert !== undefined) expect((e as TlsAlert).alert).to.equal(alert);
    return;
  }
  expect.fail('no alert');
}

describe('tls messages', () => {
  it('round-trips a ClientHello with every extension', () => {
    const raw = sampleClientHello();
    const [msg] = new HandshakeReassembler().push(raw);
    expect(msg!.type).to.equal(HandshakeType.client_hello);
    const ch = decodeClientHello(msg!.body);
    const e = ch.extensions;
    expect(ch.cipherSuites).to.deep.equal([0x1301, 0x1302, 0x1303]);
    expect(ch.legacySessionId.length).to.equal(0);
    expect(e.serverName).to.equal('example.com');
    expect(e.supportedVersions).to.deep.equal([0x0304]);
    expect(e.supportedGroups).to.deep.equal([0x11ec, 0x001d]);
    expect(e.signatureAlgorithms).to.deep.equal([0x0403, 0x0804, 0x0807]);
    expect(e.alpn).to.deep.equal(['h3', 'hq-interop']);
    expect(e.keyShares!.map((k) => [k.group, k.keyExchange.length])).to.deep.equal([
      [0x11ec, 1216],
      [0x001d, 32],
    ]);
    expect(e.pskKeyExchangeModes).to.deep.equal([1]);
    expect(e.earlyData).to.equal(true);
    expect(e.cookie).to.deep.equal(rnd(5, 4));
    expect(e.quicTransportParameters).to.deep.equal(Buffer.from([1, 2, 3]));
    expect(e.preSharedKey!.identities[0]!.obfuscatedTicketAge).to.equal(123456);
    expect(e.types).to.include(0xfafa);
    expect(e.types[e.types.length - 1]).to.equal(ExtensionType.pre_shared_key);
    expect(ch.bindersLength).to.equal(2 + 1 + 32);
    // the binders list is the tail of the message
    expect(raw.subarray(raw.length - 32)).to.deep.equal(rnd(32, 6));
  });

  it('round-trips ServerHello, HelloRetryRequest, EncryptedExtensions, Certificate, NewSessionTicket', () => {
    const sh = decodeServerHello(
      encodeServerHello({
        random: rnd(32, 9),
        cipherSuite: 0x1302,
        extensions: {
          supportedVersions: [0x0304],
          keyShare: { group: 0x1d, keyExchange: rnd(32) },
          selectedIdentity: 0,
        },
      }).subarray(4),
    );
    expect(sh.isHelloRetryRequest).to.equal(false);
    expect(sh.cipherSuite).to.equal(0x1302);
    expect(sh.extensions.keyShare!.group).to.equal(0x1d);
    expect(sh.extensions.selectedIdentity).to.equal(0);
    const hrr = decodeServerHello(
      encodeServerHello({
        random: HRR_RANDOM,
        cipherSuite: 0x1301,
        extensions: { supportedVersions: [0x0304], selectedGroup: 0x11ec, cookie: rnd(10) },
      }).subarray(4),
    );
    expect(hrr.isHelloRetryRequest).to.equal(true);
    expect(hrr.extensions.selectedGroup).to.equal(0x11ec);
    expect(hrr.extensions.cookie!.length).to.equal(10);
    const ee = decodeEncryptedExtensions(
      encodeEncryptedExtensions({
        alpn: ['h3'],
        quicTransportParameters: rnd(4),
        earlyData: true,
        serverName: '',
      }).subarray(4),
    );
    expect(ee.alpn).to.deep.equal(['h3']);
    expect(ee.earlyData).to.equal(true);
    expect(ee.serverName).to.equal('');
    const cert = decodeCertificate(
      encodeCertificate(Buffer.alloc(0), [rnd(100, 1), rnd(200, 2)]).subarray(4),
    );
    expect(cert.certificates.map((c) => c.length)).to.deep.equal([100, 200]);
    const nst = decodeNewSessionTicket(
      encodeNewSessionTicket({
        lifetime: 3600,
        ageAdd: 0xfffffff0,
        nonce: rnd(8),
        ticket: rnd(50),
        extensions: { maxEarlyDataSize: 0xffffffff },
      }).subarray(4),
    );
    expect(nst.ageAdd).to.equal(0xfffffff0);
    expect(nst.extensions.maxEarlyDataSize).to.equal(0xffffffff);
  });

  it('reassembles messages split at every byte boundary', () => {
    const a = sampleClientHello();
    const b = encodeEncryptedExtensions({ alpn: ['h3'] });
    const all = Buffer.concat([a, b]);
    for (let cut = 0; cut <= all.length; cut += 97) {
      const r = new HandshakeReassembler();
      const msgs = [...r.push(all.subarray(0, cut)), ...r.push(all.subarray(cut))];
      expect(msgs.map((m) => m.type)).to.deep.equal([1, 8]);
      expect(Buffer.concat(msgs.map((m) => m.raw))).to.deep.equal(all);
      expect(r.buffered).to.equal(0);
    }
  });

  it('rejects oversized messages, duplicate extensions, misplaced pre_shared_key', () => {
    expectAlert(() => new HandshakeReassembler().push(Buffer.from([1, 0x10, 0, 0])), 50);
    const dup = encodeClientHello({
      random: rnd(32),
      cipherSuites: [0x1301],
      extensions: {
        raw: [
          { type: 0x1234, data: rnd(1) },
          { type: 0x1234, data: rnd(1) },
        ],
      },
    });
    expectAlert(() => decodeClientHello(dup.subarray(4)), 47);
    const misplaced = encodeClientHello({
      random: rnd(32),
      cipherSuites: [0x1301],
      extensions: {
        preSharedKey: {
          identities: [{ identity: rnd(4), obfuscatedTicketAge: 0 }],
          binders: [rnd(32)],
        },
      },
    });
    // append an extension after pre_shared_key by hand
    const body = Buffer.from(misplaced.subarray(4));
    const extLenAt = 2 + 32 + 1 + 4 + 2;
    const extra = Buffer.from([0x12, 0x34, 0, 0]);
    const patched = Buffer.concat([body, extra]);
    patched.writeUInt16BE(body.readUInt16BE(extLenAt) + 4, extLenAt);
    expectAlert(() => decodeClientHello(patched), 47);
    // key_share whose inner length overruns its extension
    const overrun = encodeClientHello({
      random: rnd(32),
      cipherSuites: [0x1301],
      extensions: {
        raw: [{ type: ExtensionType.key_share, data: Buffer.from([0, 6, 0, 0x1d, 0, 9, 1, 2]) }],
      },
    });
    expectAlert(() => decodeClientHello(overrun.subarray(4)), 50);
  });

  it('fuzzed and truncated ClientHellos only raise TlsAlert', () => {
    const base = sampleClientHello().subarray(4);
    for (let n = 0; n < base.length; n += 13)
      expectAlert(() => decodeClientHello(base.subarray(0, n)));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
          maxLength: 8,
        }),
        (muts) => {
          const b = Buffer.from(base);
          for (const [i, v] of muts) b[i] = v;
          try {
            decodeClientHello(b);
          } catch (e) {
            if (!(e instanceof TlsAlert)) throw e;
          }
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        for (const dec of [
          decodeClientHello,
          decodeServerHello,
          decodeEncryptedExtensions,
          decodeCertificate,
          decodeNewSessionTicket,
        ]) {
          try {
            dec(b);
          } catch (e) {
            if (!(e instanceof TlsAlert)) throw e;
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('tls messages: round-trip properties', () => {
  const bytes = (min: number, max: number) =>
    fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
  const u16s = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 8 });
  const name = fc
    .string({ minLength: 1, maxLength: 20 })
    .map((s) => Buffer.from(s, 'latin1').toString('latin1'));

  it('ClientHello: decode(encode(x)) == x', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            serverName: fc.stringMatching(/^[a-z0-9.-]{1,40}$/),
            supportedGroups: u16s,
            signatureAlgorithms: u16s,
            alpn: fc.array(name, { minLength: 1, maxLength: 4 }),
            keyShares: fc.array(
              fc.record({ group: fc.integer({ min: 0, max: 0xffff }), keyExchange: bytes(1, 80) }),
              { maxLength: 3 },
            ),
            cookie: bytes(1, 40),
            quicTransportParameters: bytes(0, 60),
            pskKeyExchangeModes: fc.array(fc.integer({ min: 0, max: 255 }), {
              minLength: 1,
              maxLength: 3,
            }),
          },
          { requiredKeys: [] },
        ),
        fc.option(
          fc.record({
            identity: bytes(1, 60),
            obfuscatedTicketAge: fc.nat(),
            binder: bytes(32, 48),
          }),
          { nil: undefined },
        ),
        u16s,
        (ext, psk, suites) => {
          const input = {
            ...ext,
            supportedVersions: [0x0304, 0x0303],
            ...(psk
              ? {
                  preSharedKey: {
                    identities: [
                      { identity: psk.identity, obfuscatedTicketAge: psk.obfuscatedTicketAge },
                    ],
                    binders: [psk.binder],
                  },
                }
              : {}),
          };
          const raw = encodeClientHello({
            random: rnd(32, 3),
            cipherSuites: suites,
            extensions: input,
          });
          const ch = decodeClientHello(raw.subarray(4));
          expect(ch.cipherSuites).to.deep.equal(suites);
          const { types, ...decoded } = ch.extensions;
          expect(types.length).to.equal(Object.keys(input).length);
          expect(decoded).to.deep.equal(input);
          expect(ch.bindersLength).to.equal(psk ? 2 + 1 + psk.binder.length : 0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('ServerHello, NewSessionTicket, Certificate, CertificateVerify, CertificateRequest round-trip', () => {
    fc.assert(
      fc.property(
        bytes(32, 32),
        fc.integer({ min: 0, max: 0xffff }),
        fc.record({ group: fc.integer({ min: 0, max: 0xffff }), keyExchange: bytes(1, 100) }),
        fc.record({
          lifetime: fc.integer({ min: 0, max: 604800 }),
          ageAdd: fc.nat(),
          nonce: bytes(0, 20),
          ticket: bytes(1, 200),
        }),
        fc.array(bytes(1, 300), { maxLength: 4 }),
        u16s,
        (random, suite, keyShare, nst, certs, sigs) => {
          const sh = decodeServerHello(
            encodeServerHello({
              random,
              cipherSuite: suite,
              extensions: { supportedVersions: [0x0304], keyShare },
            }).subarray(4),
          );
          expect(sh.random).to.deep.equal(random);
          expect(sh.cipherSuite).to.equal(suite);
          expect(sh.extensions.keyShare).to.deep.equal(keyShare);
          const t = decodeNewSessionTicket(
            encodeNewSessionTicket({ ...nst, extensions: {} }).subarray(4),
          );
          expect({
            lifetime: t.lifetime,
            ageAdd: t.ageAdd,
            nonce: t.nonce,
            ticket: t.ticket,
          }).to.deep.equal(nst);
          expect(
            decodeCertificate(encodeCertificate(Buffer.alloc(0), certs).subarray(4)).certificates,
          ).to.deep.equal(certs);
          const cv = decodeCertificateVerify(
            encodeCertificateVerify(sigs[0]!, certs[0] ?? rnd(1)).subarray(4),
          );
          expect(cv).to.deep.equal({ algorithm: sigs[0], signature: certs[0] ?? rnd(1) });
          const cr = decodeCertificateRequest(
            encodeCertificateRequest(random.subarray(0, 4), { signatureAlgorithms: sigs }).subarray(
              4,
            ),
          );
          expect(cr.context).to.deep.equal(random.subarray(0, 4));
          expect(cr.extensions.signatureAlgorithms).to.deep.equal(sigs);
        },
      ),
      { numRuns: 300 },
    );
  });
});
