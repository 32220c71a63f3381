// The TLS 1.3 record layer (lib/tls/record.ts): RFC 8448 §3's protected client Finished record
// byte-exact (AEAD, nonce, AAD, inner content type), and hostile records.
import { expect } from 'chai';
import { cipherSuiteByCode } from '../lib/crypto/suites.js';
import { RecordLayer } from '../lib/tls/record.js';
import { TlsAlert } from '../lib/tls/alerts.js';
import type { Level, TlsEngine, TlsEvent } from '../lib/tls/engine.js';

const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// RFC 8448 §3: client_handshake_traffic_secret, the client Finished and its protected record.
const C_HS_TRAFFIC = h(
  'b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21',
);
const CLIENT_FINISHED =
  h(`14 00 00 20 a8 ec 43 6d 67 76 34 ae 52 5a c1 fc eb e1 1a 03 9e c1 76 94 fa c6 e9 85
  27 b6 42 f2 ed d5 ce 61`);
const CLIENT_FINISHED_RECORD =
  h(`17 03 03 00 35 75 ec 4d c2 38 cc e6 0b 29 80 44 a7 1e 21 9c 56 cc 77 b0 51 7f
  e9 b9 3c 7a 4b fc 44 d8 7f 38 f8 03 38 ac 98 fc 46 de b3 84 bd 1c ae ac ab 68 67 d7 26 c4 05 46`);

/** An engine stand-in: replays queued events and records what the record layer hands it. */
class StubEngine {
  complete = false;
  events: TlsEvent[] = [];
  received: { level: Level; data: Buffer }[] = [];
  poll(): TlsEvent | undefined {
    return this.events.shift();
  }
  receive(level: Level, data: Uint8Array): void {
    this.received.push({ level, data: Buffer.from(data) });
  }
}

const suite = cipherSuiteByCode(0x1301)!;
const secret = (direction: 'read' | 'write'): TlsEvent => ({
  type: 'secret',
  level: 'handshake',
  direction,
  secret: C_HS_TRAFFIC,
  suite,
});

function layer(events: TlsEvent[]): { rl: RecordLayer; stub: StubEngine } {
  const stub = new StubEngine();
  stub.events = events;
  const rl = new RecordLayer(stub as unknown as TlsEngine);
  rl.pump();
  return { rl, stub };
}

describe('tls record layer', () => {
  it('protects the RFC 8448 client Finished byte-exact', () => {
    const { rl } = layer([
      secret('write'),
      { type: 'data', level: 'handshake', data: CLIENT_FINISHED },
    ]);
    expect(rl.takeOutput()).to.deep.equal(CLIENT_FINISHED_RECORD);
  });

  it('opens the RFC 8448 record, split at every byte', () => {
    for (let cut = 0; cut <= CLIENT_FINISHED_RECORD.length; cut += 5) {
      const { rl, stub } = layer([secret('read')]);
      rl.receive(CLIENT_FINISHED_RECORD.subarray(0, cut), 0);
      rl.receive(CLIENT_FINISHED_RECORD.subarray(cut), 0);
      expect(stub.received).to.deep.equal([{ level: 'handshake', data: CLIENT_FINISHED }]);
    }
  });

  it('refuses tampered, oversized, plaintext-after-keys and unknown records with alerts', () => {
    const alert = (events: TlsEvent[], input: Buffer, code: number) => {
      const { rl } = layer(events);
      try {
        rl.receive(input, 0);
      } catch (e) {
        expect(e).to.be.instanceOf(TlsAlert);
        expect((e as TlsAlert).alert).to.equal(code);
        return;
      }
      expect.fail('no alert');
    };
    const tampered = Buffer.from(CLIENT_FINISHED_RECORD);
    tampered[20]! ^= 1;
    alert([secret('read')], tampered, 20); // bad_record_mac
    alert([], Buffer.from([23, 3, 3, 0x41, 0x01]), 22); // record_overflow
    alert([secret('read')], Buffer.from([22, 3, 3, 0, 1, 1]), 10); // plaintext handshake after keys
    alert([], Buffer.from([99, 3, 3, 0, 1, 0]), 10); // unknown content type
    alert([], Buffer.from([20, 3, 3, 0, 1, 2]), 10); // ChangeCipherSpec other than 0x01
    alert([], Buffer.from([21, 3, 3, 0, 2, 2, 40]), 40); // the peer's fatal alert
  });

  it('drops a compatibility ChangeCipherSpec and honours close_notify', () => {
    const { rl, stub } = layer([]);
    expect(rl.receive(Buffer.from([20, 3, 3, 0, 1, 1, 21, 3, 3, 0, 2, 1, 0]), 0)).to.deep.equal([]);
    expect(rl.peerClosed).to.equal(true);
    expect(stub.received).to.deep.equal([]);
  });
});
