import { expect } from 'chai';
import { TlsAlert } from '../lib/tls/alerts.js';
import { TicketKeys, decodeSessionTicket, encodeSessionTicket } from '../lib/tls/session-ticket.js';
import { AntiReplay } from '../lib/tls/anti-replay.js';
import { TlsClient } from '../lib/tls/client.js';
import { TlsServer } from '../lib/tls/server.js';
import { SignatureScheme } from '../lib/tls/certificates.js';
import type { GroupName } from '../lib/crypto/groups.js';
import { PacketKey, QUIC_V1 } from '../lib/crypto/packet.js';
import type { TlsEvent } from '../lib/tls/engine.js';
import {
  TP_CLIENT,
  TP_SERVER,
  clientOptions,
  fixture,
  runHandshake,
  serverCreds,
  serverOptions,
  type PairResult,
} from './support/tls-pair.js';

const NOW = Date.parse('2030-01-01T00:00:00Z');

function expectAlert(fn: () => unknown, alert: number | string): TlsAlert {
  try {
    fn();
  } catch (e) {
    expect(e, String(e)).to.be.instanceOf(TlsAlert);
    const a = e as TlsAlert;
    if (typeof alert === 'number') expect(a.alert, a.message).to.equal(alert);
    else expect(a.message).to.contain(alert);
    return a;
  }
  return expect.fail('no alert');
}

/** Both sides agree and every secret one side writes is the one the other reads. */
function expectAgreement(r: PairResult): void {
  expect(r.clientInfo, 'client complete').to.not.equal(undefined);
  expect(r.serverInfo, 'server complete').to.not.equal(undefined);
  const c = r.clientInfo!;
  const s = r.serverInfo!;
  for (const k of [
    'group',
    'cipher',
    'alpn',
    'resumed',
    'earlyDataAccepted',
    'postQuantum',
    'helloRetryRequest',
  ] as const)
    expect(c[k], k).to.equal(s[k]);
  for (const level of ['handshake', 'application'])
    for (const [w, rd] of [
      ['client:write', 'server:read'],
      ['server:write', 'client:read'],
    ]) {
      const a = r.secrets.get(`${level}:${w}`);
      expect(a, `${level} ${w}`).to.be.instanceOf(Buffer);
      expect(a).to.deep.equal(r.secrets.get(`${level}:${rd}`));
    }
  expect(c.peerTransportParameters).to.deep.equal(TP_SERVER);
  expect(s.peerTransportParameters).to.deep.equal(TP_CLIENT);
}

const GROUPS: GroupName[] = [
  'X25519MLKEM768',
  'SecP256r1MLKEM768',
  'MLKEM768',
  'MLKEM1024',
  'X25519',
  'secp256r1',
];
const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

describe('tls handshake (in memory)', () => {
  it('default: X25519MLKEM768, TLS_AES_128_GCM_SHA256, no HelloRetryRequest, post-quantum', () => {
    const r = runHandshake(clientOptions(), serverOptions());
    expectAgreement(r);
    expect(r.clientInfo).to.include({
      group: 'X25519MLKEM768',
      cipher: 'TLS_AES_128_GCM_SHA256',
      alpn: 'h3',
      postQuantum: true,
      resumed: false,
      helloRetryRequest: false,
    });
    expect(r.clientInfo!.signatureScheme).to.equal(SignatureScheme.ecdsa_secp256r1_sha256);
    expect(r.clientInfo!.peerCertificate!.subject).to.contain('zquic ecdsa-p256');
    // the first event is the ClientHello at the initial level, and it carries both default shares
    const first = r.clientEvents[0]!;
    expect(first.type === 'data' && first.level).to.equal('initial');
  });

  for (const group of GROUPS)
    for (const cipher of SUITES)
      it(`group ${group} x ${cipher}`, () => {
        const r = runHandshake(
          clientOptions({ groups: [group], ciphers: cipher }),
          serverOptions(),
        );
        expectAgreement(r);
        expect(r.clientInfo).to.include({ group, cipher });
        expect(r.clientInfo!.postQuantum).to.equal(group.includes('MLKEM'));
      });

  it('secrets drive QUIC packet protection: what one side seals at a level the other opens', () => {
    for (const cipher of SUITES) {
      const r = runHandshake(clientOptions({ ciphers: cipher }), serverOptions());
      const ev = r.clientEvents.find((e) => e.type === 'secret') as Extract<
        TlsEvent,
        { type: 'secret' }
      >;
      const name = ev.suite.name;
      expect(name).to.equal(cipher);
      for (const level of ['handshake', 'application'])
        for (const [from, to] of [
          ['client', 'server'],
          ['server', 'client'],
        ]) {
          const seal = PacketKey.fromSecret(
            name as never,
            r.secrets.get(`${level}:${from}:write`)!,
            QUIC_V1,
          );
          const open = PacketKey.fromSecret(
            name as never,
            r.secrets.get(`${level}:${to}:read`)!,
            QUIC_V1,
          );
          const buf = Buffer.alloc(10 + 24 + 16);
          buf[0] = 0x40; // short header, 1-byte packet number
          buf[9] = 7;
          buf.fill(0xab, 10, 34);
          const len = seal.protect(buf, 0, 10, 1, 24, 7);
          expect(open.unprotect(buf, 0, 9, len, 6, 0)).to.equal(7);
          expect(buf.subarray(10, 34).every((b) => b === 0xab)).to.equal(true);
          seal.destroy();
          open.destroy();
        }
    }
  });

  const SIGS: [string, number][] = [
    ['ecdsa-p256', SignatureScheme.ecdsa_secp256r1_sha256],
    ['ecdsa-p384', SignatureScheme.ecdsa_secp384r1_sha384],
    ['ed25519', SignatureScheme.ed25519],
    ['rsa', SignatureScheme.rsa_pss_rsae_sha256],
    ['rsa-pss', SignatureScheme.rsa_pss_pss_sha256],
  ];
  for (const [kind, scheme] of SIGS)
    for (const cipher of SUITES)
      it(`certificate ${kind} (scheme 0x${scheme.toString(16)}) x ${cipher}`, () => {
        const r = runHandshake(
          clientOptions({ ciphers: cipher }),
          serverOptions(serverCreds(kind)),
        );
        expectAgreement(r);
        expect(r.clientInfo!.signatureScheme).to.equal(scheme);
      });

  it('HelloRetryRequest: server prefers a post-quantum group the client listed without a share', () => {
    const r = runHandshake(clientOptions({ keyShares: ['X25519'] }), serverOptions());
    expectAgreement(r);
    expect(r.clientInfo).to.include({
      group: 'X25519MLKEM768',
      helloRetryRequest: true,
      postQuantum: true,
    });
  });

  it('HelloRetryRequest: the only common group has no share (classical fallback)', () => {
    const r = runHandshake(clientOptions(), serverOptions({ groups: ['secp256r1'] }));
    expectAgreement(r);
    expect(r.clientInfo).to.include({
      group: 'secp256r1',
      helloRetryRequest: true,
      postQuantum: false,
    });
  });

  it('HelloRetryRequest without cookie works too', () => {
    const r = runHandshake(
      clientOptions(),
      serverOptions({ groups: ['MLKEM768'], hrrCookie: false }),
    );
    expectAgreement(r);
    expect(r.clientInfo).to.include({ group: 'MLKEM768', helloRetryRequest: true });
  });

  it('requirePostQuantum: server refuses a classical-only client; client refuses to offer classical', () => {
    expectAlert(
      () =>
        runHandshake(
          clientOptions({ groups: ['X25519', 'secp256r1'] }),
          serverOptions({ requirePostQuantum: true }),
        ),
      71,
    );
    const r = runHandshake(clientOptions({ requirePostQuantum: true }), serverOptions());
    expect(r.clientInfo!.postQuantum).to.equal(true);
    expectAlert(
      () =>
        runHandshake(
          clientOptions({ requirePostQuantum: true }),
          serverOptions({ groups: ['X25519'] }),
        ),
      40,
    );
  });

  it('ALPN: no overlap is no_application_protocol; server picks by its preference', () => {
    expectAlert(
      () => runHandshake(clientOptions({ alpn: ['h3'] }), serverOptions({ alpn: ['hq-interop'] })),
      120,
    );
    const r = runHandshake(
      clientOptions({ alpn: ['hq-interop', 'h3'] }),
      serverOptions({ alpn: ['h3', 'hq-interop'] }),
    );
    expect(r.clientInfo!.alpn).to.equal('h3');
  });

  it('certificate checks: unknown CA, wrong host, expired, rejectUnauthorized false', () => {
    expectAlert(() => runHandshake(clientOptions({ ca: fixture('rsa.pem') }), serverOptions()), 48);
    expectAlert(() => runHandshake(clientOptions({ ca: undefined }), serverOptions()), 48); // system roots do not know our CA
    expectAlert(
      () => runHandshake(clientOptions({ servername: 'example.com' }), serverOptions()),
      42,
    );
    expectAlert(
      () => runHandshake(clientOptions(), serverOptions(), Date.parse('2200-01-01T00:00:00Z')),
      45,
    );
    const ip = runHandshake(clientOptions({ servername: '127.0.0.1' }), serverOptions());
    expect(ip.clientInfo!.serverName).to.equal('127.0.0.1');
    const r = runHandshake(
      clientOptions({ servername: 'example.com', rejectUnauthorized: false }),
      serverOptions(),
    );
    expectAgreement(r);
  });

  it('mutual TLS: client certificate verified; missing one refused', () => {
    const client = {
      certs: fixture('client.pem') + fixture('int.pem'),
      keys: fixture('client.key'),
    };
    const r = runHandshake(
      clientOptions(client),
      serverOptions({ requestCert: true, ca: fixture('ca.pem') }),
    );
    expectAgreement(r);
    expect(r.serverInfo!.peerCertificate!.subject).to.contain('zquic client');
    expectAlert(
      () =>
        runHandshake(clientOptions(), serverOptions({ requestCert: true, ca: fixture('ca.pem') })),
      116,
    );
    // a certificate whose extended key usage is serverAuth only cannot authenticate a client
    const serverOnly = { certs: fixture('server-only.pem'), keys: fixture('server-only.key') };
    expectAlert(
      () =>
        runHandshake(
          clientOptions(serverOnly),
          serverOptions({ requestCert: true, ca: fixture('server-only.pem') }),
        ),
      43,
    );
    const optional = runHandshake(
      clientOptions(),
      serverOptions({ requestCert: true, rejectUnauthorized: false }),
    );
    expect(optional.serverInfo!.peerCertificate).to.equal(undefined);
  });

  it('sni: credentials chosen by server_name, * as default, unrecognized_name otherwise', () => {
    const sni = { localhost: serverCreds('ecdsa-p384'), '*': serverCreds('ed25519') };
    const byName = runHandshake(
      clientOptions(),
      serverOptions({ certs: undefined, keys: undefined, sni }),
    );
    expect(byName.clientInfo!.signatureScheme).to.equal(SignatureScheme.ecdsa_secp384r1_sha384);
    expect(byName.serverInfo!.serverName).to.equal('localhost');
    const byIp = runHandshake(
      clientOptions({ servername: '127.0.0.1' }),
      serverOptions({ certs: undefined, keys: undefined, sni }),
    );
    expect(byIp.clientInfo!.signatureScheme).to.equal(SignatureScheme.ed25519);
    expectAlert(
      () =>
        runHandshake(
          clientOptions(),
          serverOptions({
            certs: undefined,
            keys: undefined,
            sni: { 'other.test': serverCreds() },
          }),
        ),
      112,
    );
    expect(() => new TlsServer(serverOptions({ certs: undefined, keys: undefined }))).to.throw(
      TypeError,
      /certs/,
    );
  });

  it('keylog lines for every secret', () => {
    const lines: string[] = [];
    runHandshake(clientOptions({ keylog: (l) => lines.push(l) }), serverOptions());
    const labels = lines.map((l) => l.split(' ')[0]);
    for (const l of [
      'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
      'SERVER_HANDSHAKE_TRAFFIC_SECRET',
      'CLIENT_TRAFFIC_SECRET_0',
      'SERVER_TRAFFIC_SECRET_0',
      'EXPORTER_SECRET',
    ])
      expect(labels).to.include(l);
    expect(lines[0]).to.match(/^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64}$/);
  });

  describe('resumption and 0-RTT', () => {
    const keys = new TicketKeys();
    const first = () =>
      runHandshake(
        clientOptions(),
        serverOptions({ ticketKeys: keys, earlyData: true, antiReplay: new AntiReplay() }),
      );

    it('issues a ticket and resumes with psk_dhe_ke and a fresh hybrid share', () => {
      const r1 = first();
      expect(r1.tickets).to.have.length(1);
      const t = r1.tickets[0]!;
      expect(t.maxEarlyData).to.equal(0xffffffff);
      expect(t.transportParameters).to.deep.equal(TP_SERVER);
      const r2 = runHandshake(
        clientOptions({ session: t }),
        serverOptions({ ticketKeys: keys }),
        Date.parse('2030-01-01T00:00:05Z'),
      );
      expectAgreement(r2);
      expect(r2.clientInfo).to.include({
        resumed: true,
        group: 'X25519MLKEM768',
        postQuantum: true,
      });
      expect(r2.clientInfo!.peerCertificate).to.equal(undefined);
    });

    it('a ticket survives serialization; malformed serialized sessions are TypeErrors', () => {
      const t = first().tickets[0]!;
      const copy = decodeSessionTicket(encodeSessionTicket(t));
      expect(copy).to.deep.equal(t);
      const r = runHandshake(
        clientOptions({ session: copy }),
        serverOptions({ ticketKeys: keys }),
        NOW + 1000,
      );
      expect(r.clientInfo).to.include({ resumed: true });
      const enc = encodeSessionTicket(t);
      for (let n = 0; n < enc.length; n += 7)
        expect(() => decodeSessionTicket(enc.subarray(0, n))).to.throw(TypeError);
      expect(() => decodeSessionTicket(Buffer.concat([enc, Buffer.from([0])]))).to.throw(TypeError);
    });

    it('resumption after HelloRetryRequest', () => {
      const t = first().tickets[0]!;
      const r = runHandshake(
        clientOptions({ session: t, keyShares: ['X25519'] }),
        serverOptions({ ticketKeys: keys }),
        NOW + 1000,
      );
      expectAgreement(r);
      expect(r.clientInfo).to.include({ resumed: true, helloRetryRequest: true });
    });

    it('0-RTT accepted once; the replayed ticket is refused early data but still resumes', () => {
      const t = first().tickets[0]!;
      const antiReplay = new AntiReplay();
      const sopts = serverOptions({ ticketKeys: keys, earlyData: true, antiReplay });
      const r = runHandshake(clientOptions({ session: t, earlyData: true }), sopts, NOW + 2000);
      expectAgreement(r);
      expect(r.clientInfo).to.include({ resumed: true, earlyDataAccepted: true });
      expect(r.secrets.get('early:client:write')).to.deep.equal(r.secrets.get('early:server:read'));
      const replay = runHandshake(
        clientOptions({ session: t, earlyData: true }),
        sopts,
        NOW + 3000,
      );
      expectAgreement(replay);
      expect(replay.clientInfo).to.include({ resumed: true, earlyDataAccepted: false });
      expect(replay.secrets.has('early:server:read')).to.equal(false);
    });

    it('0-RTT rejected with a changed ALPN, changed transport parameters, or without anti-replay', () => {
      const t = first().tickets[0]!;
      const alpn = runHandshake(
        clientOptions({ session: t, earlyData: true, alpn: ['h3', 'x'] }),
        serverOptions({
          alpn: ['x', 'h3'],
          ticketKeys: keys,
          earlyData: true,
          antiReplay: new AntiReplay(),
        }),
        NOW + 1000,
      );
      expect(alpn.clientInfo).to.include({ resumed: true, earlyDataAccepted: false, alpn: 'x' });
      const tp = runHandshake(
        clientOptions({ session: t, earlyData: true }),
        serverOptions({
          ticketKeys: keys,
          earlyData: true,
          antiReplay: new AntiReplay(),
          acceptEarlyData: () => false,
        }),
        NOW + 1000,
      );
      expect(tp.clientInfo).to.include({ resumed: true, earlyDataAccepted: false });
      const none = runHandshake(
        clientOptions({ session: t, earlyData: true }),
        serverOptions({ ticketKeys: keys, earlyData: true }),
        NOW + 1000,
      );
      expect(none.clientInfo).to.include({ resumed: true, earlyDataAccepted: false });
    });

    it('0-RTT is dropped after a HelloRetryRequest and when the ticket age is off; resumption still works', () => {
      const t = first().tickets[0]!;
      const hrr = runHandshake(
        clientOptions({ session: t, earlyData: true, keyShares: ['X25519'] }),
        serverOptions({ ticketKeys: keys, earlyData: true, antiReplay: new AntiReplay() }),
        NOW + 1000,
      );
      expectAgreement(hrr);
      expect(hrr.clientInfo).to.include({
        resumed: true,
        helloRetryRequest: true,
        earlyDataAccepted: false,
      });
      expect(hrr.secrets.has('early:client:write')).to.equal(true); // it was attempted...
      expect(hrr.secrets.has('early:server:read')).to.equal(false); // ...and not taken
      const skewed = runHandshake(
        clientOptions({ session: { ...t, receivedAt: t.receivedAt - 60_000 }, earlyData: true }),
        serverOptions({ ticketKeys: keys, earlyData: true, antiReplay: new AntiReplay() }),
        NOW + 1000,
      );
      expect(skewed.clientInfo).to.include({ resumed: true, earlyDataAccepted: false });
    });

    it('unknown, expired or foreign tickets fall back to a full handshake', () => {
      const t = first().tickets[0]!;
      const other = runHandshake(
        clientOptions({ session: t }),
        serverOptions({ ticketKeys: new TicketKeys() }),
        NOW + 1000,
      );
      expect(other.clientInfo).to.include({ resumed: false });
      const late = runHandshake(
        clientOptions({ session: { ...t, receivedAt: NOW - 86400_000 * 2 } }),
        serverOptions({ ticketKeys: keys }),
        NOW + 1000,
      );
      expect(late.clientInfo).to.include({ resumed: false });
    });

    it('a tampered binder is decrypt_error', () => {
      const t = first().tickets[0]!;
      const client = new TlsClient(clientOptions({ session: t }));
      client.start(NOW);
      const ch = Buffer.from((client.poll() as { data: Buffer }).data);
      ch[ch.length - 1]! ^= 1;
      const server = new TlsServer(serverOptions({ ticketKeys: keys }));
      expectAlert(() => server.receive('initial', ch, NOW), 51);
    });
  });
});
