/**
 * listen() / serveHttp3() in worker threads (lib/net/workers.ts): the compiled package, as users
 * run it (worker threads load JavaScript), on loopback. Packets reach the worker that owns their
 * connection through NAT rebinding; workers share tickets and the 0-RTT replay memory; a worker
 * that dies is reported and replaced; close() drains them all.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import type * as Zquic from '../lib/index.js';
import { NativeUdpSocket } from '../lib/net/udp-socket.js';
import { buildDist, root } from './support/dist.js';
import { freePort } from './support/free-port.js';
import { RebindingRelay } from './support/rebinding-relay.js';
import { fixture, serverCreds } from './support/tls-pair.js';

const handler = pathToFileURL(join(root, 'test', 'fixtures', 'workers', 'echo.mjs'));
const serverTls = { ...serverCreds(), alpn: 'echo' };
const clientTls = { alpn: 'echo', ca: fixture('ca.pem'), servername: 'localhost' };

type Session = Zquic.QuicSession;
type Pool = Zquic.QuicWorkerPool;

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('net: worker threads', function () {
  this.timeout(60_000);
  let zq: typeof Zquic;
  before(async function () {
    if (!NativeUdpSocket.supported) this.skip(); // workers need the native socket (Linux)
    this.timeout(120_000);
    zq = (await import(pathToFileURL(buildDist()).href)) as typeof Zquic;
  });

  const start = (extra: Partial<Zquic.ListenOptions> = {}): Promise<Pool> =>
    zq.listen(handler, {
      ...serverTls,
      host: '127.0.0.1',
      workers: 2,
      workerData: { tag: 'w' },
      ...extra,
    });

  /** Which worker thread serves `session` (the echo fixture answers "thread" with its id),
   * echoing `payload` after it. */
  async function threadOf(session: Session, payload = Buffer.alloc(0)): Promise<string> {
    const s = await session.createBidirectionalStream();
    s.end(Buffer.concat([Buffer.from('thread'), payload]));
    const back = await readAll(s);
    const nl = back.indexOf(10);
    expect(back.subarray(nl + 1 + 6).equals(payload)).to.equal(true);
    return back.subarray(0, nl).toString();
  }

  it('serves from every worker, sums their stats, and close() drains them all', async () => {
    const pool = await start();
    const target = `127.0.0.1:${pool.address.port}`;
    const sessions = await Promise.all(
      Array.from({ length: 16 }, async () => {
        const s = await zq.connect(target, clientTls);
        await s.opened;
        return s;
      }),
    );
    const threads = await Promise.all(sessions.map((s) => threadOf(s, randomBytes(40_000))));
    expect(new Set(threads).size).to.equal(2);
    // Workers publish their stats every STAT_INTERVAL ms.
    for (let i = 0; i < 100 && pool.sessionCount < 16; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(pool.stats['accepted']).to.equal(16);
    expect(pool.workerStats(0)['accepted']! + pool.workerStats(1)['accepted']!).to.equal(16);
    expect(pool.workerStats(0)['accepted']).to.be.greaterThan(0);
    expect(pool.stats['misrouted']).to.equal(0);
    expect(pool.sessionCount).to.equal(16);
    // Sessions still open: the workers close them gracefully, then their sockets.
    const closed = sessions.map((s) =>
      s.closed.then(
        () => 'closed',
        () => 'closed',
      ),
    );
    await pool.close({ timeout: 5000 });
    expect(await Promise.all(closed)).to.deep.equal(sessions.map(() => 'closed'));
    expect(pool.sessionCount).to.equal(0);
    // The port is free again: every socket of the group is closed.
    const probe = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(pool.address.port, '127.0.0.1', resolve);
    });
    probe.close();
  });

  it('NAT rebinding mid-transfer: every packet still reaches its worker (misrouted 0)', async () => {
    const pool = await start();
    const relay = await RebindingRelay.start({ address: '127.0.0.1', port: pool.address.port });
    try {
      const n = 40;
      const results = await Promise.all(
        Array.from({ length: n }, () => relay.echoAcrossRebind(zq, clientTls, 200_000)),
      );
      expect(results.every(Boolean)).to.equal(true);
      expect(relay.rebinds).to.equal(n);
      await pool.close({ timeout: 5000 });
      expect(pool.stats['misrouted']).to.equal(0);
      expect(pool.stats['accepted']).to.equal(n);
    } finally {
      relay.close();
      pool.destroy();
    }
  });

  it('a worker that throws is reported and replaced; its peers get a Stateless Reset, the others go on', async () => {
    const pool = await start();
    try {
      const target = `127.0.0.1:${pool.address.port}`;
      // One session on each worker.
      const byThread = new Map<string, Session>();
      for (let i = 0; i < 40 && byThread.size < 2; i++) {
        const s = await zq.connect(target, clientTls);
        await s.opened;
        const t = await threadOf(s);
        if (byThread.has(t)) await s.close();
        else byThread.set(t, s);
      }
      expect(byThread.size).to.equal(2);
      const [victim, other] = [...byThread.values()] as [Session, Session];
      const exit = once(pool, 'workerExit');
      const crash = await victim.createBidirectionalStream();
      crash.end('crash');
      crash.on('error', () => {}); // its worker dies under it: the stream fails, as expected
      const [info] = (await exit) as [{ index: number; code: number; error?: Error }];
      expect(info.error?.message).to.equal('handler crashed');
      expect(pool.restarts).to.equal(1);
      // The victim's next packets reach the new worker, which knows no such connection.
      const err = await victim.closed.then(
        () => undefined,
        (e: Zquic.QuicSessionError) => e,
      );
      expect(err?.kind).to.equal('stateless-reset');
      // The other worker never stopped; the replacement (a new thread) serves new connections.
      expect(byThread.has(await threadOf(other, Buffer.from('still here')))).to.equal(true);
      let replacement: string | undefined;
      for (let i = 0; i < 40 && replacement === undefined; i++) {
        const s = await zq.connect(target, clientTls);
        await s.opened;
        const t = await threadOf(s, Buffer.from('new'));
        if (!byThread.has(t)) replacement = t;
        await s.close();
      }
      expect(replacement).to.be.a('string');
      await other.close();
    } finally {
      await pool.close({ timeout: 2000 });
    }
  });

  it('tickets resume with 0-RTT on any worker, and each ticket gives early data once', async () => {
    const pool = await start({ earlyData: true });
    try {
      const target = `127.0.0.1:${pool.address.port}`;
      const ticketOf = async (s: Session): Promise<Zquic.SessionTicket> => {
        const [t] = (await once(s, 'ticket')) as [Zquic.SessionTicket];
        return t;
      };
      const first = await zq.connect(target, clientTls);
      let ticket = await ticketOf(first);
      await first.close();
      const used: { ticket: Zquic.SessionTicket; thread: string }[] = [];
      const accepted = new Set<string>();
      // A chain of resumptions, each with a fresh ticket, until both workers took early data:
      // all of it is accepted.
      for (let i = 0; i < 40 && (i < 8 || accepted.size < 2); i++) {
        const s = await zq.connect(target, { ...clientTls, session: ticket, earlyData: true });
        const next = ticketOf(s);
        const thread = await threadOf(s, Buffer.from(`early ${i}`));
        expect((await s.opened).earlyDataAccepted).to.equal(true);
        accepted.add(thread);
        used.push({ ticket, thread });
        ticket = await next;
        await s.close();
      }
      expect(accepted.size).to.equal(2);
      // A used ticket again: it resumes without early data, also on the worker that did not
      // see it used (their replay memory is shared).
      let elsewhere = 0;
      for (let i = 0; i < 40 && (i < 4 || elsewhere === 0); i++) {
        const { ticket: t, thread } = used[i % used.length]!;
        const s = await zq.connect(target, { ...clientTls, session: t, earlyData: true });
        if ((await threadOf(s, Buffer.from('replayed'))) !== thread) elsewhere++;
        const info = await s.opened;
        expect(info.resumed).to.equal(true);
        expect(info.earlyDataAccepted).to.equal(false);
        await s.close();
      }
      expect(elsewhere).to.be.greaterThan(0);
    } finally {
      await pool.close({ timeout: 2000 });
    }
  });

  it('zquic server --workers 2 --www: files over h3 and hq-interop; SIGTERM drains the workers', async () => {
    const cli = join(root, 'dist', 'lib', 'cli', 'main.js');
    const www = mkdtempSync(join(tmpdir(), 'zquic-workers-www-'));
    const out = mkdtempSync(join(tmpdir(), 'zquic-workers-out-'));
    const file = randomBytes(300_000);
    writeFileSync(join(www, 'f.bin'), file);
    const server = spawn(process.execPath, [
      cli,
      'server',
      '--workers',
      '2',
      '--www',
      www,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--json',
    ]);
    try {
      const lines = createInterface({ input: server.stdout });
      const [first] = (await once(lines, 'line')) as [string];
      const { port } = JSON.parse(first) as { port: number };
      const ca = join(tmpdir(), `zquic-self-signed-${port}.pem`);
      const run = (args: string[]) =>
        new Promise<number>((resolve) =>
          spawn(process.execPath, [cli, 'client', ...args, '--ca', ca]).on('exit', resolve),
        );
      const sessions: Record<string, unknown>[] = [];
      lines.on('line', (l: string) => sessions.push(JSON.parse(l) as Record<string, unknown>));
      for (let i = 0; i < 6; i++) {
        const alpn = i % 2 ? 'hq-interop' : 'h3';
        const dir = join(out, String(i));
        const url = `https://127.0.0.1:${port}/f.bin`;
        expect(await run([url, '--out', dir, '--alpn', alpn])).to.equal(0);
        expect(readFileSync(join(dir, 'f.bin')).equals(file)).to.equal(true);
      }
      server.kill('SIGTERM');
      const [code] = (await once(server, 'exit')) as [number];
      expect(code).to.equal(0);
      const opened = sessions.filter((e) => e['event'] === 'session');
      expect(opened.map((e) => e['alpn'])).to.have.members([
        'h3',
        'hq-interop',
        'h3',
        'hq-interop',
        'h3',
        'hq-interop',
      ]);
      const end = sessions.find((e) => e['event'] === 'endpoint');
      expect(end).to.include({ accepted: 6, misrouted: 0 });
    } finally {
      server.kill('SIGKILL');
      rmSync(www, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('serveHttp3 with a handler module: requests answered by the workers; close() drains them', async () => {
    const module = pathToFileURL(join(root, 'test', 'fixtures', 'workers', 'http3.mjs'));
    const pool = await zq.serveHttp3(module, { ...serverCreds(), host: '127.0.0.1', workers: 2 });
    const agent = new zq.Http3Agent({
      connect: { ca: fixture('ca.pem'), servername: 'localhost' },
    });
    try {
      const base = `https://localhost:${pool.address.port}`;
      for (let i = 0; i < 4; i++) {
        const res = await zq.fetchHttp3(`${base}/p${i}`, { agent, method: 'POST', body: `b${i}` });
        expect(res.status).to.equal(200);
        expect(res.headers.get('x-thread')).to.match(/^\d+$/);
        expect(await res.text()).to.equal(`POST /p${i} b${i}`);
      }
      // The agent's connection is still open: close() ends it (HTTP/3: GOAWAY first).
      await pool.close({ timeout: 5000 });
      expect(pool.sessionCount).to.equal(0);
      expect(pool.stats['misrouted']).to.equal(0);
    } finally {
      await agent.close();
      pool.destroy();
    }
  });

  it('checks its options before any thread starts', async () => {
    const cases: [Partial<Zquic.ListenOptions>, RegExp][] = [
      [{ workers: 0 }, /workers/],
      [{ workers: 1.5 }, /workers/],
      [{ workers: 'all' as never }, /workers/],
      [{ io: 'dgram' }, /io/],
      [{ ticketKeys: new zq.TicketKeys() }, /fromSecrets/],
      [{ workerData: { f: () => 1 } }, /cloneable/],
      [{ certs: 'not a pem' }, /certs/],
    ];
    for (const [extra, re] of cases) {
      let err: Error | undefined;
      await start(extra).then(
        (p) => p.close(),
        (e: Error) => (err = e),
      );
      expect(err?.message, JSON.stringify(Object.keys(extra))).to.match(re);
    }
    // A function handler is not a module: threads cannot run it.
    const fn = (): void => {};
    await zq.listen(fn, { ...serverTls, workers: 2 }).then(
      () => expect.fail('listen() resolved'),
      (e: Error) => expect(e.message).to.match(/module/),
    );
    // A module without a handler: listen() rejects, and the port is free again.
    const bad = pathToFileURL(join(root, 'test', 'fixtures', 'workers', 'no-handler.mjs'));
    const port = await freePort();
    await zq.listen(bad, { ...serverTls, host: '127.0.0.1', port, workers: 2 }).then(
      () => expect.fail('listen() resolved'),
      (e: Error) => expect(e.message).to.match(/handler/),
    );
    const probe = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.bind(port, '127.0.0.1', resolve);
    });
    probe.close();
  });
});
