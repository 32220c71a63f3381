/**
 * StreamSet on its own (no Connection): the peer's stream frames, the stream API, the frames
 * written into a packet, and their acknowledgement and loss (RFC 9000 §2-§4, §13.3, §19).
 */
import { expect } from 'chai';
import { DEFAULT_BOUNDS } from '../lib/quic/config.js';
import { QuicError, TransportError } from '../lib/quic/errors.js';
import { decodeFrames, encodeFrame, frameSize, type Frame } from '../lib/quic/frames.js';
import type { SentFrame } from '../lib/quic/spaces.js';
import {
  StreamSet,
  type FrameWriter,
  type StreamEvent,
  type StreamLimits,
  type StreamSentFrame,
} from '../lib/quic/stream-set.js';

const { FLOW_CONTROL_ERROR, STREAM_LIMIT_ERROR, STREAM_STATE_ERROR, FINAL_SIZE_ERROR } =
  TransportError;

const LIMITS: StreamLimits = {
  initialMaxData: 10_000,
  initialMaxStreamDataBidiLocal: 1000,
  initialMaxStreamDataBidiRemote: 1000,
  initialMaxStreamDataUni: 1000,
  initialMaxStreamsBidi: 4,
  initialMaxStreamsUni: 4,
};

/** A packet's frame area of `size` bytes. */
class Packet implements FrameWriter {
  readonly slab = new Uint8Array(2048);
  pos = 0;
  constructor(private readonly size: number) {}
  get room(): number {
    return this.size - this.pos;
  }
  writeFrame(f: Frame): void {
    if (frameSize(f) > this.room) throw new RangeError(`${f.type} does not fit`);
    this.pos = encodeFrame(this.slab, this.pos, f);
  }
  advance(n: number): void {
    if (n > this.room) throw new RangeError('advance beyond the room');
    this.pos += n;
  }
  frames(): Frame[] {
    return this.pos === 0 ? [] : decodeFrames(this.slab, 0, this.pos, '1rtt');
  }
}

interface Side {
  set: StreamSet;
  events: StreamEvent[];
  ctrl: Frame[];
}

interface SideOptions {
  local?: Partial<StreamLimits>;
  peer?: Partial<StreamLimits>;
  sendBuffer?: number;
  connectionSendBuffer?: number;
  maxReassemblyRanges?: number;
  maxReassemblyBytes?: number;
  maxStreamWindow?: number;
  maxConnectionWindow?: number;
}

/** A StreamSet as the server (peer = client) or the client, with the peer's limits applied. */
function side(server: boolean, o: SideOptions = {}): Side {
  const events: StreamEvent[] = [];
  const ctrl: Frame[] = [];
  const set = new StreamSet({
    server,
    local: { ...LIMITS, ...o.local },
    sendBuffer: o.sendBuffer ?? DEFAULT_BOUNDS.streamSendBuffer,
    connectionSendBuffer: o.connectionSendBuffer ?? DEFAULT_BOUNDS.connectionSendBuffer,
    maxReassemblyRanges: o.maxReassemblyRanges ?? DEFAULT_BOUNDS.maxReassemblyRanges,
    maxReassemblyBytes: o.maxReassemblyBytes ?? DEFAULT_BOUNDS.maxReassemblyBytes,
    maxStreamWindow: o.maxStreamWindow ?? DEFAULT_BOUNDS.maxStreamWindow,
    maxConnectionWindow: o.maxConnectionWindow ?? DEFAULT_BOUNDS.maxConnectionWindow,
    events,
    ctrl,
  });
  set.applyPeerLimits({ ...LIMITS, ...o.peer });
  return { set, events, ctrl };
}

/** Builds one packet: the control frames, then stream data. */
function build(set: StreamSet, size = 1200): { frames: Frame[]; sent: StreamSentFrame[] } {
  const p = new Packet(size);
  const sent: SentFrame[] = [];
  set.writeControl(p, sent, 0, 100);
  set.writeData(p, sent);
  return {
    frames: p.frames(),
    sent: sent.filter((f): f is StreamSentFrame => f.t !== 'ctrl' && f.t !== 'ack'),
  };
}

function quicError(fn: () => void): QuicError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(QuicError);
    return e as QuicError;
  }
  throw new Error('no QuicError thrown');
}

const data = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);
const stream = (
  streamId: number,
  offset: number,
  d: Uint8Array,
  fin = false,
): Extract<Frame, { type: 'stream' }> => ({
  type: 'stream',
  streamId,
  offset,
  data: d,
  fin,
});

describe('quic/stream-set: StreamSet (RFC 9000 §2-§4)', () => {
  describe('readable events', () => {
    it('queues one per stream for a run of frames, and another once the connection handed it out', () => {
      const { set, events } = side(true);
      for (let k = 0; k < 5; k++) set.received(stream(0, k * 10, data(10)));
      set.received(stream(4, 0, data(10)));
      set.received(stream(0, 50, data(10)));
      const readable = () => events.filter((e) => e.type === 'readable').map((e) => e.streamId);
      expect(readable()).to.deep.equal([0, 4]);
      // Not handed out yet: reading does not queue another one for data that follows.
      expect(set.readChunk(0, Infinity).data?.length).to.equal(60);
      set.received(stream(0, 60, data(10)));
      expect(readable()).to.deep.equal([0, 4]);
      set.readablePolled(0);
      set.received(stream(0, 70, data(10)));
      expect(readable()).to.deep.equal([0, 4, 0]);
      set.readablePolled(99); // an unknown stream: nothing to do
    });
  });

  describe('peer streams', () => {
    it('opens lower streams of a type implicitly (§3.2) and refuses more than MAX_STREAMS (§4.6)', () => {
      const { set, events } = side(true, { local: { initialMaxStreamsBidi: 2 } });
      set.received(stream(4, 0, data(1)));
      expect(events.filter((e) => e.type === 'stream-opened')).to.deep.equal([
        { type: 'stream-opened', streamId: 0 },
        { type: 'stream-opened', streamId: 4 },
      ]);
      expect(set.size).to.equal(2);
      const e = quicError(() => set.received(stream(8, 0, data(1))));
      expect(e.code).to.equal(STREAM_LIMIT_ERROR);
      expect(set.size).to.equal(2);
    });

    it('a frame for the half a stream lacks, or for our unopened stream, is STREAM_STATE_ERROR', () => {
      const { set } = side(true);
      // STREAM on our own unidirectional stream (§19.8).
      expect(quicError(() => set.received(stream(3, 0, data(1)))).code).to.equal(
        STREAM_STATE_ERROR,
      );
      // STOP_SENDING / MAX_STREAM_DATA for the peer's unidirectional stream (§19.5, §19.10).
      expect(
        quicError(() => set.received({ type: 'stop_sending', streamId: 2, errorCode: 0 })).code,
      ).to.equal(STREAM_STATE_ERROR);
      expect(
        quicError(() => set.received({ type: 'max_stream_data', streamId: 2, maximum: 9 })).code,
      ).to.equal(STREAM_STATE_ERROR);
      // Our bidirectional stream 1 was never opened (§19.10).
      expect(
        quicError(() => set.received({ type: 'max_stream_data', streamId: 1, maximum: 9 })).code,
      ).to.equal(STREAM_STATE_ERROR);
      expect(set.open(true)).to.equal(1);
      expect(() =>
        set.received({ type: 'max_stream_data', streamId: 1, maximum: 9 }),
      ).to.not.throw();
    });

    it('MAX_STREAMS grows as peer streams close, by half a window at a time (§4.6)', () => {
      const { set, events, ctrl } = side(true);
      for (const id of [2, 6, 10, 14]) set.received(stream(id, 0, data(3), true));
      expect(quicError(() => set.received(stream(18, 0, data(1)))).code).to.equal(
        STREAM_LIMIT_ERROR,
      );
      // Reading to the FIN closes a peer's unidirectional stream.
      expect(set.readChunk(2, Infinity).fin).to.equal(true);
      expect(ctrl).to.deep.equal([]);
      expect(set.readChunk(6, Infinity).fin).to.equal(true);
      expect(ctrl).to.deep.equal([{ type: 'max_streams', bidi: false, maximum: 6 }]);
      expect(events.filter((e) => e.type === 'stream-closed').map((e) => e)).to.deep.equal([
        { type: 'stream-closed', streamId: 2 },
        { type: 'stream-closed', streamId: 6 },
      ]);
      expect(() => set.received(stream(18, 0, data(1)))).to.not.throw();
      expect(set.size).to.equal(3);
    });

    it('a frame for a freed stream is ignored', () => {
      const { set, events } = side(true);
      set.received(stream(2, 0, data(3), true));
      set.readChunk(2, Infinity);
      events.length = 0;
      set.received(stream(2, 0, data(3), true));
      set.received({ type: 'reset_stream', streamId: 2, errorCode: 1, finalSize: 3 });
      expect(events).to.deep.equal([]);
      expect(set.readChunk(2, Infinity)).to.deep.equal({ data: null, fin: false });
    });
  });

  describe('flow control', () => {
    it('data beyond the stream window is FLOW_CONTROL_ERROR (§4.1)', () => {
      const { set } = side(true);
      set.received(stream(0, 0, data(1000)));
      const e = quicError(() => set.received(stream(0, 1000, data(1))));
      expect(e.code).to.equal(FLOW_CONTROL_ERROR);
      expect(e.frameType).to.equal(0x08);
    });

    it('data beyond the connection window across streams is FLOW_CONTROL_ERROR', () => {
      const { set } = side(true, { local: { initialMaxData: 1500 } });
      set.received(stream(0, 0, data(1000)));
      set.received(stream(4, 0, data(500)));
      const e = quicError(() => set.received(stream(8, 0, data(1))));
      expect(e.code).to.equal(FLOW_CONTROL_ERROR);
      expect(e.message).to.match(/connection flow control/);
    });

    it('a final size that changes or lies below received data is FINAL_SIZE_ERROR (§4.5)', () => {
      const { set } = side(true);
      set.received(stream(0, 0, data(10), true));
      expect(quicError(() => set.received(stream(0, 10, data(1)))).code).to.equal(FINAL_SIZE_ERROR);
      set.received(stream(4, 0, data(20)));
      const e = quicError(() =>
        set.received({ type: 'reset_stream', streamId: 4, errorCode: 0, finalSize: 10 }),
      );
      expect(e.code).to.equal(FINAL_SIZE_ERROR);
      expect(e.frameType).to.equal(0x04);
    });

    it('reading opens the windows: MAX_STREAM_DATA and MAX_DATA (§4.2)', () => {
      const { set } = side(true, { local: { initialMaxData: 1000 } });
      set.received(stream(0, 0, data(800)));
      expect(set.hasData).to.equal(false);
      expect(set.readChunk(0, Infinity).data!.length).to.equal(800);
      expect(set.hasData).to.equal(true);
      const { frames } = build(set);
      expect(frames.map((f) => f.type)).to.deep.equal(['max_data', 'max_stream_data']);
      const msd = frames[1] as Extract<Frame, { type: 'max_stream_data' }>;
      expect(msd.streamId).to.equal(0);
      expect(msd.maximum).to.be.greaterThan(1000);
      expect(set.hasData).to.equal(false);
    });

    it('auto-tuning: a peer using all its credit doubles the windows up to the maxima', () => {
      const { set } = side(true, { maxStreamWindow: 4000, maxConnectionWindow: 5000 });
      const grants: number[] = [];
      let offset = 0;
      for (let i = 0; i < 4; i++) {
        // The peer sends up to our limit (it is blocked there); we read all of it.
        const limit = grants.at(-1) ?? 1000;
        set.received(stream(0, offset, data(limit - offset)));
        offset = limit;
        set.readChunk(0, Infinity);
        const msd = build(set).frames.find((f) => f.type === 'max_stream_data');
        grants.push((msd as Extract<Frame, { type: 'max_stream_data' }>).maximum);
      }
      // Windows 2000, 4000, then capped at 4000: the grant runs that far past what was read.
      expect(grants).to.deep.equal([3000, 7000, 11000, 15000]);
      const st = set.stats;
      expect(st.streamWindowMax).to.equal(4000);
      // Two stream doublings; the connection window (10 000, above its 5000 cap: the initial
      // limit wins) is already more than 1.5x the stream window and stays.
      expect(st.windowUpdates).to.equal(2);
      expect(set.recvWindow.window).to.equal(10_000);
      expect(set.recvWindow.maxWindow).to.equal(10_000);
    });

    it('sends within the peer credit, then STREAM_DATA_BLOCKED (§4.1)', () => {
      const { set, ctrl } = side(false);
      const id = set.open(true)!;
      expect(set.write(id, data(1500), false)).to.equal(1500);
      const { frames } = build(set, 1400);
      const sent = frames.filter((f) => f.type === 'stream');
      expect(sent.reduce((n, f) => n + (f.type === 'stream' ? f.data.length : 0), 0)).to.equal(
        1000,
      );
      expect(ctrl).to.deep.equal([{ type: 'stream_data_blocked', streamId: id, limit: 1000 }]);
      set.received({ type: 'max_stream_data', streamId: id, maximum: 5000 });
      expect(build(set).frames).to.have.length(1);
      expect(set.get(id)!.send!.buf.sentOffset).to.equal(1500);
    });

    it('DATA_BLOCKED at the connection credit, sent again when lost while still blocked (§13.3)', () => {
      const { set, ctrl } = side(false, { peer: { initialMaxData: 600 } });
      const a = set.open(true)!;
      const b = set.open(true)!;
      set.write(a, data(400), false);
      set.write(b, data(400), false);
      build(set);
      build(set);
      expect(set.sendCredit.available).to.equal(0);
      const blocked: Frame = { type: 'data_blocked', limit: 600 };
      expect(ctrl).to.deep.include(blocked);
      ctrl.length = 0;
      set.onCtrlLost(blocked);
      expect(ctrl).to.deep.equal([blocked]);
      // Once the peer raised the limit, a lost DATA_BLOCKED for the old one is stale.
      ctrl.length = 0;
      set.received({ type: 'max_data', maximum: 2000 });
      set.onCtrlLost(blocked);
      expect(ctrl).to.deep.equal([]);
    });

    it('lost STREAM_DATA_BLOCKED and STREAMS_BLOCKED are sent again while still blocked', () => {
      const { set, ctrl } = side(false, { peer: { initialMaxStreamsBidi: 1 } });
      const id = set.open(true)!;
      expect(set.open(true)).to.equal(null);
      set.write(id, data(1200), false);
      build(set);
      expect(ctrl).to.deep.equal([
        { type: 'streams_blocked', bidi: true, limit: 1 },
        { type: 'stream_data_blocked', streamId: id, limit: 1000 },
      ]);
      const lost = ctrl.splice(0) as Parameters<StreamSet['onCtrlLost']>[0][];
      for (const f of lost) set.onCtrlLost(f);
      expect(ctrl).to.deep.equal(lost);
      ctrl.length = 0;
      set.received({ type: 'max_streams', bidi: true, maximum: 2 });
      set.received({ type: 'max_stream_data', streamId: id, maximum: 4000 });
      for (const f of lost) set.onCtrlLost(f);
      expect(ctrl).to.deep.equal([]);
    });
  });

  describe('reset and stop sending', () => {
    it('resetStream: Reset Sent, RESET_STREAM until acknowledged, then Reset Recvd (§3.1)', () => {
      const { set, events } = side(false);
      const id = set.open(false)!; // unidirectional: only a send half
      const half = set.get(id)!.send!;
      expect(half.state).to.equal('ready');
      set.write(id, data(300), false);
      build(set);
      expect(half.state).to.equal('send');
      set.reset(id, 7);
      expect(half.state).to.equal('reset-sent');
      expect(() => set.write(id, data(1), false)).to.throw(RangeError, /ended or reset/);
      const first = build(set);
      expect(first.frames).to.deep.equal([
        { type: 'reset_stream', streamId: id, errorCode: 7, finalSize: 300 },
      ]);
      // Lost: sent again with the same code and final size.
      set.onLost(first.sent[0]!);
      const again = build(set);
      expect(again.frames).to.deep.equal(first.frames);
      set.onAcked(again.sent[0]!);
      expect(half.state).to.equal('reset-recvd');
      expect(events).to.deep.include({ type: 'stream-closed', streamId: id });
      // A late loss of the first copy changes nothing.
      set.onLost(first.sent[0]!);
      expect(set.hasData).to.equal(false);
    });

    it("the peer's STOP_SENDING is answered with RESET_STREAM and the same code (§3.5)", () => {
      const { set, events } = side(true);
      set.received(stream(0, 0, data(5)));
      set.write(0, data(50), false);
      build(set);
      set.received({ type: 'stop_sending', streamId: 0, errorCode: 42 });
      expect(events).to.deep.include({ type: 'stop-sending', streamId: 0, code: 42 });
      expect(set.get(0)!.send!.state).to.equal('reset-sent');
      expect(build(set).frames).to.deep.equal([
        { type: 'reset_stream', streamId: 0, errorCode: 42, finalSize: 50 },
      ]);
    });

    it("the peer's RESET_STREAM: Reset Read, unread bytes credited to the connection (§4.5)", () => {
      const { set, events } = side(true);
      set.received(stream(0, 0, data(100)));
      set.received({ type: 'reset_stream', streamId: 0, errorCode: 9, finalSize: 400 });
      const recv = set.get(0)!.recv!;
      expect(recv.state).to.equal('reset-read');
      expect(events).to.deep.include({ type: 'stream-reset', streamId: 0, code: 9 });
      expect(set.recvWindow.consumed).to.equal(400);
      expect(set.readChunk(0, Infinity)).to.deep.equal({ data: null, fin: false });
      expect(set.isFinished(0)).to.equal(true);
    });

    it('stopSending: STOP_SENDING until acknowledged, later data discarded and credited', () => {
      const { set, events } = side(true);
      set.received(stream(2, 0, data(100)));
      set.stopSending(2, 5);
      const recv = set.get(2)!.recv!;
      expect(recv.state).to.equal('stopped');
      const first = build(set);
      expect(first.frames).to.deep.equal([{ type: 'stop_sending', streamId: 2, errorCode: 5 }]);
      // Data in flight before the peer saw it: dropped, and its credit returned (§3.5, §4.5).
      events.length = 0;
      set.received(stream(2, 100, data(200)));
      expect(events).to.deep.equal([]);
      expect(set.recvWindow.consumed).to.equal(300);
      expect(set.readChunk(2, Infinity)).to.deep.equal({ data: null, fin: false });
      set.onLost(first.sent[0]!);
      const again = build(set);
      expect(again.frames).to.deep.equal(first.frames);
      // The stream stays until the peer has the STOP_SENDING.
      expect(set.size).to.equal(1);
      set.onAcked(again.sent[0]!);
      expect(set.size).to.equal(0);
      expect(events).to.deep.equal([{ type: 'stream-closed', streamId: 2 }]);
    });

    it('RESET_STREAM and STOP_SENDING of one stream are each written only where they fit', () => {
      const { set } = side(true, { local: { initialMaxStreamsBidi: 200 } });
      const id = 400; // a 2-byte stream ID
      set.received(stream(id, 0, data(5)));
      set.received({ type: 'max_data', maximum: 100_000 });
      set.received({ type: 'max_stream_data', streamId: id, maximum: 100_000 });
      set.write(id, data(20_000), false);
      while (set.hasData) build(set);
      const code = 2 ** 53 - 1; // an 8-byte error code
      set.reset(id, code);
      set.stopSending(id, code);
      // Exactly a RESET_STREAM's largest size: it fits (15 bytes here); the STOP_SENDING (11)
      // no longer does and waits for the next packet.
      expect(build(set, 25).frames).to.deep.equal([
        { type: 'reset_stream', streamId: id, errorCode: code, finalSize: 20_000 },
      ]);
      expect(build(set, 25).frames).to.deep.equal([
        { type: 'stop_sending', streamId: id, errorCode: code },
      ]);
    });
  });

  describe('acknowledgement and loss', () => {
    it('lost STREAM data is sent again first; Data Sent, then Data Recvd (§3.1, §13.3)', () => {
      const { set, events } = side(false);
      const id = set.open(false)!;
      const half = set.get(id)!.send!;
      set.write(id, data(900, 7), true);
      const p1 = build(set, 500);
      const p2 = build(set, 500);
      expect(half.state).to.equal('data-sent');
      expect(p1.frames).to.have.length(1);
      const f1 = p1.frames[0] as Extract<Frame, { type: 'stream' }>;
      expect(f1.fin).to.equal(false);
      set.onAcked(p2.sent[0]!);
      set.onLost(p1.sent[0]!);
      const p3 = build(set, 500);
      expect(p3.frames).to.deep.equal(p1.frames);
      expect(set.hasData).to.equal(false);
      expect(events).to.deep.equal([]);
      set.onAcked(p3.sent[0]!);
      expect(half.state).to.equal('data-recvd');
      expect(events).to.deep.equal([{ type: 'stream-closed', streamId: id }]);
    });

    it('a lost FIN alone is sent again as an empty STREAM frame with FIN', () => {
      const { set } = side(false);
      const id = set.open(false)!;
      set.write(id, data(10), false);
      const p1 = build(set);
      set.write(id, new Uint8Array(0), true);
      const p2 = build(set);
      expect(p2.frames).to.deep.equal([stream(id, 10, new Uint8Array(0), true)]);
      set.onAcked(p1.sent[0]!);
      set.onLost(p2.sent[0]!);
      expect(build(set).frames).to.deep.equal(p2.frames);
    });

    it("a full send buffer reports 'writable' once acknowledgements free it", () => {
      const { set, events } = side(false, { sendBuffer: 600 });
      const id = set.open(false)!;
      expect(set.write(id, data(1000), false)).to.equal(600);
      const p = build(set);
      expect(events).to.deep.equal([]);
      for (const f of p.sent) set.onAcked(f);
      expect(events).to.deep.equal([{ type: 'writable', streamId: id }]);
    });

    it('a lost MAX_STREAM_DATA is sent again unless a newer one superseded it', () => {
      const { set } = side(true);
      set.received(stream(0, 0, data(800)));
      set.readChunk(0, Infinity);
      const p1 = build(set);
      const msd = p1.sent.find((f) => f.t === 'max_stream_data')!;
      set.onLost(msd);
      expect(build(set).frames.map((f) => f.type)).to.deep.equal(['max_stream_data']);
      set.received(stream(0, 800, data(1000)));
      set.readChunk(0, Infinity);
      build(set);
      set.onLost(msd); // stale
      expect(set.hasData).to.equal(false);
    });

    it('lost STREAM data of a reset stream is not sent again', () => {
      const { set } = side(false);
      const id = set.open(false)!;
      set.write(id, data(100), false);
      const p1 = build(set);
      set.reset(id, 3);
      build(set);
      set.onLost(p1.sent[0]!);
      expect(set.hasData).to.equal(false);
    });
  });

  describe('API arguments', () => {
    it('bad stream IDs, codes and stream directions are TypeError/RangeError', () => {
      const { set } = side(false);
      expect(() => set.write(-1, data(1), false)).to.throw(TypeError, /streamId/);
      expect(() => set.write(0, data(1), false)).to.throw(RangeError, /no such open stream/);
      const uni = set.open(false)!;
      expect(() => set.readChunk(uni, Infinity)).to.throw(RangeError, /send-only/);
      expect(() => set.stopSending(uni, 1)).to.throw(RangeError, /send-only/);
      expect(() => set.reset(uni, 2 ** 62)).to.throw(RangeError, /code/);
      expect(() => set.write(uni, 'x' as unknown as Uint8Array, false)).to.throw(TypeError);
      expect(() => set.readChunk(1.5, Infinity)).to.throw(TypeError, /streamId/);
    });

    it('open() returns null at the peer limit and queues one STREAMS_BLOCKED (§19.14)', () => {
      const { set, ctrl } = side(false);
      for (let i = 0; i < 4; i++) expect(set.open(true)).to.equal(i * 4);
      expect(set.open(true)).to.equal(null);
      expect(set.open(true)).to.equal(null);
      expect(ctrl).to.deep.equal([{ type: 'streams_blocked', bidi: true, limit: 4 }]);
    });
  });
});
