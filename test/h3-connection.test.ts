// The sans-IO HTTP/3 connection (RFC 9114): a client and a server wired together in memory,
// request/response with bodies and trailers, GOAWAY, and every error path with its code.
import { expect } from 'chai';
import fc from 'fast-check';

import { H3Connection, type H3Event } from '../lib/h3/connection.js';
import { H3 } from '../lib/h3/errors.js';
import {
  FrameType,
  encodeFrame,
  encodeIdFrame,
  encodeSettings,
  encodeVarint,
  frameHeader,
} from '../lib/h3/frames.js';
import { encodeFieldSection, type Field } from '../lib/h3/qpack.js';

const UNI = {
  client: { control: 2, encoder: 6, decoder: 10 },
  server: { control: 3, encoder: 7, decoder: 11 },
};

/** A client and a server; pump() moves bytes between them until both are quiet. */
class Pair {
  readonly client = new H3Connection({ role: 'client' });
  readonly server = new H3Connection({ role: 'server' });
  readonly seen = { client: [] as H3Event[], server: [] as H3Event[] };

  constructor(start = true) {
    if (start) {
      this.client.start();
      this.server.start();
      this.pump();
    }
  }

  peer(side: 'client' | 'server') {
    return side === 'client' ? this.server : this.client;
  }

  pump(): void {
    for (let moved = true; moved;) {
      moved = false;
      for (const side of ['client', 'server'] as const) {
        const conn = this[side];
        for (let ev; (ev = conn.poll());) {
          moved = true;
          const peer = this.peer(side);
          if (ev.type === 'send') {
            const id = typeof ev.stream === 'number' ? ev.stream : UNI[side][ev.stream];
            peer.receive(id, ev.data, ev.fin);
          } else if (ev.type === 'abort') {
            peer.streamReset(ev.stream, ev.code);
            peer.stopSending(ev.stream, ev.code);
            this.seen[side].push(ev);
          } else this.seen[side].push(ev);
        }
      }
    }
  }

  events(side: 'client' | 'server', type: string): H3Event[] {
    return this.seen[side].filter((e) => e.type === type);
  }
}

const GET = { method: 'GET', scheme: 'https', authority: 'example.com', path: '/' };
const LIMITS_SETTINGS = encodeSettings(new Map([[6, 65536]]));

/** Raw bytes of a HEADERS frame for `fields`. */
function headers(fields: Field[]): Uint8Array {
  return encodeFrame(FrameType.HEADERS, encodeFieldSection(fields));
}

const REQ: Field[] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':authority', 'a'],
  [':path', '/'],
];

/** A server that saw the client's control stream; returns it with its event list. */
function server(): { s: H3Connection; events: () => H3Event[] } {
  const s = new H3Connection({ role: 'server', grease: false });
  s.start();
  const all: H3Event[] = [];
  s.receive(2, Buffer.concat([encodeVarint(0), LIMITS_SETTINGS]));
  return {
    s,
    events: () => {
      for (let e; (e = s.poll());) all.push(e);
      return all;
    },
  };
}

function client(): { c: H3Connection; events: () => H3Event[] } {
  const c = new H3Connection({ role: 'client', grease: false });
  c.start();
  const all: H3Event[] = [];
  c.receive(3, Buffer.concat([encodeVarint(0), LIMITS_SETTINGS]));
  return {
    c,
    events: () => {
      for (let e; (e = c.poll());) all.push(e);
      return all;
    },
  };
}

function closeCode(events: H3Event[]): number | undefined {
  const c = events.find((e) => e.type === 'close');
  return c && c.type === 'close' ? c.code : undefined;
}

function abortCode(events: H3Event[], stream: number): number | undefined {
  const a = events.find((e) => e.type === 'abort' && e.stream === stream);
  return a && a.type === 'abort' ? a.code : undefined;
}

describe('HTTP/3 connection (sans-IO, RFC 9114)', () => {
  it('exchanges SETTINGS (with GREASE) and honours them', () => {
    const p = new Pair();
    const cs = p.events('client', 'settings')[0];
    const ss = p.events('server', 'settings')[0];
    expect(cs && cs.type === 'settings' && cs.settings.get(0x06)).to.equal(65536);
    expect(ss && ss.type === 'settings' && ss.settings.get(0x01)).to.equal(0);
    expect(p.client.peerSettings!.size).to.equal(4); // 3 + one reserved setting
    expect(p.events('client', 'close')).to.deep.equal([]);
  });

  it('carries a request with a body and trailers, and a response with a body', () => {
    const p = new Pair();
    p.client.sendRequest(0, { ...GET, method: 'POST', fields: [['content-length', '5']] });
    p.client.sendData(0, Buffer.from('hel'));
    p.client.sendData(0, Buffer.from('lo'));
    p.client.sendTrailers(0, [['x-checksum', 'abc']]);
    p.pump();
    const req = p.events('server', 'request')[0];
    expect(req).to.deep.include({ type: 'request', stream: 0 });
    expect(req!.type === 'request' && req!.head).to.deep.equal({
      method: 'POST',
      scheme: 'https',
      authority: 'example.com',
      path: '/',
      fields: [['content-length', '5']],
    });
    const body = p
      .events('server', 'data')
      .map((e) => (e.type === 'data' ? Buffer.from(e.data).toString() : ''));
    expect(body.join('')).to.equal('hello');
    expect(p.events('server', 'trailers')).to.deep.equal([
      { type: 'trailers', stream: 0, fields: [['x-checksum', 'abc']] },
    ]);
    expect(p.events('server', 'end')).to.deep.equal([{ type: 'end', stream: 0 }]);

    p.server.sendResponse(0, 103, [['link', '</a>']]);
    p.server.sendResponse(0, 200, [['content-type', 'text/plain']]);
    p.server.sendData(0, Buffer.from('ok'), true);
    p.pump();
    const res = p.events('client', 'response').map((e) => e.type === 'response' && e.head);
    expect(res).to.deep.equal([
      { status: 103, fields: [['link', '</a>']] },
      { status: 200, fields: [['content-type', 'text/plain']] },
    ]);
    expect(
      p.events('client', 'data').map((e) => e.type === 'data' && Buffer.from(e.data).toString()),
    ).to.deep.equal(['ok']);
    expect(p.events('client', 'end')).to.deep.equal([{ type: 'end', stream: 0 }]);
    expect(p.client.activeRequests + p.server.activeRequests).to.equal(0);
  });

  it('GOAWAY from the server rejects later requests and stops new ones (§5.2)', () => {
    const p = new Pair();
    p.client.sendRequest(0, GET, true);
    p.pump();
    p.client.sendRequest(4, GET, true); // in flight when the server's GOAWAY is sent
    p.server.goaway();
    p.pump();
    expect(p.events('client', 'goaway')).to.deep.equal([{ type: 'goaway', id: 4 }]);
    const err = p.events('client', 'stream-error')[0];
    expect(err && err.type === 'stream-error' && [err.stream, err.error.code]).to.deep.equal([
      4,
      H3.REQUEST_REJECTED,
    ]);
    expect(p.client.canRequest).to.equal(false);
    expect(() => p.client.sendRequest(8, GET, true)).to.throw(RangeError);
    // The request before GOAWAY is still answered.
    p.server.sendResponse(0, 200, [], true);
    p.pump();
    expect(p.events('client', 'end')).to.deep.equal([{ type: 'end', stream: 0 }]);
    // The client's GOAWAY carries push ID 0.
    p.client.goaway();
    p.pump();
    expect(p.events('server', 'goaway')).to.deep.equal([{ type: 'goaway', id: 0 }]);
  });

  it('a server rejects requests at or above its GOAWAY id with H3_REQUEST_REJECTED', () => {
    const { s, events } = server();
    s.goaway(); // id 0: nothing processed
    s.receive(0, headers(REQ), true);
    expect(abortCode(events(), 0)).to.equal(H3.REQUEST_REJECTED);
    expect(events().some((e) => e.type === 'request')).to.equal(false);
  });

  it('GOAWAY ids must not increase and must be request stream ids (H3_ID_ERROR)', () => {
    const a = client();
    a.c.receive(3, encodeIdFrame(FrameType.GOAWAY, 8));
    a.c.receive(3, encodeIdFrame(FrameType.GOAWAY, 12));
    expect(closeCode(a.events())).to.equal(H3.ID_ERROR);
    const b = client();
    b.c.receive(3, encodeIdFrame(FrameType.GOAWAY, 2));
    expect(closeCode(b.events())).to.equal(H3.ID_ERROR);
  });

  describe('connection errors', () => {
    const cases: [string, (s: H3Connection) => void, number][] = [
      ['second SETTINGS', (s) => s.receive(2, LIMITS_SETTINGS), H3.FRAME_UNEXPECTED],
      [
        'DATA on the control stream',
        (s) => s.receive(2, encodeFrame(0, Buffer.from('x'))),
        H3.FRAME_UNEXPECTED,
      ],
      ['HEADERS on the control stream', (s) => s.receive(2, headers(REQ)), H3.FRAME_UNEXPECTED],
      [
        'second control stream',
        (s) => s.receive(6, Buffer.concat([encodeVarint(0), LIMITS_SETTINGS])),
        H3.STREAM_CREATION_ERROR,
      ],
      [
        'second encoder stream',
        (s) => (s.receive(6, encodeVarint(2)), s.receive(10, encodeVarint(2))),
        H3.STREAM_CREATION_ERROR,
      ],
      [
        'control stream closed',
        (s) => s.receive(2, new Uint8Array(0), true),
        H3.CLOSED_CRITICAL_STREAM,
      ],
      ['control stream reset', (s) => s.streamReset(2, 0), H3.CLOSED_CRITICAL_STREAM],
      [
        'encoder stream closed',
        (s) => s.receive(6, encodeVarint(2), true),
        H3.CLOSED_CRITICAL_STREAM,
      ],
      ['our control stream stopped', (s) => s.stopSending(3, 0x100), H3.CLOSED_CRITICAL_STREAM],
      ['push stream from a client', (s) => s.receive(6, encodeVarint(1)), H3.STREAM_CREATION_ERROR],
      ['CANCEL_PUSH', (s) => s.receive(2, encodeIdFrame(FrameType.CANCEL_PUSH, 0)), H3.ID_ERROR],
      [
        'MAX_PUSH_ID decreasing',
        (s) => s.receive(2, Buffer.concat([encodeIdFrame(13, 5), encodeIdFrame(13, 4)])),
        H3.ID_ERROR,
      ],
      [
        'HTTP/2 frame type on a request stream',
        (s) => s.receive(0, encodeFrame(0x06, new Uint8Array(8))),
        H3.FRAME_UNEXPECTED,
      ],
      [
        'DATA before HEADERS',
        (s) => s.receive(0, encodeFrame(0, Buffer.from('x'))),
        H3.FRAME_UNEXPECTED,
      ],
      [
        'HEADERS after trailers',
        (s) => s.receive(0, Buffer.concat([headers(REQ), headers([]), headers([])])),
        H3.FRAME_UNEXPECTED,
      ],
      [
        'DATA after trailers',
        (s) =>
          s.receive(
            0,
            Buffer.concat([headers(REQ), headers([]), encodeFrame(0, Buffer.from('x'))]),
          ),
        H3.FRAME_UNEXPECTED,
      ],
      ['SETTINGS on a request stream', (s) => s.receive(0, LIMITS_SETTINGS), H3.FRAME_UNEXPECTED],
      ['GOAWAY on a request stream', (s) => s.receive(0, encodeIdFrame(7, 0)), H3.FRAME_UNEXPECTED],
      [
        'PUSH_PROMISE from a client',
        (s) => s.receive(0, encodeFrame(5, Buffer.from('0000', 'hex'))),
        H3.FRAME_UNEXPECTED,
      ],
      [
        'request stream ending inside a frame',
        (s) =>
          s.receive(0, Buffer.concat([headers(REQ), frameHeader(0, 10), Buffer.from('abc')]), true),
        H3.FRAME_ERROR,
      ],
      [
        'dynamic table reference',
        (s) => s.receive(0, encodeFrame(1, Buffer.from('000080', 'hex'))),
        H3.QPACK_DECOMPRESSION_FAILED,
      ],
      [
        'Required Insert Count 1',
        (s) => s.receive(0, encodeFrame(1, Buffer.from('0200d1', 'hex'))),
        H3.QPACK_DECOMPRESSION_FAILED,
      ],
      [
        'encoder stream insert',
        (s) => s.receive(6, Buffer.concat([encodeVarint(2), Buffer.from('c0', 'hex')])),
        H3.QPACK_ENCODER_STREAM_ERROR,
      ],
      [
        'encoder stream capacity > 0',
        (s) => s.receive(6, Buffer.concat([encodeVarint(2), Buffer.from('3f01', 'hex')])),
        H3.QPACK_ENCODER_STREAM_ERROR,
      ],
      [
        'decoder stream Section Acknowledgment',
        (s) => s.receive(6, Buffer.concat([encodeVarint(3), Buffer.from('80', 'hex')])),
        H3.QPACK_DECODER_STREAM_ERROR,
      ],
      [
        'decoder stream Insert Count Increment',
        (s) => s.receive(6, Buffer.concat([encodeVarint(3), Buffer.from('01', 'hex')])),
        H3.QPACK_DECODER_STREAM_ERROR,
      ],
    ];
    for (const [name, act, code] of cases)
      it(`${name} -> 0x${code.toString(16)}`, () => {
        const { s, events } = server();
        act(s);
        expect(closeCode(events())).to.equal(code);
        // Nothing is processed after a connection error.
        s.receive(8, headers(REQ), true);
        expect(events().filter((e) => e.type === 'request' && e.stream === 8)).to.deep.equal([]);
      });

    it('a control stream not starting with SETTINGS -> H3_MISSING_SETTINGS', () => {
      const s = new H3Connection({ role: 'server' });
      s.receive(2, Buffer.concat([encodeVarint(0), encodeIdFrame(FrameType.GOAWAY, 0)]));
      expect(closeCode([s.poll()!])).to.equal(H3.MISSING_SETTINGS);
    });

    it('HTTP/2 settings and duplicate settings -> H3_SETTINGS_ERROR', () => {
      for (const payload of ['0200', '0601 0601']) {
        const s = new H3Connection({ role: 'server' });
        s.receive(
          2,
          Buffer.concat([
            encodeVarint(0),
            encodeFrame(4, Buffer.from(payload.replace(' ', ''), 'hex')),
          ]),
        );
        expect(closeCode([s.poll()!])).to.equal(H3.SETTINGS_ERROR);
      }
    });

    it('client side: push stream and PUSH_PROMISE -> H3_ID_ERROR; MAX_PUSH_ID -> H3_FRAME_UNEXPECTED; server bidi stream -> H3_STREAM_CREATION_ERROR', () => {
      const a = client();
      a.c.receive(7, Buffer.concat([encodeVarint(1), encodeVarint(0)]));
      expect(closeCode(a.events())).to.equal(H3.ID_ERROR);
      const b = client();
      b.c.sendRequest(0, GET, true);
      b.c.receive(0, Buffer.concat([encodeFrame(5, Buffer.from('000000', 'hex'))]));
      expect(closeCode(b.events())).to.equal(H3.ID_ERROR);
      const c = client();
      c.c.receive(3, encodeIdFrame(13, 1));
      expect(closeCode(c.events())).to.equal(H3.FRAME_UNEXPECTED);
      const d = client();
      d.c.receive(1, headers(REQ));
      expect(closeCode(d.events())).to.equal(H3.STREAM_CREATION_ERROR);
    });
  });

  describe('stream errors', () => {
    const bad: [string, Field[]][] = [
      ['upper-case name', [...REQ, ['X-Foo', 'a']]],
      ['connection-specific field', [...REQ, ['connection', 'close']]],
      ['transfer-encoding', [...REQ, ['transfer-encoding', 'chunked']]],
      ["'te' other than trailers", [...REQ, ['te', 'gzip']]],
      ['pseudo-header after a regular field', [['x', 'y'], ...REQ]],
      ['missing :path', REQ.filter(([n]) => n !== ':path')],
      ['missing :method', REQ.filter(([n]) => n !== ':method')],
      ['duplicate :path', [...REQ.slice(0, 3), [':path', '/'], [':path', '/b']]],
      [':status in a request', [...REQ, [':status', '200']]],
      ['unknown pseudo-header', [...REQ, [':foo', 'x']]],
      [
        'empty :path',
        [
          [':method', 'GET'],
          [':scheme', 'https'],
          [':authority', 'a'],
          [':path', ''],
        ],
      ],
      ['CR in a value', [...REQ, ['x', 'a\rb']]],
      ['bad content-length', [...REQ, ['content-length', '1x']]],
    ];
    for (const [name, fields] of bad)
      it(`malformed request (${name}) -> H3_MESSAGE_ERROR on that stream only`, () => {
        const { s, events } = server();
        s.receive(0, headers(fields), true);
        expect(abortCode(events(), 0)).to.equal(H3.MESSAGE_ERROR);
        expect(closeCode(events())).to.equal(undefined);
        s.receive(4, headers(REQ), true);
        expect(events().filter((e) => e.type === 'request').length).to.equal(1);
      });

    it('content-length mismatch -> H3_MESSAGE_ERROR (§4.1.2)', () => {
      const { s, events } = server();
      s.receive(
        0,
        Buffer.concat([
          headers([...REQ, ['content-length', '3']]),
          encodeFrame(0, Buffer.from('ab')),
        ]),
        true,
      );
      expect(abortCode(events(), 0)).to.equal(H3.MESSAGE_ERROR);
      s.receive(
        4,
        Buffer.concat([
          headers([...REQ, ['content-length', '1']]),
          encodeFrame(0, Buffer.from('ab')),
        ]),
      );
      expect(abortCode(events(), 4)).to.equal(H3.MESSAGE_ERROR);
    });

    it('request stream ending without HEADERS -> H3_REQUEST_INCOMPLETE', () => {
      const { s, events } = server();
      s.receive(0, encodeFrame(0x21, Buffer.from('x')), true);
      expect(abortCode(events(), 0)).to.equal(H3.REQUEST_INCOMPLETE);
    });

    it('a field section above our SETTINGS_MAX_FIELD_SECTION_SIZE -> H3_EXCESSIVE_LOAD on the stream', () => {
      const s = new H3Connection({ role: 'server', maxFieldSectionSize: 200 });
      s.receive(0, headers([...REQ, ['x-big', 'v'.repeat(200)]]), true);
      const ev: H3Event[] = [];
      for (let e; (e = s.poll());) ev.push(e);
      expect(abortCode(ev, 0)).to.equal(H3.EXCESSIVE_LOAD);
      expect(closeCode(ev)).to.equal(undefined);
    });

    it("we honour the peer's SETTINGS_MAX_FIELD_SECTION_SIZE (RangeError before sending)", () => {
      const c = new H3Connection({ role: 'client' });
      c.receive(3, Buffer.concat([encodeVarint(0), encodeSettings(new Map([[6, 200]]))]));
      expect(() => c.sendRequest(0, { ...GET, fields: [['x', 'v'.repeat(100)]] })).to.throw(
        RangeError,
      );
      c.sendRequest(0, GET, true);
    });

    it('a peer reset of a request stream is reported with its code', () => {
      const p = new Pair();
      p.client.sendRequest(0, GET);
      p.pump();
      p.client.abort(0, H3.REQUEST_CANCELLED);
      p.pump();
      const e = p.events('server', 'stream-error')[0];
      expect(e && e.type === 'stream-error' && [e.error.code, e.local]).to.deep.equal([
        H3.REQUEST_CANCELLED,
        false,
      ]);
    });
  });

  it('ignores unknown stream types (STOP_SENDING H3_STREAM_CREATION_ERROR) and unknown frames', () => {
    const { s, events } = server();
    s.receive(14, Buffer.concat([encodeVarint(0x21 + 0x1f), Buffer.from('junk')]));
    const stop = events().find((e) => e.type === 'stop-sending');
    expect(stop).to.deep.equal({
      type: 'stop-sending',
      stream: 14,
      code: H3.STREAM_CREATION_ERROR,
    });
    s.receive(2, encodeFrame(0x21, Buffer.from('grease')));
    s.receive(
      0,
      Buffer.concat([
        encodeFrame(0x40, Buffer.from('x')),
        headers(REQ),
        encodeFrame(0x5f, new Uint8Array(0)),
      ]),
      true,
    );
    expect(events().map((e) => e.type)).to.include.members(['request', 'end']);
    expect(closeCode(events())).to.equal(undefined);
  });

  it('tolerates a unidirectional stream closed before its type arrived, and types split across chunks', () => {
    const { s, events } = server();
    s.receive(6, new Uint8Array(0), true);
    s.receive(10, Buffer.from([0x40]));
    s.receive(10, Buffer.from([0x02])); // 2-byte varint 2: encoder stream
    s.receive(10, Buffer.from('20', 'hex')); // Set Dynamic Table Capacity 0
    expect(closeCode(events())).to.equal(undefined);
  });

  it('any bytes on any streams give events, never an exception (both roles)', () => {
    const valid = [
      Buffer.concat([encodeVarint(0), LIMITS_SETTINGS]),
      headers(REQ),
      headers([[':status', '200']]),
      encodeFrame(0, Buffer.from('body')),
      encodeIdFrame(FrameType.GOAWAY, 4),
      encodeVarint(2),
      encodeVarint(3),
    ];
    const chunk = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc
        .tuple(fc.constantFrom(...valid), fc.nat(), fc.integer({ min: 0, max: 255 }))
        .map(([v, at, b]) => {
          const c = Buffer.from(v);
          c[at % c.length] = b;
          return c;
        }),
      fc.constantFrom(...valid),
    );
    const op = fc.tuple(
      fc.constantFrom(0, 1, 2, 3, 4, 6, 7, 10, 11, 14),
      chunk,
      fc.boolean(),
      fc.nat(3),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('client', 'server'),
        fc.array(op, { maxLength: 12 }),
        (role, ops) => {
          const c = new H3Connection({ role: role as 'client' | 'server' });
          c.start();
          if (role === 'client') c.sendRequest(0, GET);
          for (const [id, data, fin, what] of ops) {
            if (what === 0) c.streamReset(id, 0x10c);
            else if (what === 1) c.stopSending(id, 0x10c);
            else c.receive(id, data, fin);
          }
          // A bug (a TypeError inside) would surface as a close with H3_INTERNAL_ERROR.
          for (let e; (e = c.poll());)
            if (e.type === 'close') expect(e.code, e.reason).to.not.equal(H3.INTERNAL_ERROR);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects API misuse with TypeError / RangeError', () => {
    const c = new H3Connection({ role: 'client' });
    expect(() => new H3Connection({ role: 'x' as 'client' })).to.throw(TypeError);
    expect(() => new H3Connection({ role: 'client', maxFieldSectionSize: 0 })).to.throw(RangeError);
    expect(() => c.sendRequest(0, { ...GET, path: 'x' })).to.throw(TypeError);
    expect(() => c.sendRequest(0, { ...GET, method: 'G T' })).to.throw(TypeError);
    expect(() => c.sendRequest(0, { ...GET, fields: [['Upper', 'x']] })).to.throw(TypeError);
    expect(() => c.sendRequest(0, { ...GET, fields: [['connection', 'x']] })).to.throw(TypeError);
    expect(() => c.sendData(0, Buffer.from('x'))).to.throw(RangeError);
    expect(() => c.sendResponse(0, 200)).to.throw(TypeError);
    const s = new H3Connection({ role: 'server' });
    expect(() => s.sendResponse(0, 200)).to.throw(RangeError);
    expect(() => s.sendRequest(0, GET)).to.throw(TypeError);
  });
});
