// Hostile input to the TLS engines: every failure must be a TlsAlert (never another exception,
// never a hang), with the alert RFC 8446 / RFC 9001 ask for.
import { expect } from 'chai';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { TlsAlert } from '../lib/tls/alerts.js';
import { TlsClient } from '../lib/tls/client.js';
import { TlsServer } from '../lib/tls/server.js';
import type { TlsEvent } from '../lib/tls/engine.js';
import {
  ExtensionType,
  HandshakeType,
  decodeServerHello,
  encodeClientHello,
  encodeServerHello,
  encodeEncryptedExtensions,
  encodeFinished,
  encodeKeyUpdate,
  frameHandshake,
  type ExtensionsInput,
} from '../lib/tls/messages.js';
import { ClientKeyShare } from '../lib/crypto/groups.js';
import * as log from '../lib/debug/log.js';
import { TP_CLIENT, clientOptions, runHandshake, serverOptions } from './support/tls-pair.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');

function alertOf(fn: () => unknown): TlsAlert | undefined {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof TlsAlert)) throw e;
    return e;
  }
  return undefined;
}
function expectAlert(fn: () => unknown, alert: number): void {
  const a = alertOf(fn);
  expect(a, 'an alert').to.be.instanceOf(TlsAlert);
  expect(a!.alert, a!.message).to.equal(alert);
}

function clientHello(ext: Partial<ExtensionsInput> = {}, sessionId?: Buffer): Buffer {
  const x25519 = ClientKeyShare.generate('X25519');
  const base: ExtensionsInput = {
    supportedVersions: [0x0304],
    supportedGroups: [0x001d],
    signatureAlgorithms: [0x0403, 0x0804],
    alpn: ['h3'],
    keyShares: [{ group: 0x001d, keyExchange: x25519.share }],
    quicTransportParameters: TP_CLIENT,
  };
  x25519.destroy();
  return encodeClientHello({
    random: randomBytes(32),
    legacySessionId: sessionId,
    cipherSuites: [0x1301],
    extensions: { ...base, ...ext },
  });
}

const server = () => new TlsServer(serverOptions());
const serverEvents = (s: TlsServer): TlsEvent[] => s.drain();

describe('tls hostile input', () => {
  it('a well-formed crafted ClientHello is accepted (the baseline for the cases below)', () => {
    const s = server();
    s.receive('initial', clientHello(), NOW);
    expect(serverEvents(s).some((e) => e.type === 'data' && e.level === 'handshake')).to.equal(
      true,
    );
  });

  it('QUIC profile: missing transport parameters, session id, missing/foreign ALPN', () => {
    expectAlert(
      () => server().receive('initial', clientHello({ quicTransportParameters: undefined }), NOW),
      109,
    );
    expectAlert(() => server().receive('initial', clientHello({}, randomBytes(32)), NOW), 47);
    expectAlert(() => server().receive('initial', clientHello({ alpn: undefined }), NOW), 120);
    expectAlert(() => server().receive('initial', clientHello({ alpn: ['h2'] }), NOW), 120);
    expectAlert(
      () => server().receive('initial', clientHello({ supportedVersions: [0x0303] }), NOW),
      70,
    );
  });

  it('bad key shares are illegal_parameter', () => {
    const hybrid = ClientKeyShare.generate('X25519MLKEM768');
    const share = hybrid.share;
    hybrid.destroy();
    const withShare = (group: number, keyExchange: Buffer) =>
      clientHello({ supportedGroups: [group], keyShares: [{ group, keyExchange }] });
    // wrong hybrid length
    expectAlert(
      () => server().receive('initial', withShare(0x11ec, share.subarray(0, 1215)), NOW),
      47,
    );
    // ML-KEM encapsulation key failing the FIPS 203 §7.2 modulus check
    const badEk = Buffer.from(share);
    badEk.fill(0xff, 0, 384);
    expectAlert(() => server().receive('initial', withShare(0x11ec, badEk), NOW), 47);
    // X25519 low-order point: all-zero shared secret
    expectAlert(() => server().receive('initial', withShare(0x001d, Buffer.alloc(32)), NOW), 47);
    // P-256: not a point on the curve
    const notPoint = Buffer.alloc(65, 1);
    notPoint[0] = 4;
    expectAlert(() => server().receive('initial', withShare(0x0017, notPoint), NOW), 47);
    // two shares for one group; a share for a group not in supported_groups
    const x = ClientKeyShare.generate('X25519');
    const dup = clientHello({
      keyShares: [
        { group: 0x1d, keyExchange: x.share },
        { group: 0x1d, keyExchange: x.share },
      ],
    });
    expectAlert(() => server().receive('initial', dup, NOW), 47);
    expectAlert(
      () =>
        server().receive(
          'initial',
          clientHello({
            supportedGroups: [0x17],
            keyShares: [{ group: 0x1d, keyExchange: x.share }],
          }),
          NOW,
        ),
      47,
    );
    x.destroy();
  });

  it('client key shares of every wrong length are illegal_parameter for every group', () => {
    const lengths: Record<number, number> = {
      0x11ec: 1216,
      0x11eb: 1249,
      0x0201: 1184,
      0x0202: 1568,
      0x001d: 32,
      0x0017: 65,
    };
    for (const [code, len] of Object.entries(lengths).map(([k, v]) => [Number(k), v] as const))
      for (const n of [1, len - 1, len + 1, 2 * len]) {
        const ch = clientHello({
          supportedGroups: [code],
          keyShares: [{ group: code, keyExchange: randomBytes(n) }],
        });
        expectAlert(
          () =>
            new TlsServer(
              serverOptions({
                groups: [
                  'X25519MLKEM768',
                  'SecP256r1MLKEM768',
                  'MLKEM768',
                  'MLKEM1024',
                  'X25519',
                  'secp256r1',
                ],
              }),
            ).receive('initial', ch, NOW),
          47,
        );
      }
  });

  it('a server key share of the wrong length is illegal_parameter at the client', () => {
    const c = new TlsClient(clientOptions());
    c.start(NOW);
    const s = server();
    s.receive('initial', (c.drain()[0] as { data: Buffer }).data, NOW);
    const sh = Buffer.from((s.drain().find((e) => e.type === 'data') as { data: Buffer }).data);
    // ServerHello body: version 2, random 32, session id 1+n, suite 2, compression 1, extensions length 2
    const body = sh.subarray(4);
    const extStart = 2 + 32 + 1 + body[34]! + 2 + 1 + 2;
    expect(body.readUInt16BE(extStart)).to.equal(ExtensionType.supported_versions);
    const ksAt = extStart + 6; // after supported_versions (type, len, u16)
    expect(body.readUInt16BE(ksAt)).to.equal(ExtensionType.key_share);
    body.writeUInt16BE(body.readUInt16BE(ksAt + 6) - 1, ksAt + 6); // claim one byte less: trailing byte
    expectAlert(() => c.receive('initial', sh, NOW), 50);
  });

  it('bad server key shares are illegal_parameter at the client', () => {
    for (const [group, mangle] of [
      ['X25519MLKEM768', (k: Buffer) => k.subarray(0, k.length - 1)],
      ['X25519MLKEM768', (k: Buffer) => Buffer.concat([k, Buffer.alloc(1)])],
      ['X25519', (k: Buffer) => Buffer.alloc(k.length)],
      ['secp256r1', (_k: Buffer) => Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 0xff)])],
    ] as const) {
      const c = new TlsClient(clientOptions({ groups: [group] }));
      c.start(NOW);
      const s = server();
      s.receive('initial', (c.drain()[0] as { data: Buffer }).data, NOW);
      const raw = (s.drain().find((e) => e.type === 'data') as { data: Buffer }).data;
      const sh = decodeServerHello(raw.subarray(4));
      const forged = encodeServerHello({
        random: sh.random,
        cipherSuite: sh.cipherSuite,
        extensions: {
          supportedVersions: [0x0304],
          keyShare: {
            group: sh.extensions.keyShare!.group,
            keyExchange: mangle(sh.extensions.keyShare!.keyExchange),
          },
        },
      });
      expectAlert(() => c.receive('initial', forged, NOW), 47);
    }
  });

  it('unexpected message order or level is unexpected_message', () => {
    expectAlert(() => server().receive('initial', encodeFinished(Buffer.alloc(32)), NOW), 10);
    expectAlert(() => server().receive('handshake', clientHello(), NOW), 10);
    const c = new TlsClient(clientOptions());
    expectAlert(() => c.receive('initial', encodeEncryptedExtensions({}), NOW), 10); // before start
    const c2 = new TlsClient(clientOptions());
    c2.start(NOW);
    expectAlert(() => c2.receive('initial', encodeEncryptedExtensions({}), NOW), 10);
    const c3 = new TlsClient(clientOptions());
    c3.start(NOW);
    expectAlert(() => c3.receive('early', Buffer.from([1]), NOW), 10);
    // KeyUpdate is forbidden in QUIC (RFC 9001 §6: error 0x10a)
    const r = runHandshake(clientOptions(), serverOptions());
    const a = alertOf(() => r.server.receive('application', encodeKeyUpdate(false), NOW));
    expect(a!.quicErrorCode).to.equal(0x10a);
    // a second ClientHello after completion
    expectAlert(() => r.client.receive('application', clientHello(), NOW), 10);
  });

  it('truncated input waits, oversized input is refused, and a dead engine stays dead', () => {
    const s = server();
    const ch = clientHello();
    s.receive('initial', ch.subarray(0, ch.length - 1), NOW);
    expect(s.drain()).to.deep.equal([]);
    s.receive('initial', ch.subarray(ch.length - 1), NOW);
    expect(s.drain().length).to.be.greaterThan(0);
    const s2 = server();
    expectAlert(
      () => s2.receive('initial', Buffer.from([HandshakeType.client_hello, 0x01, 0x00, 0x01]), NOW),
      50,
    );
    expectAlert(() => s2.receive('initial', clientHello(), NOW), 50);
    // a message body with trailing garbage
    const body = Buffer.concat([clientHello().subarray(4), Buffer.from([0])]);
    expectAlert(
      () => server().receive('initial', frameHandshake(HandshakeType.client_hello, body), NOW),
      50,
    );
  });

  it('destroy() ends the engine and wipes its secrets', () => {
    const r = runHandshake(clientOptions(), serverOptions());
    const ks = (r.client as unknown as { ks: { masterSecret: Buffer } }).ks;
    expect(ks.masterSecret.some((b) => b !== 0)).to.equal(true);
    r.client.destroy();
    expect(ks.masterSecret.every((b) => b === 0)).to.equal(true);
    expectAlert(() => r.client.receive('application', Buffer.alloc(4), NOW), 80);
    const c = new TlsClient(clientOptions());
    c[Symbol.dispose]();
    expectAlert(() => c.start(NOW), 80);
  });

  it('API misuse is a TypeError naming the argument', () => {
    expect(() => new TlsClient({ alpn: ['h3'] })).to.throw(TypeError, /transportParameters/);
    expect(() => new TlsClient({ transportParameters: TP_CLIENT })).to.throw(TypeError, /alpn/);
    expect(() => new TlsClient(clientOptions({ groups: ['nope' as never] }))).to.throw(
      TypeError,
      /groups/,
    );
    expect(() => new TlsClient(clientOptions({ ciphers: 'TLS_NULL' }))).to.throw(
      TypeError,
      /ciphers/,
    );
    expect(() => new TlsServer(serverOptions({ keys: 'junk' }))).to.throw(TypeError, /keys/);
    expect(() => server().receive('bogus' as never, Buffer.alloc(1), NOW)).to.throw(
      TypeError,
      /level/,
    );
  });

  it('fuzzed ClientHellos: only alerts', () => {
    const base = clientHello();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.nat(base.length),
        (muts, cut) => {
          const b = Buffer.from(base.subarray(0, Math.max(4, cut)));
          for (const [i, v] of muts) if (i < b.length) b[i] = v;
          const s = server();
          alertOf(() => s.receive('initial', b, NOW));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('structurally fuzzed ClientHellos (known extension types, random bodies): only alerts', () => {
    const types = [0, 10, 13, 16, 41, 42, 43, 44, 45, 47, 50, 51, 57, 0x1a1a, 21];
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...types), fc.uint8Array({ maxLength: 40 })), {
          maxLength: 6,
        }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 4 }),
        (exts, suites) => {
          const ch = encodeClientHello({
            random: randomBytes(32),
            cipherSuites: suites,
            extensions: { raw: exts.map(([type, data]) => ({ type, data })) },
          });
          alertOf(() => server().receive('initial', ch, NOW));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fuzzed server flights: only alerts at the client', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(4000), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (inSh, muts) => {
          const c = new TlsClient(clientOptions({ groups: ['X25519'] }));
          c.start(NOW);
          const s = new TlsServer(serverOptions({ groups: ['X25519'] }));
          s.receive('initial', (c.drain()[0] as { data: Buffer }).data, NOW);
          const evs = s.drain().filter((e) => e.type === 'data') as {
            level: 'initial' | 'handshake';
            data: Buffer;
          }[];
          const sh = Buffer.from(evs[0]!.data);
          const flight = Buffer.from(evs[1]!.data);
          const target = inSh ? sh : flight;
          for (const [i, v] of muts) target[i % target.length] = v;
          // alertOf rethrows anything that is not a TlsAlert; a mutated length may also leave
          // the client waiting for more bytes, which is not an error.
          alertOf(() => {
            c.receive('initial', sh, NOW);
            c.receive('handshake', flight, NOW);
          });
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('tls debug output', () => {
  it('ZQUIC_DEBUG_HANDSHAKE logs each step with its duration from `now`', () => {
    const lines: string[] = [];
    const was = log.enabled('handshake');
    log.setSink((l) => lines.push(l));
    log.setEnabled('handshake', true);
    try {
      runHandshake(clientOptions(), serverOptions());
    } finally {
      log.setEnabled('handshake', was);
      log.setSink((l) => process.stderr.write(l + '\n'));
    }
    expect(
      lines.some((l) =>
        /^zquic:handshake client ServerHello \(X25519MLKEM768, TLS_AES_128_GCM_SHA256\) \+\d+ms/.test(
          l,
        ),
      ),
    ).to.equal(true);
    expect(
      lines.some((l) =>
        /^zquic:handshake server client Finished \(handshake complete\) \+\d+ms \(\d+ms total\)/.test(
          l,
        ),
      ),
    ).to.equal(true);
  });
});
