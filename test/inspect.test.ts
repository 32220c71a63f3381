// `zquic inspect`: RFC 9001 / RFC 9369 packets end to end (--json), a post-quantum
// ClientHello spread over two Initial datagrams, keylog decryption of Handshake and 1-RTT
// packets from pcap and pcapng captures, and one-line errors for bad input.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { QUIC_V1 } from '../lib/crypto/index.js';
import { run } from '../lib/cli/inspect.js';
import { writePcap } from '../lib/tools/pcap.js';
import * as V from './crypto-vectors.js';
import { buildCapture } from './support/wire-capture.js';

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

async function inspect(...argv: string[]): Promise<Out> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await run(argv);
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function json(...argv: string[]): Promise<any> {
  const r = await inspect('--json', ...argv);
  expect(r.stderr).to.equal('');
  expect(r.code).to.equal(0);
  return JSON.parse(r.stdout);
}

const dir = mkdtempSync(join(tmpdir(), 'zquic-inspect-'));

describe('zquic inspect', () => {
  for (const [name, version, c, s, retry, chacha] of [
    [
      'RFC 9001 Appendix A',
      'v1',
      V.v1ClientProtected,
      V.v1ServerProtected,
      V.v1Retry,
      '4cfe4189655e5cd55c41f69080575d7999c25a5bfb',
    ],
    [
      'RFC 9369 Appendix A',
      'v2',
      V.v2ClientProtected,
      V.v2ServerProtected,
      V.v2Retry,
      '5558b1c60ae7b6b932bc27d786f4bc2bb20f2162ba',
    ],
  ] as const) {
    it(`${name}: A.2 + A.3 Initials decrypted, frames listed, hellos decoded (--json)`, async () => {
      const r = await json(c, s);
      const [cp] = r.datagrams[0].packets;
      expect(cp).to.deep.include({
        type: 'initial',
        version,
        dcid: '8394c8f03e515708',
        scid: '',
        pn: 2,
        decrypted: true,
        keys: 'client Initial',
      });
      expect(cp.frames).to.deep.equal([
        { type: 'crypto', offset: 0, length: 241 },
        { type: 'padding', length: 917 },
      ]);
      const [sp] = r.datagrams[1].packets;
      expect(sp).to.deep.include({
        type: 'initial',
        scid: 'f067a5502a4262b5',
        pn: 1,
        keys: 'server Initial',
      });
      expect(sp.frames[0]).to.deep.equal({
        type: 'ack',
        largest: 0,
        ackDelay: 0,
        ranges: [[0, 0]],
      });
      const ch = r.tls.clientHello;
      expect(ch.serverName).to.equal('example.com');
      expect(ch.alpn).to.deep.equal(['alpn']);
      expect(ch.cipherSuites).to.deep.equal(['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384']);
      expect(ch.supportedGroups).to.deep.equal(['X25519', 'secp256r1', 'secp384r1']);
      expect(ch.keyShares).to.deep.equal([{ group: 'X25519', length: 32 }]);
      expect(ch.signatureAlgorithms).to.include('rsa_pss_rsae_sha256');
      expect(ch.supportedVersions).to.deep.equal(['TLS 1.3']);
      expect(ch.transportParameters).to.deep.include({
        initialSourceConnectionId: '8394c8f03e515708',
        maxIdleTimeout: 30000,
        initialMaxStreamsBidi: 16,
      });
      expect(r.tls.serverHello).to.deep.include({
        cipherSuite: 'TLS_AES_128_GCM_SHA256',
        keyShare: { group: 'X25519', length: 32 },
      });
      expect(r.tls.errors).to.deep.equal([]);
    });

    it(`${name}: A.3 alone opens with --odcid, and is reported unopened without it`, async () => {
      const r = await json('--odcid', '8394c8f03e515708', s);
      expect(r.datagrams[0].packets[0]).to.deep.include({ pn: 1, keys: 'server Initial' });
      const alone = await json(s);
      expect(alone.datagrams[0].packets[0].decrypted).to.equal(false);
      expect(alone.datagrams[0].packets[0].note).to.contain('--odcid');
    });

    it(`${name}: A.4 Retry integrity checked against the client's DCID`, async () => {
      const r = await json(c, retry);
      expect(r.datagrams[1].packets[0]).to.deep.include({
        type: 'retry',
        token: Buffer.from('token').toString('hex'),
        retryIntegrity: 'valid',
      });
      const alone = await json('--odcid', '8394c8f03e515709', retry);
      expect(alone.datagrams[0].packets[0].retryIntegrity).to.equal('invalid');
    });

    it(`${name}: A.5 ChaCha20 short header packet with a keylog secret`, async () => {
      const keylog = join(dir, `chacha-${version}.log`);
      writeFileSync(
        keylog,
        `# test\nCLIENT_TRAFFIC_SECRET_0 ${'00'.repeat(32)} 9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b\n`,
      );
      const r = await json(
        '--keylog',
        keylog,
        '--largest-pn',
        '654360563',
        '--dcid-len',
        '0',
        chacha,
      );
      expect(r.datagrams[0].packets[0]).to.deep.include({
        type: '1rtt',
        pn: 654360564,
        keys: 'client 1-RTT',
        frames: [{ type: 'ping' }],
      });
      // Without --dcid-len the CID lengths 0..20 are tried.
      const guessed = await json('--keylog', keylog, '--largest-pn', '654360563', chacha);
      expect(guessed.datagrams[0].packets[0]).to.deep.include({ pn: 654360564, dcid: '' });
      const without = await json('--dcid-len', '0', chacha);
      expect(without.datagrams[0].packets[0]).to.deep.include({
        decrypted: false,
        note: 'no keys (use --keylog)',
      });
    });
  }

  describe('a post-quantum handshake in a capture', () => {
    const capture = buildCapture(QUIC_V1, {
      alpn: 'h3',
      oneRtt: [[{ type: 'stream', streamId: 3, offset: 0, data: Buffer.from('hello'), fin: true }]],
    });
    const { datagrams: dgrams, clientDcid, clientScid } = capture;
    const keylog = join(dir, 'pq.log');
    writeFileSync(keylog, capture.keylog);
    const addr = (i: number) =>
      capture.fromClient[i]
        ? { src: '10.0.0.1', srcPort: 50000, dst: '10.0.0.2', dstPort: 443 }
        : { src: '10.0.0.2', srcPort: 443, dst: '10.0.0.1', dstPort: 50000 };
    const pcap = join(dir, 'pq.pcap');
    writeFileSync(
      pcap,
      writePcap(dgrams.map((payload, i) => ({ ...addr(i), payload, time: 1700000000 + i / 10 }))),
    );
    const pcapng = join(dir, 'pq.pcapng');
    writeFileSync(pcapng, toPcapng(dgrams));

    function check(out: any): void {
      expect(out.datagrams).to.have.length(5);
      expect(out.datagrams[0].packets[0].frames[0]).to.deep.equal({
        type: 'crypto',
        offset: 0,
        length: 1000,
      });
      const chr = out.tls.clientHello;
      expect(chr.serverName).to.equal('pq.example');
      expect(chr.keyShares).to.deep.equal([{ group: 'X25519MLKEM768', length: 1216 }]);
      expect(chr.supportedGroups).to.deep.equal(['X25519MLKEM768', 'X25519']);
      expect(chr.signatureAlgorithms).to.deep.equal([
        'ecdsa_secp256r1_sha256',
        'rsa_pss_rsae_sha256',
      ]);
      expect(chr.transportParameters).to.deep.include({ initialMaxData: 1 << 20 });
      expect(out.tls.serverHello).to.deep.include({
        cipherSuite: 'TLS_AES_256_GCM_SHA384',
        keyShare: { group: 'X25519MLKEM768', length: 1120 },
      });
      expect(out.datagrams[3].packets[0]).to.deep.include({
        type: 'handshake',
        decrypted: true,
        keys: 'server Handshake',
      });
      expect(out.tls.encryptedExtensions.alpn).to.deep.equal(['h3']);
      expect(out.tls.encryptedExtensions.transportParameters).to.deep.include({
        maxDatagramFrameSize: 1200,
        originalDestinationConnectionId: clientDcid.toString('hex'),
      });
      const one = out.datagrams[4].packets[0];
      expect(one).to.deep.include({
        type: '1rtt',
        dcid: clientScid.toString('hex'),
        pn: 0,
        keys: 'server 1-RTT',
        keyPhase: 0,
      });
      expect(one.frames[0]).to.deep.include({ type: 'stream', streamId: 3, length: 5, fin: true });
      expect(out.tls.messages.map((m: any) => m.type)).to.deep.equal([
        'client_hello',
        'server_hello',
        'encrypted_extensions',
      ]);
    }

    it('pcap: ClientHello reassembled across two Initial datagrams, keylog opens the rest', async () => {
      const out = await json('--keylog', keylog, pcap);
      check(out);
      expect(out.datagrams[0]).to.deep.include({ src: '10.0.0.1:50000', dst: '10.0.0.2:443' });
    });

    it('pcapng: the same capture', async () => {
      check(await json('--keylog', keylog, pcapng));
    });

    it('hex text file with one datagram per block, without keylog: Handshake/1-RTT not opened', async () => {
      const file = join(dir, 'pq.hex');
      writeFileSync(
        file,
        dgrams.map((d) => d.toString('hex').replace(/(.{64})/g, '$1\n')).join('\n\n'),
      );
      const out = await json(file);
      expect(out.tls.clientHello.keyShares[0].group).to.equal('X25519MLKEM768');
      expect(out.datagrams[3].packets[0]).to.deep.include({
        decrypted: false,
        note: 'no keys (use --keylog)',
      });
    });

    it('readable text and --dump', async () => {
      const out = await inspect('--no-color', '--dump', '--keylog', keylog, pcap);
      expect(out.code).to.equal(0);
      expect(out.stdout).to.match(/key shares\s+X25519MLKEM768 \(1216 bytes\)/);
      expect(out.stdout).to.contain('10.0.0.1:50000 → 10.0.0.2:443');
      expect(out.stdout).to.match(/STREAM\s+streamId=3 offset=0 length=5 fin=true/);
      expect(out.stdout).to.contain('|...hello'); // the 1-RTT plaintext (STREAM 0b 03 05 'hello') in the dump
      expect(out.stdout).to.not.contain('\x1b[');
    });
  });

  it('bad input: one line on stderr, exit code 1 (2 for a bad option)', async () => {
    const garbage = join(dir, 'garbage.bin');
    writeFileSync(garbage, Buffer.from([0x00, 0xff, 0x13, 0x37, 0x80, 0x01]));
    const badPcap = join(dir, 'bad.pcap');
    writeFileSync(
      badPcap,
      Buffer.concat([
        writePcap([
          {
            src: '1.2.3.4',
            dst: '1.2.3.5',
            srcPort: 1,
            dstPort: 2,
            payload: Buffer.alloc(20, 0x41),
          },
        ]).subarray(0, 30),
      ]),
    );
    const cases: Array<[string[], RegExp]> = [
      [['abc'], /odd-length hex/],
      [['xyz1'], /not a hex string/],
      [[V.v1ClientProtected.slice(0, 200)], /Length beyond the datagram/],
      [['c01a2a3a4a00000000'], /unsupported version 0x1a2a3a4a/],
      [['c000000001'], /truncated/],
      [[garbage], /fixed bit|truncated|version/],
      [[badPcap], /truncated pcap record/],
      // mistakes in the options: exit code 2, like the other commands
      [['--keylog', join(dir, 'missing.log'), '00'], /does not exist/],
      [['--frobnicate'], /unknown option/],
      [['--dcid-len', '21', 'c0'], /--dcid-len/],
    ];
    for (const [argv, re] of cases) {
      const r = await inspect(...argv);
      expect(r.code, argv.join(' ')).to.equal(argv[0]!.startsWith('--') ? 2 : 1);
      expect(r.stdout).to.equal('');
      expect(r.stderr.split('\n')).to.have.length(1);
      expect(r.stderr)
        .to.match(/^zquic inspect: /)
        .and.match(re);
    }
  });

  it('the zquic command runs inspect (subprocess): argument, stdin, and no stack trace on bad input', function () {
    this.timeout(60000);
    const main = join(process.cwd(), 'lib/cli/main.ts');
    const ok = execFileSync(
      process.execPath,
      ['--import', 'tsx', main, 'inspect', '--json', V.v1ClientProtected],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(ok).tls.clientHello.serverName).to.equal('example.com');
    const piped = execFileSync(process.execPath, ['--import', 'tsx', main, 'inspect', '--json'], {
      encoding: 'utf8',
      input: `${V.v2ClientProtected.replace(/(.{64})/g, '$1\n')}\n\n${V.v2ServerProtected}\n`,
    });
    const fromStdin = JSON.parse(piped);
    expect(fromStdin.datagrams.map((d: any) => d.packets[0].keys)).to.deep.equal([
      'client Initial',
      'server Initial',
    ]);
    expect(fromStdin.tls.serverHello.cipherSuite).to.equal('TLS_AES_128_GCM_SHA256');
    const bad = spawnSync(process.execPath, ['--import', 'tsx', main, 'inspect', 'c0ffee'], {
      encoding: 'utf8',
    });
    expect(bad.status).to.equal(1);
    expect(bad.stderr.trim().split('\n')).to.have.length(1);
    expect(bad.stderr).to.not.match(/\n\s+at /);
  });

  it('ends quietly when its reader goes away (`| head`): exit 0, no EPIPE trace', function () {
    this.timeout(60000);
    const main = join(process.cwd(), 'lib/cli/main.ts');
    const many = Array(100).fill(V.v1ClientProtected).join('\n\n'); // more than a pipe holds
    const r = spawnSync(
      'bash',
      [
        '-c',
        `"${process.execPath}" --import tsx "${main}" inspect --dump | head -c 100 >/dev/null; echo "status $\{PIPESTATUS[0]}" >&2`,
      ],
      { encoding: 'utf8', input: many },
    );
    expect(r.stderr).to.not.match(/EPIPE|\n\s+at /);
    expect(r.stderr.trim()).to.equal('status 0');
  });
});

// A pcapng file (SHB, one IDB with link type raw IPv4 and nanosecond resolution, EPBs).
function toPcapng(dgrams: Buffer[]): Buffer {
  const block = (type: number, body: Buffer): Buffer => {
    const pad = Buffer.alloc((4 - (body.length % 4)) % 4);
    const len = 12 + body.length + pad.length;
    const head = Buffer.alloc(8);
    head.writeUInt32LE(type, 0);
    head.writeUInt32LE(len, 4);
    const tail = Buffer.alloc(4);
    tail.writeUInt32LE(len, 0);
    return Buffer.concat([head, body, pad, tail]);
  };
  const shb = Buffer.alloc(16);
  shb.writeUInt32LE(0x1a2b3c4d, 0);
  shb.writeUInt16LE(1, 4);
  shb.writeBigInt64LE(-1n, 8);
  const idb = Buffer.alloc(8 + 8 + 4);
  idb.writeUInt16LE(228, 0); // LINKTYPE_IPV4
  idb.writeUInt32LE(65535, 4);
  idb.writeUInt16LE(9, 8); // if_tsresol = 9 (ns)
  idb.writeUInt16LE(1, 10);
  idb[12] = 9;
  const parts = [block(0x0a0d0d0a, shb), block(1, idb)];
  const pcap = writePcap(
    dgrams.map((payload, i) => ({
      src: '10.0.0.' + (i < 2 ? 1 : 2),
      dst: '10.0.0.' + (i < 2 ? 2 : 1),
      srcPort: 1000,
      dstPort: 2000,
      payload,
    })),
  );
  // Reuse the IPv4 packets of the pcap writer: records follow the 24-byte header.
  for (let p = 24; p < pcap.length;) {
    const len = pcap.readUInt32LE(p + 8);
    const ip = pcap.subarray(p + 16, p + 16 + len);
    const epb = Buffer.alloc(20);
    epb.writeUInt32LE(0, 0);
    epb.writeUInt32LE(0x17, 4);
    epb.writeUInt32LE(0x12345678, 8);
    epb.writeUInt32LE(len, 12);
    epb.writeUInt32LE(len, 16);
    parts.push(block(6, Buffer.concat([epb, ip])));
    p += 16 + len;
  }
  return Buffer.concat(parts);
}

describe('zquic inspect: a real peer capture (ngtcp2 0.12 gtlsclient/gtlsserver, HTTP/3)', () => {
  // test/fixtures/quic/ngtcp2-h3.pcap: Debian bookworm's ngtcp2 examples on loopback,
  // `gtlsserver 127.0.0.1 4434 key cert -d dir` and
  // `SSLKEYLOGFILE=ngtcp2-h3.keylog gtlsclient 127.0.0.1 4434 https://127.0.0.1:4434/big.bin
  // --key-update=1ms --exit-on-all-streams-close` (a 60,000-byte file), captured with
  // `tcpdump -i lo -w ngtcp2-h3.pcap udp port 4434`. Both peers negotiated grease_quic_bit
  // (RFC 9287, so most packets have the fixed bit 0), both updated keys, and the server's
  // GSO sends appear as UDP payloads of many datagrams.
  const fixture = join(process.cwd(), 'test/fixtures/quic');

  it('every packet decrypts: Initial, Handshake, 1-RTT across key updates and GSO segments', async () => {
    const r = await json(
      '--keylog',
      join(fixture, 'ngtcp2-h3.keylog'),
      join(fixture, 'ngtcp2-h3.pcap'),
    );
    const packets = r.datagrams.flatMap((d: any) => d.packets);
    expect(packets.filter((p: any) => !p.decrypted)).to.deep.equal([]);
    expect(r.datagrams.filter((d: any) => d.error)).to.deep.equal([]);
    const keys = new Set(packets.map((p: any) => p.keys));
    for (const k of [
      'client Initial',
      'server Initial',
      'client Handshake',
      'server Handshake',
      'client 1-RTT',
      'server 1-RTT',
    ])
      expect(keys).to.include(k);
    expect(keys).to.include('client 1-RTT (key update 1)');
    expect(keys).to.include('server 1-RTT (key update 1)');
    expect(r.datagrams.some((d: any) => d.segment)).to.equal(true);
    expect(packets.some((p: any) => p.frameError)).to.equal(false);
    // The response body (60,000 bytes plus HTTP/3 framing) on stream 0, offsets contiguous.
    const s0 = packets
      .flatMap((p: any) => p.frames)
      .filter((f: any) => f.type === 'stream' && f.streamId === 0);
    const end = Math.max(...s0.map((f: any) => f.offset + f.length));
    expect(end).to.be.greaterThan(60000);
    expect(s0.some((f: any) => f.fin)).to.equal(true);
    const ch = r.tls.clientHello;
    expect(ch).to.deep.include({ serverName: 'localhost', alpn: ['h3'] });
    expect(ch.transportParameters.greaseQuicBit).to.equal(true);
    expect(r.tls.serverHello.cipherSuite).to.equal('TLS_AES_128_GCM_SHA256');
    expect(r.tls.encryptedExtensions.alpn).to.deep.equal(['h3']);
    expect(
      r.tls.messages
        .filter((m: any) => m.level === 'Handshake')
        .map((m: any) => `${m.from} ${m.type}`),
    ).to.deep.equal([
      'server encrypted_extensions',
      'server certificate',
      'server certificate_verify',
      'server finished',
      'client finished',
    ]);
  });
});
