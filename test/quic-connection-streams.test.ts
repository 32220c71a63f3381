/**
 * Streams over the simulated link: bulk transfers checked by SHA-256 under loss, reordering
 * and corruption; flow control and stream limits; FIN, RESET_STREAM, STOP_SENDING.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import type { ConnectionConfig, QlogEvent } from '../lib/quic/connection.js';
import { SEND_HEAD_START, type StreamSet } from '../lib/quic/stream-set.js';
import { Link, clientConfig, serverConfig, upload, type LinkOptions } from './support/link.js';

function pattern(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

const sha = (b: Uint8Array | Buffer[]): string => {
  const h = createHash('sha256');
  if (Array.isArray(b)) for (const c of b) h.update(c);
  else h.update(b);
  return h.digest('hex');
};

interface Transfer {
  link: Link;
  received: Buffer[];
  done: boolean;
}

/** The client sends `data` on one bidirectional stream; the server collects it. */
function transfer(
  data: Buffer,
  link: LinkOptions,
  extra: Partial<ConnectionConfig> = {},
  maxTime = 600_000,
): Transfer {
  const l = new Link(clientConfig(extra), serverConfig(extra), link);
  const t: Transfer = { link: l, received: [], done: false };
  upload(l, data, undefined, t);
  l.run(() => t.done, maxTime);
  return t;
}

describe('quic connection: streams', function () {
  this.timeout(120_000);
  const MB10 = pattern(10 * 1024 * 1024, 7);
  const want = sha(MB10);

  it('10 MB intact at 0% loss (CUBIC)', () => {
    const t = transfer(MB10, { delay: 10 }, { cc: 'cubic' });
    expect(t.done).to.equal(true);
    expect(sha(t.received)).to.equal(want);
    expect(t.link.client.stats.packetsLost).to.equal(0);
  });

  it('10 MB intact at 5% loss with reordering (NewReno)', () => {
    const t = transfer(MB10, { delay: 10, loss: 0.05, jitter: 4, seed: 11 }, { cc: 'newreno' });
    expect(t.done).to.equal(true);
    expect(sha(t.received)).to.equal(want);
    expect(t.link.client.stats.packetsLost).to.be.greaterThan(0);
  });

  it('10 MB intact at 5% loss with reordering (CUBIC)', () => {
    const t = transfer(MB10, { delay: 10, loss: 0.05, jitter: 4, seed: 12 }, { cc: 'cubic' });
    expect(t.done).to.equal(true);
    expect(sha(t.received)).to.equal(want);
  });

  it('10 MB intact with 1% corrupted datagrams (dropped by AEAD, recovered)', () => {
    const t = transfer(MB10, { delay: 10, corrupt: 0.01, seed: 5 });
    expect(t.done).to.equal(true);
    expect(sha(t.received)).to.equal(want);
    const dropped = t.link.server!.stats.packetsDropped + t.link.client.stats.packetsDropped;
    expect(dropped).to.be.greaterThan(0);
  });

  it('through a bottleneck with a drop-tail queue (congestion losses, pacing)', () => {
    const data = MB10.subarray(0, 3 * 1024 * 1024);
    const t = transfer(data, { delay: 10, rate: 2500, queue: 60_000, seed: 3 });
    expect(t.done).to.equal(true);
    expect(sha(t.received)).to.equal(sha(data));
  });

  it('small flow-control windows: MAX_DATA / MAX_STREAM_DATA updates keep data moving', () => {
    const data = MB10.subarray(0, 1024 * 1024);
    const small = {
      transport: {
        initialMaxData: 32 * 1024,
        initialMaxStreamDataBidiLocal: 8 * 1024,
        initialMaxStreamDataBidiRemote: 8 * 1024,
      },
    };
    const t = transfer(data, { delay: 5, duplicate: 0.02, jitter: 2 }, small);
    expect(t.done).to.equal(true);
    expect(sha(t.received)).to.equal(sha(data));
    // 1 MB through an 8 KB stream window: only window updates made it possible, and the
    // server (which closes on any flow-control violation, see the hostile tests) is still up.
    expect(t.link.server!.state).to.equal('established');
    expect(t.link.client.state).to.equal('established');
  });

  it('echoes on many bidirectional and unidirectional streams at once', () => {
    const l = new Link(clientConfig(), serverConfig(), {
      delay: 3,
      loss: 0.02,
      jitter: 2,
      seed: 9,
    });
    const N = 40;
    const sent = new Map<number, Buffer>();
    const echoed = new Map<number, Buffer[]>();
    const uniGot = new Map<number, Buffer[]>();
    const serverBufs = new Map<number, Buffer[]>();
    const answered = new Set<number>();
    const completed = new Set<number>();
    let finished = 0;
    let uniDone = 0;
    l.onEvent = (side, ev) => {
      const c = side === 'client' ? l.client : l.server!;
      if (side === 'client' && ev.type === 'handshake-complete') {
        for (let i = 0; i < N; i++) {
          const bidi = i % 4 !== 3;
          const id = l.client.openStream(bidi)!;
          const data = pattern(1000 + i * 997, i + 1);
          sent.set(id, data);
          expect(l.client.write(id, data, true)).to.equal(data.length);
        }
      }
      if (ev.type !== 'readable') return;
      const id = ev.streamId;
      if (side === 'server') {
        const bufs = serverBufs.get(id) ?? [];
        serverBufs.set(id, bufs);
        for (let d = c.read(id); d; d = c.read(id)) bufs.push(Buffer.from(d));
        // 'readable' may repeat after the FIN was read: answer each stream once.
        if (c.isFinished(id) && !answered.has(id)) {
          answered.add(id);
          if ((id & 2) === 0) l.server!.write(id, Buffer.concat(bufs), true);
          else {
            uniGot.set(id, bufs);
            uniDone++;
          }
        }
      } else {
        const bufs = echoed.get(id) ?? [];
        echoed.set(id, bufs);
        for (let d = c.read(id); d; d = c.read(id)) bufs.push(Buffer.from(d));
        if (c.isFinished(id) && !completed.has(id)) {
          completed.add(id);
          finished++;
        }
      }
    };
    expect(l.run(() => finished === 30 && uniDone === 10, 60_000)).to.equal(true);
    for (const [id, bufs] of echoed) expect(sha(bufs), `stream ${id}`).to.equal(sha(sent.get(id)!));
    for (const [id, bufs] of uniGot) expect(sha(bufs), `uni ${id}`).to.equal(sha(sent.get(id)!));
  });

  it('MAX_STREAMS: openStream returns null at the limit, then streams-available', () => {
    const s = serverConfig({ transport: { initialMaxStreamsBidi: 2 } });
    const l = new Link(clientConfig(), s);
    const opened: number[] = [];
    let available = false;
    l.onEvent = (side, ev) => {
      if (side === 'client' && ev.type === 'streams-available' && ev.bidirectional)
        available = true;
      if (side === 'server' && ev.type === 'readable') {
        while (l.server!.read(ev.streamId));
        if (l.server!.isFinished(ev.streamId)) l.server!.write(ev.streamId, Buffer.alloc(0), true);
      }
      if (side === 'client' && ev.type === 'readable') while (l.client.read(ev.streamId));
    };
    l.run(() => l.client.state === 'established', 5000);
    for (let i = 0; i < 3; i++) {
      const id = l.client.openStream(true);
      if (id !== null) {
        opened.push(id);
        l.client.write(id, Buffer.from('x'), true);
      }
    }
    expect(opened).to.deep.equal([0, 4]);
    expect(l.run(() => available, 5000)).to.equal(true);
    expect(l.client.openStream(true)).to.equal(8);
  });

  it('RESET_STREAM and STOP_SENDING reach the peer with their codes', () => {
    const l = new Link();
    const got: string[] = [];
    l.onEvent = (side, ev) => {
      if (ev.type === 'stream-reset' || ev.type === 'stop-sending')
        got.push(`${side}:${ev.type}:${ev.streamId}:${ev.code}`);
      if (side === 'server' && ev.type === 'readable') while (l.server!.read(ev.streamId));
    };
    l.run(() => l.client.state === 'established', 5000);
    const a = l.client.openStream(true)!;
    l.client.write(a, Buffer.alloc(5000, 1));
    l.run(() => false, 100);
    l.client.resetStream(a, 77);
    const b = l.client.openStream(true)!;
    l.client.write(b, Buffer.alloc(10, 1));
    l.run(() => false, 100);
    l.server!.stopSending(b, 99);
    l.run(() => got.length >= 3, 2000);
    expect(got).to.include(`server:stream-reset:${a}:77`);
    expect(got).to.include(`client:stop-sending:${b}:99`);
    // RFC 9000 §3.5: STOP_SENDING is answered with RESET_STREAM carrying the same code.
    expect(got).to.include(`server:stream-reset:${b}:99`);
  });

  it('stream state is freed when both halves end: 300 streams through a limit of 100', () => {
    const l = new Link(clientConfig(), serverConfig(), { delay: 2 });
    const size = (c: unknown): number => (c as { streams: StreamSet }).streams.size;
    let opened = 0;
    let echoed = 0;
    let stopped = 0;
    const openMore = (): void => {
      for (let id = l.client.openStream(true); id !== null; id = l.client.openStream(true)) {
        l.client.write(id, Buffer.from(`request ${opened}`), true);
        if (++opened === 300) return;
      }
    };
    l.onEvent = (side, ev) => {
      if (
        side === 'client' &&
        (ev.type === 'handshake-complete' || ev.type === 'streams-available')
      )
        if (opened < 300) openMore();
      if (ev.type !== 'readable') return;
      const c = side === 'client' ? l.client : l.server!;
      const chunks: Buffer[] = [];
      for (let d = c.read(ev.streamId); d; d = c.read(ev.streamId)) chunks.push(Buffer.from(d));
      if (!c.isFinished(ev.streamId)) return;
      if (side === 'server') l.server!.write(ev.streamId, Buffer.concat(chunks), true);
      else echoed++;
    };
    expect(l.run(() => echoed === 300, 30_000)).to.equal(true);
    // A peer-initiated unidirectional stream we stop reading: freed once STOP_SENDING is acked.
    const uni = l.server!.openStream(false)!;
    l.server!.write(uni, Buffer.alloc(100_000, 1));
    l.onEvent = (side, ev) => {
      if (side === 'client' && ev.type === 'stream-opened') l.client.stopSending(ev.streamId, 5);
      if (side === 'server' && ev.type === 'stop-sending') stopped++;
    };
    l.run(() => false, 1000);
    expect(stopped).to.equal(1);
    expect(size(l.client)).to.equal(0);
    expect(size(l.server)).to.equal(0);
  });

  it('readChunk reports the FIN with the last bytes; stream-closed once both halves are done', () => {
    const l = new Link();
    const reads: string[] = [];
    const closed: string[] = [];
    l.onEvent = (side, ev) => {
      if (ev.type === 'stream-closed') closed.push(`${side}:${ev.streamId}`);
      if (ev.type !== 'readable') return;
      const c = l.conn(side);
      for (;;) {
        const r = c.readChunk(ev.streamId);
        if (r.data || r.fin) reads.push(`${side}:${r.data ? Buffer.from(r.data) : '-'}:${r.fin}`);
        if (r.fin && side === 'server') c.write(ev.streamId, Buffer.from('pong'), true);
        if (!r.data) break;
      }
    };
    l.run(() => l.client.state === 'established' && l.server?.state === 'established', 5000);
    // Data and FIN in one frame: the FIN comes with the last bytes.
    const a = l.client.openStream(true)!;
    l.client.write(a, Buffer.from('ping'), true);
    l.run(() => closed.length === 2, 5000);
    expect(reads).to.deep.equal(['server:ping:true', 'client:pong:true']);
    // The server's send half ends when its FIN is acknowledged, the client's when it read 'pong'.
    expect(closed).to.have.members([`server:${a}`, `client:${a}`]);
    // The FIN alone after the data was read: reported once, with no data.
    reads.length = 0;
    const b = l.client.openStream(true)!;
    l.client.write(b, Buffer.from('xy'));
    l.run(() => reads.length === 1, 5000);
    l.client.write(b, new Uint8Array(0), true);
    l.run(() => reads.length === 3, 5000);
    expect(reads).to.deep.equal(['server:xy:false', 'server:-:true', 'client:pong:true']);
    expect(l.server!.readChunk(b)).to.deep.equal({ data: null, fin: false });
  });

  it('a receiver that does not read: the sender stops at the window and says STREAM_DATA_BLOCKED', () => {
    const sent: QlogEvent[] = [];
    const l = new Link(clientConfig({ qlog: (e) => sent.push(e) }), serverConfig());
    l.run(() => l.client.state === 'established', 5000);
    const id = l.client.openStream(true)!;
    const data = pattern(600_000, 3);
    // Buffered: the server's window and a head start; the rest is backpressure.
    let written = l.client.write(id, data, true);
    expect(written).to.equal(256 * 1024 + SEND_HEAD_START);
    l.run(() => false, 2000);
    // The window was sent and acknowledged: only the head start is still held.
    expect(l.client.stats.sendBufferedBytes).to.equal(SEND_HEAD_START);
    const frames = sent
      .filter((e) => e.name === 'transport:packet_sent')
      .flatMap((e) => e.data.frames as { frame_type: string; offset?: number; length?: number }[]);
    const blocked = frames.filter((f) => f.frame_type === 'stream_data_blocked');
    expect(blocked.length).to.equal(1);
    // Nothing beyond the server's initial stream window (256 KiB by default) was sent.
    const end = Math.max(
      ...frames.filter((f) => f.frame_type === 'stream').map((f) => f.offset! + f.length!),
    );
    expect(end).to.equal(256 * 1024);
    // Reading opens the window again; everything arrives.
    const got: Buffer[] = [];
    l.onEvent = (side, ev) => {
      if (side === 'server' && ev.type === 'readable')
        for (let d = l.server!.read(ev.streamId); d; d = l.server!.read(ev.streamId))
          got.push(Buffer.from(d));
      if (side === 'client' && ev.type === 'writable')
        written += l.client.write(id, data.subarray(written), true);
    };
    for (let d = l.server!.read(id); d; d = l.server!.read(id)) got.push(Buffer.from(d));
    l.run(() => l.server!.isFinished(id), 5000);
    expect(sha(got)).to.equal(sha(data));
  });
});
