// Cross-check with an independent implementation: Wireshark's dissector (Debian `tshark`)
// decrypts and dissects a connection built with our builder (every frame type of RFC 9000 §19
// plus DATAGRAM, QUIC v1 and v2), given our SSLKEYLOGFILE. Skipped where tshark is not
// installed (`apt-get install tshark`).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { QUIC_V1, QUIC_V2 } from '../lib/crypto/index.js';
import { writePcap } from '../lib/tools/pcap.js';
import { buildCapture } from './support/wire-capture.js';

const FIELDS = [
  'frame.number',
  'quic.version',
  'quic.packet_number',
  'quic.frame_type',
  'quic.crypto.offset',
  'quic.crypto.length',
  'quic.ack.largest_acknowledged',
  'quic.ack.ack_range_count',
  'quic.ack.gap',
  'quic.ack.ack_range',
  'quic.ack.ect0_count',
  'quic.stream.stream_id',
  'quic.stream.length',
  'quic.stream.fin',
  'quic.nt.token',
  'quic.nci.connection_id',
  'quic.path_challenge.data',
  'quic.dg.length',
  'quic.cc.error_code',
  'quic.cc.reason_phrase',
  '_ws.expert.message',
  '_ws.malformed',
];

const haveTshark = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;

describe('quic wire format vs Wireshark (tshark)', function () {
  this.timeout(60000);
  before(function () {
    if (!haveTshark) this.skip();
  });

  for (const version of [QUIC_V1, QUIC_V2]) {
    it(`QUIC ${version === QUIC_V1 ? 'v1' : 'v2'}: every packet decrypted and every frame dissected as we encoded it`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'zquic-tshark-'));
      const c = buildCapture(version);
      const pcap = join(dir, 'ours.pcap');
      const keylog = join(dir, 'ours.keylog');
      const addr = (client: boolean) =>
        client
          ? { src: '10.0.0.1', srcPort: 50000, dst: '10.0.0.2', dstPort: 443 }
          : { src: '10.0.0.2', srcPort: 443, dst: '10.0.0.1', dstPort: 50000 };
      writeFileSync(
        pcap,
        writePcap(
          c.datagrams.map((payload, i) => ({
            ...addr(c.fromClient[i]!),
            payload,
            time: 1.7e9 + i,
          })),
        ),
      );
      writeFileSync(keylog, c.keylog);
      const args = [
        '-r',
        pcap,
        '-o',
        `tls.keylog_file:${keylog}`,
        '-T',
        'fields',
        '-E',
        'separator=|',
        '-E',
        'occurrence=a',
        '-E',
        'aggregator=,',
      ];
      for (const f of FIELDS) args.push('-e', f);
      const out = spawnSync('tshark', args, { encoding: 'utf8' });
      expect(out.status, out.stderr).to.equal(0);
      const rows = out.stdout
        .trim()
        .split('\n')
        .map((line) => Object.fromEntries(line.split('|').map((v, i) => [FIELDS[i]!, v])));
      expect(rows).to.have.length(6);
      const v = `0x${version.toString(16).padStart(8, '0')}`;
      // Packet numbers and frame types per packet (decryption worked for every level).
      expect(rows.map((r) => [r['quic.packet_number'], r['quic.frame_type']])).to.deep.equal([
        ['0', '6,0'], // client Initial: CRYPTO + PADDING
        ['1', '6,0'],
        ['0', '2,6'], // server Initial: ACK + CRYPTO
        ['0', '6'], // server Handshake: CRYPTO (EncryptedExtensions)
        ['0', '1,3,4,5,7,11,16,17,18,19,20,21,22,23,24,25,26,27,30,49'], // 1-RTT: everything
        ['1', '28'], // CONNECTION_CLOSE
      ]);
      expect(rows.slice(0, 4).map((r) => r['quic.version'])).to.deep.equal([v, v, v, v]);
      expect(rows.map((r) => r['quic.crypto.offset'])).to.deep.equal([
        '0',
        '1000',
        '0',
        '0',
        '',
        '',
      ]);
      const one = rows[4]!;
      expect(one['quic.ack.largest_acknowledged']).to.equal('20');
      expect(one['quic.ack.ack_range_count']).to.equal('1');
      expect(one['quic.ack.gap']).to.equal('3'); // 15 - 10 - 2
      expect(one['quic.ack.ack_range']).to.equal('8'); // 2..10
      expect(one['quic.ack.ect0_count']).to.equal('7');
      expect([
        one['quic.stream.stream_id'],
        one['quic.stream.length'],
        one['quic.stream.fin'],
      ]).to.deep.equal(['3', '5', '1']);
      expect(one['quic.nt.token']).to.equal(Buffer.from('a new token').toString('hex'));
      expect(one['quic.nci.connection_id']).to.equal('11'.repeat(8));
      expect(one['quic.path_challenge.data']).to.equal(Buffer.from('01234567').toString('hex'));
      expect(one['quic.dg.length']).to.equal('5');
      expect([rows[5]!['quic.cc.error_code'], rows[5]!['quic.cc.reason_phrase']]).to.deep.equal([
        '10',
        'bye',
      ]);
      for (const r of rows) {
        expect(r['_ws.malformed'], `packet ${r['frame.number']}`).to.equal('');
        expect(r['_ws.expert.message'], `packet ${r['frame.number']}`).to.equal('');
      }
    });
  }
});
