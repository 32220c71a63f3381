// The public API over real UDP on loopback: echo on many streams, DATAGRAM, graceful close,
// Retry, garbage floods, Version Negotiation, stateless reset, handshake timeout, abort,
// qlog and keylog files.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  QuicEndpoint,
  connect,
  listen,
  selfSignedCertificate,
  type QuicSession,
  QuicSessionError,
  type QuicStream,
  type SessionTicket,
} from '../lib/index.js';
import { QUIC_V1, QUIC_V2, isStatelessReset, parseHeader } from '../lib/quic/header.js';
import { fakeInitial } from './support/forge.js';
import { fixture, serverCreds } from './support/tls-pair.js';

const creds = serverCreds();
const echoServerProcess = fileURLToPath(
  new URL('./support/echo-server-process.ts', import.meta.url),
);
const clientTls = { alpn: 'echo', ca: fixture('ca.pem'), servername: 'localhost' };

function echoServer(extra: Record<string, unknown> = {}): Promise<QuicEndpoint> {
  return listen(
    (session) => {
      session.onstream = (s) => s.pipe(s);
      session.ondatagram = (d) => session.sendDatagram(Buffer.concat([Buffer.from('echo:'), d]));
      session.closed.catch(() => {});
    },
    { ...creds, alpn: 'echo', host: '127.0.0.1', ...extra },
  );
}

/** Reads a stream to its end; its write side may still be sending (the connection buffers
 * only what the peer's credit allows, the rest waits in the stream), so ending the read
 * must not destroy it. */
async function collect(stream: QuicStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream.iterator({ destroyOnReturn: false })) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function echoOnce(session: QuicSession, data: Buffer): Promise<Buffer> {
  const s = await session.createBidirectionalStream();
  const back = collect(s);
  s.end(data);
  return back;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// Both UDP paths: the addon's batched socket and node:dgram (the fallback) pass the same tests.
for (const io of ['native', 'dgram'] as const)
  describe(`net: QUIC over loopback UDP (public API, io ${io})`, function () {
    this.timeout(30_000);
    let server: QuicEndpoint;
    let raw: Socket | undefined;
    const tls = { ...clientTls, io };

    beforeEach(async () => {
      server = await echoServer({ io });
    });

    it('uses the UDP path asked for', () => {
      expect(server.io).to.equal(io);
    });

    it('a closed port refuses the handshake at once with the ICMP error (native) or times out', async () => {
      raw = createSocket('udp4');
      await new Promise<void>((r) => raw!.bind(0, '127.0.0.1', r));
      const closed = `127.0.0.1:${raw.address().port}`;
      raw.close();
      raw = undefined;
      const s = await connect(closed, { ...tls, handshakeTimeout: io === 'native' ? 10_000 : 500 });
      const e = await s.opened.then(
        () => null,
        (err: QuicSessionError) => err,
      );
      expect(e).to.be.instanceOf(QuicSessionError);
      // node:dgram does not report ICMP errors on an unconnected socket: it can only time out.
      expect(e!.code).to.equal(
        io === 'native' ? 'ERR_QUIC_CONNECTION_REFUSED' : 'ERR_QUIC_HANDSHAKE_TIMEOUT',
      );
      expect(e!.message).to.include(closed);
    });
    afterEach(async () => {
      raw?.close();
      raw = undefined;
      server.destroy();
    });

    const addr = () => `127.0.0.1:${server.address.port}`;

    it('X25519MLKEM768 handshake, then echo on 24 concurrent streams intact (SHA-256)', async () => {
      const session = await connect(addr(), tls);
      const info = await session.opened;
      expect(info).to.include({
        group: 'X25519MLKEM768',
        alpn: 'echo',
        postQuantum: true,
        version: 1,
      });
      expect(session.handshake).to.deep.equal(info);
      const inputs = Array.from({ length: 24 }, (_, i) => randomBytes(1000 + i * 7919));
      const outputs = await Promise.all(inputs.map((d) => echoOnce(session, d)));
      outputs.forEach((o, i) => expect(sha(o)).to.equal(sha(inputs[i]!)));
      const st = session.stats;
      expect(st.bytesReceived).to.be.greaterThan(inputs.reduce((n, d) => n + d.length, 0));
      await session.close();
    });

    it('a 4 MB stream with backpressure (write() false, drain) arrives intact', async () => {
      const session = await connect(addr(), tls);
      await session.opened;
      const s = await session.createBidirectionalStream();
      const data = randomBytes(4 << 20);
      const back = collect(s);
      let sawBackpressure = false;
      for (let off = 0; off < data.length; off += 64 << 10) {
        if (!s.write(data.subarray(off, off + (64 << 10)))) {
          sawBackpressure = true;
          await once(s, 'drain');
        }
      }
      s.end();
      expect(sha(await back)).to.equal(sha(data));
      expect(sawBackpressure).to.equal(true);
      await session.close();
    });

    it('classical X25519 when asked, and unidirectional streams reach the peer', async () => {
      server.destroy();
      server = await listen(
        (session) => {
          session.onstream = (s) => {
            expect(s.bidirectional).to.equal(false);
            void collect(s).then((b) => session.sendDatagram(Buffer.from(sha(b))));
          };
        },
        { ...creds, alpn: 'echo', host: '127.0.0.1' },
      );
      const session = await connect(addr(), { ...tls, groups: ['X25519'] });
      expect((await session.opened).group).to.equal('X25519');
      expect(session.handshake!.postQuantum).to.equal(false);
      const data = randomBytes(100_000);
      const dgram = once(session, 'datagram');
      const s = await session.createUnidirectionalStream();
      s.end(data);
      const [digest] = (await dgram) as [Uint8Array];
      expect(Buffer.from(digest).toString()).to.equal(sha(data));
      await session.close();
    });

    it('a peer resetting streams cannot crash a server that pipes without error listeners', async () => {
      const session = await connect(addr(), tls);
      await session.opened;
      for (let i = 0; i < 5; i++) {
        const s = await session.createBidirectionalStream();
        s.write(randomBytes(5000));
        s.resetCode = 5;
        s.destroy(); // RESET_STREAM + STOP_SENDING to the echo server's s.pipe(s)
      }
      await new Promise((r) => setTimeout(r, 50));
      expect((await echoOnce(session, Buffer.from('still here'))).toString()).to.equal(
        'still here',
      );
      await session.close();
    });

    it('DATAGRAM frames both ways (RFC 9221)', async () => {
      const session = await connect(addr(), tls);
      await session.opened;
      const seen = new Set<string>();
      session.on('datagram', (d: Uint8Array) => seen.add(Buffer.from(d).toString()));
      for (let round = 0; round < 20 && seen.size < 5; round++) {
        for (let i = 0; i < 5; i++) expect(session.sendDatagram(`dg${i}`)).to.equal(true);
        await new Promise((r) => setTimeout(r, 20));
      }
      for (let i = 0; i < 5; i++) expect(seen.has(`echo:dg${i}`)).to.equal(true);
      expect(session.sendDatagram(Buffer.alloc(70_000))).to.equal(false); // too big
      await session.close();
    });

    it('graceful close delivers data written just before close()', async () => {
      let resolve!: (b: Buffer) => void;
      const received = new Promise<Buffer>((r) => (resolve = r));
      server.destroy();
      server = await listen(
        (session) => (session.onstream = (s) => void collect(s).then(resolve)),
        {
          ...creds,
          alpn: 'echo',
          host: '127.0.0.1',
        },
      );
      const session = await connect(addr(), tls);
      await session.opened;
      const s = await session.createUnidirectionalStream();
      const data = randomBytes(1 << 20);
      s.end(data);
      await session.close();
      expect(sha(await received)).to.equal(sha(data));
    });

    it('graceful close of a session whose stream never ends closes at its timeout', async function () {
      this.timeout(10_000);
      const session = await connect(addr(), tls);
      await session.opened;
      const s = await session.createBidirectionalStream();
      s.write('never ended'); // the echo server never ends its side either
      s.on('error', () => {});
      // Without a timer of its own, the wait ended only with the idle timeout (30 s): the test's
      // 10 s timeout fails it.
      await session.close({ timeout: 300 }); // resolves: a clean close (NO_ERROR)
      expect(s.destroyed).to.equal(true);
      expect(() => session.close({ timeout: -1 })).to.throw(RangeError);
    });

    it("closing the client's endpoint flushes what its streams wrote, both directions", async () => {
      let resolve!: (b: Buffer) => void;
      const received = new Promise<Buffer>((r) => (resolve = r));
      server.destroy();
      const reply = randomBytes(300_000);
      server = await listen(
        (session) =>
          (session.onstream = (s) => {
            if (s.bidirectional) s.end(reply);
            void collect(s).then(resolve);
          }),
        { ...creds, alpn: 'echo', host: '127.0.0.1' },
      );
      const endpoint = await QuicEndpoint.create({ host: '127.0.0.1' });
      const session = await connect(addr(), { ...tls, endpoint });
      await session.opened;
      const s = await session.createBidirectionalStream();
      const back = collect(s);
      const data = randomBytes(1 << 20);
      s.end(data);
      await endpoint.close();
      expect(sha(await received)).to.equal(sha(data));
      expect(sha(await back)).to.equal(sha(reply));
      await session.closed;
    });

    it('the peer sees an application close code', async () => {
      let resolve!: (e: unknown) => void;
      const closed = new Promise<unknown>((r) => (resolve = r));
      server.destroy();
      server = await listen(
        (session) => {
          session.onstream = (s) => s.pipe(s);
          void session.closed.then(() => resolve(null), resolve);
        },
        { ...creds, alpn: 'echo', host: '127.0.0.1' },
      );
      const session = await connect(addr(), tls);
      await session.opened;
      // One round trip first: before the handshake is confirmed the close would travel in a
      // Handshake packet as APPLICATION_ERROR (RFC 9000 §10.2.3).
      expect((await echoOnce(session, Buffer.from('x'))).toString()).to.equal('x');
      session.destroy(new Error('bye'), 42);
      const err = (await closed) as { code: number; application: boolean; remote: boolean };
      expect(err).to.include({ errorCode: 42, application: true, remote: true });
      await session.closed.then(
        () => expect.fail('closed must reject for destroy(error)'),
        (e: Error) => expect(e.message).to.equal('bye'),
      );
    });

    it('Retry (forced): the handshake completes after address validation', async () => {
      server.destroy();
      server = await echoServer({ retry: true });
      const session = await connect(addr(), tls);
      await session.opened;
      expect(server.stats.retry).to.be.at.least(1); // one per Initial datagram of the first flight
      const out = await echoOnce(session, Buffer.from('after retry'));
      expect(out.toString()).to.equal('after retry');
      await session.close();
    });

    it('a NEW_TOKEN token lets the next connection skip the forced Retry', async () => {
      server.destroy();
      server = await echoServer({ retry: true });
      const first = await connect(addr(), tls);
      const tokenEvent = once(first, 'token');
      await first.opened;
      const [token] = (await tokenEvent) as [Uint8Array];
      await first.close();
      const retries = server.stats.retry;
      expect(retries).to.be.at.least(1);
      const second = await connect(addr(), { ...tls, token });
      await second.opened;
      expect(server.stats.retry).to.equal(retries); // address validated by the token
      await second.close();
      // The token is single-use (RFC 9000 §8.1.4): a third connection gets a Retry again.
      const third = await connect(addr(), { ...tls, token });
      await third.opened;
      expect(server.stats.retry).to.be.greaterThan(retries);
      await third.close();
    });

    it('QUIC v2 (RFC 9369) end to end', async () => {
      const session = await connect(addr(), { ...tls, version: QUIC_V2 });
      expect((await session.opened).version).to.equal(QUIC_V2);
      expect((await echoOnce(session, Buffer.from('v2'))).toString()).to.equal('v2');
      await session.close();
    });

    it('a flood of garbage datagrams does not disturb a live session', async () => {
      const session = await connect(addr(), tls);
      await session.opened;
      raw = createSocket('udp4');
      await new Promise<void>((r) => raw!.bind(0, '127.0.0.1', r));
      const port = server.address.port;
      const before = server.stats.dropped;
      const data = randomBytes(300_000);
      const echoed = echoOnce(session, data);
      for (let i = 0; i < 2000; i++) {
        const junk = randomBytes(1 + (i % 1400));
        if (i % 3 === 0) junk[0] = 0xc0; // long header, mostly unknown versions
        raw.send(i % 5 === 0 ? fakeInitial() : junk, port, '127.0.0.1');
        if (i % 200 === 0) await new Promise((r) => setImmediate(r));
      }
      expect(sha(await echoed)).to.equal(sha(data));
      expect(server.stats.dropped - before).to.be.greaterThan(0);
      expect(server.sessionCount).to.equal(1); // 400 Initial-shaped fakes made no connection
      expect(server.stats.accepted).to.equal(1);
      await session.close();
    });

    it('Version Negotiation for an unknown version; stateless reset for an unknown CID', async () => {
      raw = createSocket('udp4');
      await new Promise<void>((r) => raw!.bind(0, '127.0.0.1', r));
      const port = server.address.port;
      const replies: Buffer[] = [];
      raw.on('message', (m) => replies.push(m));
      const vn = Buffer.alloc(1200);
      vn[0] = 0xc0;
      vn.writeUInt32BE(0x0a0a0a0a, 1);
      vn[5] = 8;
      vn[14] = 4;
      raw.send(vn, port, '127.0.0.1');
      const short = Buffer.concat([Buffer.from([0x40]), randomBytes(60)]);
      raw.send(short, port, '127.0.0.1');
      for (let i = 0; i < 100 && replies.length < 2; i++)
        await new Promise((r) => setTimeout(r, 10));
      const v = replies.find((m) => m.length > 4 && m.readUInt32BE(1) === 0)!;
      const h = parseHeader(v, 0, v.length, 8);
      expect(h.supportedVersions).to.include(QUIC_V1);
      const reset = replies.find((m) => (m[0]! & 0x80) === 0)!;
      expect(reset.length).to.be.lessThan(short.length).and.at.least(21);
      expect(isStatelessReset(reset, reset.subarray(reset.length - 16))).to.equal(true);
    });

    it('handshake timeout rejects opened and closed; AbortSignal destroys a session', async () => {
      raw = createSocket('udp4'); // a black hole
      await new Promise<void>((r) => raw!.bind(0, '127.0.0.1', r));
      const hole = `127.0.0.1:${raw.address().port}`;
      const s1 = await connect(hole, { ...tls, handshakeTimeout: 200 });
      const e1 = await s1.opened.then(
        () => null,
        (e: Error) => e,
      );
      expect(e1?.message).to.match(/handshake timeout/);
      const ac = new AbortController();
      const s2 = await connect(hole, { ...tls, signal: ac.signal });
      ac.abort();
      const e2 = await s2.closed.then(
        () => null,
        (e: Error) => e,
      );
      expect(e2?.name).to.equal('AbortError');
      const aborted = AbortSignal.abort();
      const e3 = await connect(hole, { ...tls, signal: aborted }).then(
        () => null,
        (e: Error) => e,
      );
      expect(e3?.name).to.equal('AbortError');
    });

    it('writes qlog (JSON-SEQ) and SSLKEYLOGFILE lines', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'zquic-qlog-'));
      try {
        const keylog = join(dir, 'keys.txt');
        const session = await connect(addr(), { ...tls, qlog: dir, keylog });
        await session.opened;
        await session.close();
        await new Promise((r) => setTimeout(r, 50));
        const files = readdirSync(dir).filter((f) => f.endsWith('_client.sqlog'));
        expect(files).to.have.length(1);
        const records = readFileSync(join(dir, files[0]!), 'utf8').split('\x1e').filter(Boolean);
        const header = JSON.parse(records[0]!) as { qlog_format: string };
        expect(header.qlog_format).to.equal('JSON-SEQ');
        const names = records.slice(1).map((r) => (JSON.parse(r) as { name: string }).name);
        expect(names).to.include('transport:connection_started');
        const keys = readFileSync(keylog, 'utf8');
        expect(keys).to.match(/^CLIENT_HANDSHAKE_TRAFFIC_SECRET [0-9a-f]{64} [0-9a-f]+$/m);
        expect(keys).to.match(/^SERVER_TRAFFIC_SECRET_0 /m);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a generated self-signed certificate, pinned as ca, verifies', async () => {
      server.destroy();
      const { cert, key } = selfSignedCertificate(['localhost', '127.0.0.1']);
      server = await listen((s) => (s.onstream = (st) => st.pipe(st)), {
        certs: cert,
        keys: key,
        alpn: 'echo',
        host: '127.0.0.1',
      });
      const session = await connect(addr(), { alpn: 'echo', ca: cert });
      await session.opened;
      expect((await echoOnce(session, Buffer.from('pinned'))).toString()).to.equal('pinned');
      await session.close();
    });

    it('API misuse gives TypeError/RangeError naming the argument', async () => {
      await connect('nonsense', tls).then(
        () => expect.fail(),
        (e: Error) =>
          expect(e)
            .to.be.instanceOf(TypeError)
            .with.property('message')
            .match(/address/),
      );
      await connect('127.0.0.1:0', tls).then(
        () => expect.fail(),
        (e: Error) => expect(e).to.be.instanceOf(RangeError),
      );
      await listen(() => {}, {} as never).then(
        () => expect.fail(),
        (e: Error) => expect(e.message).to.match(/certs/),
      );
      await listen(() => {}, { alpn: 'echo', certs: 'not a certificate', keys: creds.keys }).then(
        () => expect.fail('bad certs must fail at listen(), not silently per handshake'),
        (e: Error) => expect(e).to.be.instanceOf(TypeError).with.property('message').match(/certs/),
      );
      await listen(() => {}, { ...creds, alpn: 'echo', groups: ['X448' as never] }).then(
        () => expect.fail(),
        (e: Error) => expect(e.message).to.match(/groups/),
      );
      await listen(42 as never, { ...creds, alpn: 'echo' }).then(
        () => expect.fail(),
        (e: Error) => expect(e.message).to.match(/onsession/),
      );
      const session = await connect(addr(), tls);
      expect(() => session.sendDatagram(42 as never)).to.throw(TypeError, /data/);
      await session.opened;
      await session.close();
    });
  });

describe('net: selfSignedCertificate', () => {
  it('makes parseable certificates every time (serials in minimal DER)', () => {
    // A random serial starting with 0x00 was not minimal DER: about 1 in 128 failed to parse.
    for (let i = 0; i < 300; i++) {
      const { cert } = selfSignedCertificate(['localhost']);
      const x = new X509Certificate(cert);
      expect(x.subject).to.equal('CN=localhost');
      expect(x.serialNumber).to.match(/^[4-7]/);
    }
  });
});

describe('net: stateless reset after a server restart', function () {
  this.timeout(20_000);
  it('a server restarted with the same reset key resets the client (RFC 9000 §10.3)', async () => {
    const resetKey = randomBytes(32);
    const opts = { ...serverCreds(), alpn: 'echo', host: '127.0.0.1', statelessResetKey: resetKey };
    // The first server crashes: all state lost, no CONNECTION_CLOSE (destroy() would send one).
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', echoServerProcess, '0', resetKey.toString('hex')],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = once(child, 'exit');
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    let server: QuicEndpoint | undefined;
    try {
      const session = await connect(`127.0.0.1:${port}`, clientTls);
      await session.opened;
      expect((await echoOnce(session, Buffer.from('a'))).toString()).to.equal('a');
      child.kill('SIGKILL');
      await exited;
      server = await listen(() => {}, { ...opts, port });
      const closed = session.closed.then(
        () => null,
        (e: Error) => e,
      );
      session.sendDatagram('anyone there?');
      const err = await closed;
      expect(err?.message).to.match(/stateless reset/);
      expect(server.stats['stateless-reset']).to.be.at.least(1);
    } finally {
      child.kill('SIGKILL');
      server?.destroy();
    }
  });
});

describe('net: limits, key update, IPv6', function () {
  this.timeout(20_000);
  let server: QuicEndpoint | undefined;
  afterEach(() => server?.destroy());

  it('maxConnections: Initials beyond the limit are dropped (the client times out)', async () => {
    server = await listen((s) => void s.closed.catch(() => {}), {
      ...creds,
      alpn: 'echo',
      host: '127.0.0.1',
      maxConnections: 1,
    });
    const target = `127.0.0.1:${server.address.port}`;
    const first = await connect(target, clientTls);
    await first.opened;
    const second = await connect(target, { ...clientTls, handshakeTimeout: 300 });
    const err = await second.opened.then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/handshake timeout/);
    expect(server.stats.dropped).to.be.greaterThan(0);
    expect(server.sessionCount).to.equal(1);
    await first.close();
  });

  it('updateKey() mid-transfer: the echo stays intact and the update is counted', async () => {
    server = await echoServer();
    const session = await connect(`127.0.0.1:${server.address.port}`, clientTls);
    await session.opened;
    expect((await echoOnce(session, Buffer.from('warm'))).toString()).to.equal('warm');
    const data = randomBytes(1 << 20);
    const s = await session.createBidirectionalStream();
    const back = collect(s);
    s.write(data.subarray(0, 1 << 19));
    session.updateKey();
    s.end(data.subarray(1 << 19));
    expect(sha(await back)).to.equal(sha(data));
    expect(session.stats.keyUpdates).to.be.at.least(1);
    await session.close();
  });

  it('IPv6 loopback', async function () {
    try {
      server = await echoServer({ host: '::1' });
    } catch {
      this.skip(); // no IPv6 on this machine: nothing to test
    }
    const session = await connect(`[::1]:${server!.address.port}`, clientTls);
    await session.opened;
    expect(session.remoteAddress.family).to.equal('IPv6');
    expect((await echoOnce(session, Buffer.from('v6'))).toString()).to.equal('v6');
    await session.close();
  });
});

describe('net: resumption and 0-RTT', function () {
  this.timeout(20_000);
  it('a ticket resumes the session; with earlyData a stream is sent before opened', async () => {
    const server = await echoServer({ earlyData: true });
    try {
      const target = `127.0.0.1:${server.address.port}`;
      const first = await connect(target, clientTls);
      const ticketEvent = once(first, 'ticket');
      await first.opened;
      const [ticket] = (await ticketEvent) as [SessionTicket];
      await first.close();

      const second = await connect(target, { ...clientTls, session: ticket, earlyData: true });
      const s = await second.createBidirectionalStream(); // before the handshake completes
      expect(second.handshake).to.equal(undefined);
      const back = collect(s);
      s.end('early');
      expect((await back).toString()).to.equal('early');
      const info = await second.opened;
      expect(info).to.include({ resumed: true, earlyDataAccepted: true, postQuantum: true });
      await second.close();
    } finally {
      server.destroy();
    }
  });
});

describe('net: endpoint policies', function () {
  this.timeout(20_000);
  it('Retry switches on by itself under handshake load (retryThreshold)', async () => {
    const ep = await QuicEndpoint.create({
      host: '127.0.0.1',
      retryThreshold: 0, // every handshake counts as load
      server: {
        config: () => ({ tls: { ...creds, alpn: 'echo' } }),
        onsession: (s) => (s.onstream = (st) => st.pipe(st)),
      },
    });
    try {
      const session = await connect(`127.0.0.1:${ep.address.port}`, clientTls);
      await session.opened;
      expect(ep.stats.retry).to.be.at.least(1);
      expect((await echoOnce(session, Buffer.from('load'))).toString()).to.equal('load');
      await session.close();
    } finally {
      ep.destroy();
    }
  });

  it('an AbortSignal closes a listening endpoint', async () => {
    const ac = new AbortController();
    const ep = await listen(() => {}, {
      ...creds,
      alpn: 'echo',
      host: '127.0.0.1',
      signal: ac.signal,
    });
    ac.abort();
    await ep.closed;
    expect(() => ep.address).to.throw(); // the socket is closed
  });
});
