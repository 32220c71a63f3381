// Lifecycle over loopback UDP: what a peer sees when a session or an endpoint is destroyed
// mid-transfer, the bound of an endpoint's graceful close, option checks before any socket is
// bound, and `zquic client` failing loudly when its connection dies.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  QuicEndpoint,
  QuicSessionError,
  connect,
  listen,
  serveHttp3,
  connectHttp3,
  type QuicSession,
  type QuicStream,
} from '../lib/index.js';
import { NativeUdpSocket } from '../lib/net/udp-socket.js';
import { fixture, serverCreds } from './support/tls-pair.js';

const creds = serverCreds();
const clientTls = { alpn: 'echo', ca: fixture('ca.pem'), servername: 'localhost' };
const main = fileURLToPath(new URL('../lib/cli/main.ts', import.meta.url));

/** A server that hands each session to `onsession` and reads (never answers) its streams. */
function server(onsession: (s: QuicSession) => void = () => {}): Promise<QuicEndpoint> {
  return listen(
    (session) => {
      session.onstream = (s) => s.resume();
      session.closed.catch(() => {});
      onsession(session);
    },
    { ...creds, alpn: 'echo', host: '127.0.0.1' },
  );
}

/** A client stream that keeps writing until it fails; resolves with its 'error'. */
function writeUntilError(s: QuicStream): Promise<Error> {
  const chunk = Buffer.alloc(16 * 1024);
  return new Promise<Error>((resolve) => {
    s.on('error', resolve);
    const pump = () => {
      while (!s.destroyed && s.write(chunk));
    };
    s.on('drain', pump);
    pump();
  });
}

/** UDP sockets open: node:dgram's and the addon's. */
const udpHandles = () =>
  process.getActiveResourcesInfo().filter((r) => r === 'UDPWRAP').length +
  NativeUdpSocket.openCount;

describe('net: lifecycle over loopback', function () {
  this.timeout(20_000);
  let srv: QuicEndpoint | undefined;
  afterEach(() => {
    srv?.destroy();
    srv = undefined;
  });

  it('session.destroy(err, code) mid-transfer: the peer sees that code at once, its streams fail with it', async () => {
    let serverSession!: QuicSession;
    let gotStream!: () => void;
    const got = new Promise<void>((r) => (gotStream = r));
    srv = await server((s) => {
      serverSession = s;
      s.once('stream', () => gotStream());
    });
    const session = await connect(`127.0.0.1:${srv.address.port}`, clientTls);
    await session.opened;
    const s = await session.createBidirectionalStream();
    const streamError = writeUntilError(s);
    await got;
    serverSession.destroy(new Error('application gave up'), 0x42);
    const err = await session.closed.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(QuicSessionError);
    expect(err).to.include({
      code: 'ERR_QUIC_APPLICATION_ERROR',
      errorCode: 0x42,
      application: true,
      remote: true,
      kind: 'peer',
    });
    expect(await streamError).to.equal(err);
    expect(s.destroyed).to.equal(true);
  });

  it('endpoint.destroy() mid-transfer sends CONNECTION_CLOSE: the client learns the code, not at its idle timeout', async () => {
    srv = await server();
    const session = await connect(`127.0.0.1:${srv.address.port}`, clientTls);
    await session.opened;
    const s = await session.createBidirectionalStream();
    const streamError = writeUntilError(s);
    while (srv.sessionCount === 0 || session.stats.bytesSent < 100_000)
      await new Promise((r) => setTimeout(r, 5));
    expect(() => srv!.destroy(new Error('x'), -1)).to.throw(RangeError, /code/);
    expect(() => srv!.destroy('x' as unknown as Error)).to.throw(TypeError, /error/);
    expect(() => session.destroy(undefined, 2 ** 60)).to.throw(RangeError, /code/);
    srv.destroy(new Error('shutting down'), 0x7);
    const err = await session.closed.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(QuicSessionError);
    expect(err).to.include({ errorCode: 0x7, application: true, remote: true, kind: 'peer' });
    expect(await streamError).to.equal(err);
    await srv.closed;
  });

  it('endpoint.destroy() without an error closes cleanly; an unfinished peer stream is cut short', async () => {
    srv = await server();
    const session = await connect(`127.0.0.1:${srv.address.port}`, clientTls);
    await session.opened;
    const s = await session.createBidirectionalStream();
    const streamError = writeUntilError(s);
    while (srv.sessionCount === 0) await new Promise((r) => setTimeout(r, 5));
    srv.destroy();
    await session.closed; // NO_ERROR: resolves
    const e = await streamError;
    expect(e.name).to.equal('QuicStreamError');
    expect(e.message).to.match(/cut short/);
  });

  it('endpoint close({ timeout }) ends a request that never completes and leaves no session', async () => {
    srv = await server();
    const session = await connect(`127.0.0.1:${srv.address.port}`, clientTls);
    await session.opened;
    const s = await session.createBidirectionalStream();
    s.on('error', () => {});
    s.write('a request the server never answers');
    while (srv.sessionCount === 0) await new Promise((r) => setTimeout(r, 5));
    expect(() => srv!.close({ timeout: -1 })).to.throw(RangeError, /timeout/);
    await srv.close({ timeout: 200 });
    expect(srv.sessionCount).to.equal(0);
    await session.closed; // the server said NO_ERROR: a clean close
    expect(s.destroyed).to.equal(true);
  });

  it('a refused handshake: neither endpoint waits out its closing period to close', async () => {
    let serverSide: QuicSession | undefined;
    srv = await server((s) => (serverSide = s));
    const sockets = udpHandles();
    const client = await connect(`127.0.0.1:${srv.address.port}`, { ...clientTls, alpn: 'nope' });
    const err = await client.opened.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(QuicSessionError);
    expect((err as QuicSessionError).code).to.equal('ERR_QUIC_TLS_NO_APPLICATION_PROTOCOL');
    // The client's own endpoint closed with the session, still draining (RFC 9000 §10.2.2).
    expect(
      await client.closed.then(
        () => undefined,
        (e: unknown) => e,
      ),
    ).to.equal(err);
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(client.conn.state).to.equal('draining');
    expect(udpHandles()).to.equal(sockets);
    // The server's session (the refusal came from its TLS handshake) is cut short of its
    // closing period too.
    await srv.close();
    expect(serverSide?.conn.state).to.be.oneOf(['closing', 'draining']);
    expect(srv.sessionCount).to.equal(0);
  });

  it('an HTTP/3 server close({ timeout }) bounds GOAWAY and the drain of an unanswered request', async function () {
    // Unbounded, HTTP/3's own drain took 20 s (two 10 s waits in a row): far past this limit.
    this.timeout(5_000);
    let requested: () => void;
    const arrived = new Promise<void>((r) => (requested = r));
    srv = await serveHttp3(() => requested(), { ...creds, host: '127.0.0.1' }); // never answers
    const client = await connectHttp3(`127.0.0.1:${srv.address.port}`, {
      ca: fixture('ca.pem'),
      servername: 'localhost',
    });
    const pending = client.request('/').then(
      () => 'answered',
      () => 'failed',
    );
    await arrived;
    await srv.close({ timeout: 200 });
    expect(srv.sessionCount).to.equal(0);
    expect(await pending).to.equal('failed');
    await client.close();
  });

  it('an invalid handshakeTimeout rejects connect() and listen() before a socket is bound', async () => {
    const before = udpHandles();
    for (const handshakeTimeout of [-5, 1e12, 1.5, Number.NaN]) {
      await connect('127.0.0.1:4433', { ...clientTls, handshakeTimeout }).then(
        () => expect.fail('connect() accepted handshakeTimeout ' + handshakeTimeout),
        (e: unknown) =>
          expect(e)
            .to.be.instanceOf(RangeError)
            .with.property('message')
            .match(/handshakeTimeout/),
      );
      await listen(() => {}, { ...creds, alpn: 'echo', handshakeTimeout }).then(
        () => expect.fail('listen() accepted handshakeTimeout ' + handshakeTimeout),
        (e: unknown) =>
          expect(e)
            .to.be.instanceOf(RangeError)
            .with.property('message')
            .match(/handshakeTimeout/),
      );
    }
    for (const bad of [
      { maxConnections: -1 },
      { halfOpenTimeout: 0.5 },
      { handshakeTimeout: -5 },
      { recvBufferSize: 5 },
      { sendBufferSize: 2 ** 31 },
    ])
      await QuicEndpoint.create({ host: '127.0.0.1', ...bad }).then(
        () => expect.fail(`QuicEndpoint.create accepted ${JSON.stringify(bad)}`),
        (e: unknown) => expect(e).to.be.instanceOf(RangeError),
      );
    expect(udpHandles()).to.equal(before);
  });

  it('listen() without a host on a port whose IPv6 is taken fails, rather than serving IPv4 alone', async function () {
    const v6 = createSocket({ type: 'udp6', ipv6Only: true });
    const bound = await new Promise<boolean>((resolve) => {
      v6.once('error', () => resolve(false));
      v6.bind(0, '::', () => resolve(true));
    });
    if (!bound) {
      v6.close();
      this.skip(); // no IPv6 on this host: the IPv4 fallback is the right answer there
    }
    try {
      const { port } = v6.address();
      for (const io of ['native', 'dgram'] as const) {
        if (io === 'native' && !NativeUdpSocket.supported) continue;
        await listen(() => {}, { ...creds, alpn: 'echo', port, io }).then(
          (e) => {
            e.destroy();
            expect.fail(`listen({ io: '${io}' }) bound ${JSON.stringify(e.address)}`);
          },
          (e: unknown) => expect(e, io).to.have.property('code', 'EADDRINUSE'),
        );
      }
    } finally {
      v6.close();
    }
  });
});

describe('cli: zquic client when its connection dies', function () {
  this.timeout(30_000);
  let srv: QuicEndpoint | undefined;
  afterEach(() => {
    srv?.destroy();
    srv = undefined;
  });

  /** Runs `zquic client ...args --insecure`: by default in echo mode against `port`, with a
   * transfer far larger than the point at which the server gives up. */
  function client(port: number, ...args: string[]): Promise<{ code: number; stderr: string }> {
    if (args.length === 0) args = [`127.0.0.1:${port}`, '--bytes', '200M'];
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', main, 'client', ...args, '--insecure'],
        { timeout: 25_000 },
        (err, _stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
  }

  /** An echo server that calls `die` once it echoed about 1 MB. */
  function dyingServer(die: (session: QuicSession) => void): Promise<QuicEndpoint> {
    return listen(
      (session) => {
        session.closed.catch(() => {});
        session.onstream = (s) => {
          let n = 0;
          s.on('error', () => {});
          s.on('data', (c: Buffer) => {
            s.write(c);
            if ((n += c.length) >= 1 << 20 && n - c.length < 1 << 20) die(session);
          });
        };
      },
      { ...creds, alpn: 'echo', host: '127.0.0.1' },
    );
  }

  it('the server destroys the session with an error code: exit code 1, one line naming it', async () => {
    srv = await dyingServer((s) => s.destroy(new Error('protocol violation'), 0x99));
    const r = await client(srv.address.port);
    expect(r.code, r.stderr).to.equal(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).to.have.length(1);
    expect(lines[0]).to.match(/^zquic client: .*0x99/);
  });

  it('the server endpoint is destroyed mid-transfer: exit code 1, one line', async () => {
    srv = await dyingServer(() => srv!.destroy());
    const r = await client(srv.address.port);
    expect(r.code, r.stderr).to.equal(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).to.have.length(1);
    expect(lines[0]).to.match(/^zquic client: .*session closed/);
  });

  it('zquic server on a port in use: exit code 1 (a run-time failure, not a usage error), one line', async () => {
    srv = await listen(() => {}, { ...creds, alpn: 'echo', host: '127.0.0.1' });
    const port = String(srv.address.port);
    const r = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', main, 'server', '--host', '127.0.0.1', '--port', port],
        { timeout: 25_000 },
        (err, _stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      ),
    );
    expect(r.code, r.stderr).to.equal(1);
    expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1);
    expect(r.stderr).to.match(/^zquic server: .*EADDRINUSE/);
  });

  describe('downloads', () => {
    let out: string;
    beforeEach(() => (out = mkdtempSync(join(tmpdir(), 'zquic-lifecycle-'))));
    afterEach(() => rmSync(out, { recursive: true, force: true }));

    it('hq-interop: the server destroys the session mid-response: exit code 1, one line', async () => {
      srv = await listen(
        (session) => {
          session.closed.catch(() => {});
          session.onstream = (s) => {
            s.on('error', () => {});
            s.once('data', () => {
              s.write(Buffer.alloc(100_000));
              setTimeout(() => session.destroy(new Error('gave up'), 0x55), 20);
            });
          };
        },
        { ...creds, alpn: 'hq-interop', host: '127.0.0.1' },
      );
      const port = srv.address.port;
      const r = await client(
        port,
        `https://127.0.0.1:${port}/big`,
        '--alpn',
        'hq-interop',
        '--out',
        out,
      );
      expect(r.code, r.stderr).to.equal(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).to.have.length(1);
      expect(lines[0]).to.match(/^zquic client: .*0x55/);
    });

    it('HTTP/3: the server destroys the session mid-response: exit code 1, one line', async () => {
      srv = await serveHttp3(
        (req, res) => {
          res.writeHead(200);
          res.write(Buffer.alloc(100_000));
          setTimeout(() => req.session.destroy(new Error('gave up'), 0x56), 20);
        },
        { ...creds, host: '127.0.0.1' },
      );
      const port = srv.address.port;
      const r = await client(port, `https://127.0.0.1:${port}/big`, '--out', out);
      expect(r.code, r.stderr).to.equal(1);
      const lines = r.stderr.trim().split('\n');
      expect(lines, r.stderr).to.have.length(1);
      expect(lines[0]).to.match(/^zquic client: .*0x56/);
    });
  });
});
