/**
 * A fleet of servers sharing keys. In memory (two sans-IO endpoints, the "load balancer" being
 * which endpoint takes the server's address): a ticket from A resumes on B (0-RTT stays with A),
 * a Retry token from A is accepted by B, a Stateless Reset from B ends a connection of A.
 * Then for real: nginx's UDP proxy in front of two `zquic server` processes.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseFleetKeys, parseServerId } from '../lib/cli/fleet-keys.js';
import {
  QuicEndpoint,
  connectHttp3,
  listen,
  selfSignedCertificate,
  type ConnectOptions,
  type Http3Client,
  type ListenOptions,
} from '../lib/index.js';
import type { Address, Connection, ConnectionConfig } from '../lib/quic/connection.js';
import { Endpoint, type EndpointConfig } from '../lib/quic/endpoint.js';
import { decodeQuicLbCid, quicLbGenerator } from '../lib/quic/quic-lb.js';
import { StatelessServer, type StatelessOptions } from '../lib/quic/stateless.js';
import { AntiReplay } from '../lib/tls/anti-replay.js';
import type { HandshakeInfo } from '../lib/tls/engine.js';
import { TicketKeys, type SessionTicket } from '../lib/tls/session-ticket.js';
import { EndpointNet, echo, readEcho } from './support/endpoint-net.js';
import { SERVER_ADDR, clientConfig, serverConfig, withoutRole } from './support/link.js';
import { freePort } from './support/free-port.js';

const clientAddr = (i: number): Address => ({
  address: `10.0.2.${1 + i}`,
  port: 51_000 + i,
  family: 'IPv4',
});

/** What the fleet shares: ticket, token and reset keys. */
interface FleetKeys {
  ticket: Uint8Array[];
  token: Uint8Array[];
  reset: Uint8Array;
}

const newKeys = (): FleetKeys => ({
  ticket: [randomBytes(32)],
  token: [randomBytes(32)],
  reset: randomBytes(32),
});

/** One server of the fleet (its own TicketKeys and AntiReplay, as a process has). */
function fleetServer(
  keys: FleetKeys,
  serverId: number,
  extra: Partial<EndpointConfig> = {},
): Endpoint {
  const ticketKeys = TicketKeys.fromSecrets(keys.ticket);
  const antiReplay = new AntiReplay();
  const stateless: StatelessOptions = {
    resetKey: keys.reset,
    tokenKeys: keys.token,
    cidGenerator: quicLbGenerator(
      { serverId: Uint8Array.of(serverId), nonceLength: 6 },
      randomBytes,
    ),
  };
  return new Endpoint({
    server: () =>
      withoutRole(
        serverConfig({
          tls: {
            ...serverConfig().tls,
            ticketKeys,
            earlyData: true,
            antiReplay,
          } as ConnectionConfig['tls'],
        }),
      ),
    stateless,
    ...extra,
  });
}

interface Client {
  conn: Connection;
  info?: HandshakeInfo;
  tickets: SessionTicket[];
  echoed: Buffer[];
  done: boolean;
  closed?: string;
}

/** A client (own address) sending `payload` on a stream: at once when resuming with 0-RTT,
 * else once the handshake is done. */
function client(net: EndpointNet, i: number, payload: Buffer, session?: SessionTicket): Client {
  const node = net.add(`client${i}`, clientAddr(i), new Endpoint());
  const config = clientConfig();
  if (session) config.tls = { ...config.tls, session, earlyData: true } as ConnectionConfig['tls'];
  const conn = net.connect(node, withoutRole(config), SERVER_ADDR);
  const c: Client = { conn, tickets: [], echoed: [], done: false };
  const send = () => conn.write(conn.openStream(true)!, payload, true);
  if (session) send();
  node.onEvent = (_conn, ev) => {
    if (ev.type === 'handshake-complete') {
      c.info = ev.info;
      if (!session) send();
    } else if (ev.type === 'session-ticket') c.tickets.push(ev.ticket);
    else if (ev.type === 'closed') c.closed = ev.error?.reason ?? '';
    else if (ev.type === 'readable') {
      readEcho(conn, ev.streamId, c);
    }
  };
  return c;
}

describe('fleet: servers sharing keys (two endpoints in memory)', () => {
  it('a ticket from A resumes on B without 0-RTT (B did not issue it); on A with 0-RTT', () => {
    const keys = newKeys();
    const net = new EndpointNet();
    const a = fleetServer(keys, 1);
    const b = fleetServer(keys, 2);
    const srv = net.add('server', SERVER_ADDR, a);
    echo(srv);
    const first = client(net, 0, Buffer.from('hello A'));
    expect(net.run(() => first.done && first.tickets.length > 0)).to.equal(true);
    const ticket = first.tickets[0]!;

    // The balancer now sends this client to B: resumption works, 0-RTT is refused (its data
    // is sent again in 1-RTT and still echoed).
    srv.endpoint = b;
    const onB = client(net, 1, Buffer.from('early to B'), ticket);
    expect(net.run(() => onB.done)).to.equal(true);
    expect(onB.info).to.include({ resumed: true, earlyDataAccepted: false });
    expect(Buffer.concat(onB.echoed).toString()).to.equal('early to B');

    // Back on A, the issuer: 0-RTT accepted (once: A's replay memory holds it).
    srv.endpoint = a;
    const again = client(net, 2, Buffer.from('hello A'));
    expect(net.run(() => again.done && again.tickets.length > 0)).to.equal(true);
    const onA = client(net, 3, Buffer.from('early to A'), again.tickets[0]);
    expect(net.run(() => onA.done)).to.equal(true);
    expect(onA.info).to.include({ resumed: true, earlyDataAccepted: true });
    expect(Buffer.concat(onA.echoed).toString()).to.equal('early to A');
  });

  it('ticket key rotation: [new, old] opens tickets of [old]; a server without the key does a full handshake', () => {
    const keys = newKeys();
    const net = new EndpointNet();
    const srv = net.add('server', SERVER_ADDR, fleetServer(keys, 1));
    echo(srv);
    const first = client(net, 0, Buffer.from('x'));
    expect(net.run(() => first.done && first.tickets.length > 0)).to.equal(true);
    const rotated = { ...keys, ticket: [randomBytes(32), keys.ticket[0]!] };
    srv.endpoint = fleetServer(rotated, 2);
    const resumed = client(net, 1, Buffer.from('y'), first.tickets[0]);
    expect(net.run(() => resumed.done)).to.equal(true);
    expect(resumed.info).to.include({ resumed: true });
    srv.endpoint = fleetServer({ ...keys, ticket: [rotated.ticket[0]!] }, 3);
    const full = client(net, 2, Buffer.from('z'), first.tickets[0]);
    expect(net.run(() => full.done)).to.equal(true);
    expect(full.info).to.include({ resumed: false, earlyDataAccepted: false });
    expect(Buffer.concat(full.echoed).toString()).to.equal('z');
  });

  it('a Retry token from A is accepted by B (shared token keys), not by a server without them', () => {
    for (const shared of [true, false]) {
      const keys = newKeys();
      const net = new EndpointNet();
      const a = fleetServer(keys, 1, { retry: true });
      const b = fleetServer(shared ? keys : newKeys(), 2, { retry: true });
      const srv = net.add('server', SERVER_ADDR, a);
      echo(srv);
      const c = client(net, 0, Buffer.from('validated'));
      expect(net.run(() => srv.received.some((r) => r.kind === 'respond'))).to.equal(true);
      // The client's next Initial, with A's token, reaches B.
      srv.endpoint = b;
      srv.received.length = 0;
      net.run(() => c.done, 5000);
      if (shared) {
        expect(c.done).to.equal(true);
        expect(b.stats).to.include({ accepted: 1, retry: 0 });
        // (The post-quantum ClientHello spans two Initial datagrams: each got a Retry.)
        expect(a.stats.accepted).to.equal(0);
        expect(a.stats.retry).to.be.at.least(1);
      } else {
        expect(c.done).to.equal(false);
        expect(b.stats.accepted).to.equal(0);
        const drop = srv.received.find((r) => r.kind === 'dropped');
        expect(drop?.kind === 'dropped' && drop.reason).to.equal('invalid Retry token');
      }
    }
  });

  it("tokens carry wall-clock times: B takes A's token although their own clocks differ", () => {
    const tokenKeys = [randomBytes(32)];
    const remote = { address: '192.0.2.1', port: 1234 };
    // Each process counts `now` from its own start; the offsets turn both into wall time.
    const a = new StatelessServer({ tokenKeys, wallClockOffset: 1_000_000 });
    const b = new StatelessServer({ tokenKeys, wallClockOffset: 1_050_000 });
    const token = a.newToken(remote, 60_000); // wall clock 1,060,000
    expect(b.validateNewToken(token, { ...remote, port: 999 }, 10_500)).to.equal(true);
    // Without the offset B's clock says 10,500: a token stamped 1,060,000 is from the future.
    const local = new StatelessServer({ tokenKeys });
    expect(local.validateNewToken(a.newToken(remote, 60_000), remote, 10_500)).to.equal(false);
    expect(() => new StatelessServer({ wallClockOffset: NaN })).to.throw(
      TypeError,
      /wallClockOffset/,
    );
  });

  it('a Stateless Reset from B for a connection of A is recognised by the client', () => {
    const keys = newKeys();
    const net = new EndpointNet();
    const srv = net.add('server', SERVER_ADDR, fleetServer(keys, 1));
    echo(srv);
    const c = client(net, 0, Buffer.from('hi'));
    expect(net.run(() => c.done)).to.equal(true);
    // The client holds A's CIDs, routable to A only (server ID 1)...
    const peerCid = [...srv.endpoint.connections()][0]!.localConnectionIds()[0]!;
    expect(decodeQuicLbCid(peerCid, 1)!.serverId[0]).to.equal(1);
    // ...A is gone and its packets reach B, which knows no such connection.
    const b = fleetServer(keys, 2);
    srv.endpoint = b;
    c.conn.write(c.conn.openStream(true)!, Buffer.from('anyone?'), true);
    expect(net.run(() => c.closed !== undefined, 5000)).to.equal(true);
    expect(c.closed).to.equal('stateless reset');
    expect(b.stats['stateless-reset']).to.be.at.least(1);
  });

  it('the --fleet-keys file and --server-id are checked, naming the field', () => {
    const k = randomBytes(32).toString('hex');
    const parsed = parseFleetKeys(
      JSON.stringify({ ticketKeys: [k, k], tokenKeys: [k], resetKey: k }),
    );
    expect(parsed.ticketKeys).to.be.instanceOf(TicketKeys);
    expect(parsed.tokenKeys).to.deep.equal([new Uint8Array(Buffer.from(k, 'hex'))]);
    expect(Buffer.from(parsed.statelessResetKey!).toString('hex')).to.equal(k);
    expect(parseFleetKeys('{}')).to.deep.equal({
      ticketKeys: undefined,
      tokenKeys: undefined,
      statelessResetKey: undefined,
    });
    const bad: [string, RegExp][] = [
      ['nope', /not JSON/],
      ['[]', /not a JSON object/],
      ['{"ticketkeys": []}', /unknown field 'ticketkeys'/],
      ['{"ticketKeys": []}', /ticketKeys must be a non-empty array/],
      [`{"tokenKeys": ["${k.slice(2)}"]}`, /tokenKeys\[0\] must be >= 32 bytes/],
      ['{"resetKey": "xyz"}', /resetKey must be a hex string/],
      [`{"ticketKeys": ${JSON.stringify(Array(17).fill(k))}}`, /1\.\.16/],
    ];
    for (const [text, re] of bad) expect(() => parseFleetKeys(text), text).to.throw(re);
    expect(Buffer.from(parseServerId('0a0b')!).toString('hex')).to.equal('0a0b');
    expect(parseServerId(undefined)).to.equal(undefined);
    for (const v of ['', 'a', '0a0b0c0d', 'zz'])
      expect(() => parseServerId(v), v).to.throw(/--server-id must be 1\.\.3 bytes/);
  });

  it('shared keys and server IDs of the wrong size or type are refused, naming the option', async () => {
    expect(() => TicketKeys.fromSecrets([randomBytes(16)])).to.throw(RangeError, /secrets\[0\]/);
    expect(() => TicketKeys.fromSecrets([])).to.throw(RangeError, /1\.\.16/);
    expect(() => TicketKeys.fromSecrets('k' as never)).to.throw(TypeError, /array/);
    expect(() => TicketKeys.fromSecrets(['k' as never])).to.throw(TypeError, /secrets\[0\]/);
    const server = () => withoutRole(serverConfig());
    expect(() => new Endpoint({ server, stateless: { tokenKeys: [randomBytes(31)] } })).to.throw(
      RangeError,
      /tokenKeys\[0\]/,
    );
    expect(() => new Endpoint({ server, stateless: { tokenKeys: [] } })).to.throw(RangeError);
    expect(() => new Endpoint({ server, stateless: { tokenKeys: 'x' as never } })).to.throw(
      TypeError,
      /tokenKeys must be an array/,
    );
    const { cert, key } = selfSignedCertificate();
    const bad: [Partial<ListenOptions>, RegExp][] = [
      [{ serverId: new Uint8Array(4) }, /serverId must be 1\.\.3 bytes/],
      [{ serverId: new Uint8Array(0) }, /serverId must be 1\.\.3 bytes/],
      [{ serverId: 'a' as never }, /serverId must be a Uint8Array/],
      [
        { serverId: Uint8Array.of(1), configRotation: 7 },
        /configRotation must be an integer 0\.\.6/,
      ],
      [{ configRotation: 1 }, /configRotation needs serverId/],
      [{ tokenKeys: [randomBytes(8)] }, /tokenKeys\[0\]/],
    ];
    for (const [extra, re] of bad) {
      const err = await listen(() => {}, { certs: cert, keys: key, alpn: 'h3', ...extra }).then(
        (ep) => {
          ep.destroy();
          return undefined;
        },
        (e: Error) => e,
      );
      expect(err, String(re)).to.be.instanceOf(Error);
      expect(err!.message).to.match(re);
    }
  });
});

// ---------------------------------------------------------------------------- nginx in front

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
const STREAM_MODULE = [
  '/usr/lib/nginx/modules/ngx_stream_module.so',
  '/usr/share/nginx/modules/ngx_stream_module.so',
].find((p) => existsSync(p));
const MISSING = !NGINX
  ? 'nginx is not installed'
  : !STREAM_MODULE
    ? 'the nginx stream module (libnginx-mod-stream) is not installed'
    : undefined;
const MAIN = fileURLToPath(new URL('../lib/cli/main.ts', import.meta.url));
const TEMPLATE = fileURLToPath(new URL('../examples/fleet/nginx.conf', import.meta.url));
const BIG = 3_000_000;

interface Proc {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function spawnProc(cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  child.stderr!.on('data', (c: Buffer) => (out += c));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

/** The first line of `p`'s output matching `re`; Error if it exits first. */
async function waitFor(p: Proc, re: RegExp): Promise<RegExpMatchArray> {
  for (;;) {
    const m = p.output().match(re);
    if (m) return m;
    const exited = await Promise.race([
      p.exit.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 50)),
    ]);
    if (exited && !p.output().match(re))
      throw new Error(`exited before ${re}; output:\n${p.output()}`);
  }
}

describe(`fleet: nginx (UDP proxy) in front of two zquic servers${MISSING && !process.env.CI ? ` (${MISSING}: skipped)` : ''}`, function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'zquic-fleet-'));
  const { cert, key } = selfSignedCertificate();
  const backends = new Map<'A' | 'B', Proc>();
  let nginx: Proc | undefined;
  let lb = '';
  /** Client addresses (127.0.0.x) by the backend nginx sends them to. */
  const route: Record<'A' | 'B', string[]> = { A: [], B: [] };

  /** A client on `address` through nginx: its session, a GET, and what it learned. */
  async function visit(
    address: string,
    path: string,
    extra: Partial<ConnectOptions> = {},
    qlogDir?: string,
  ): Promise<{
    body: Buffer;
    client: Http3Client;
    tickets: SessionTicket[];
    tokens: Uint8Array[];
  }> {
    const endpoint = await QuicEndpoint.create({ host: address, qlogDir });
    const tickets: SessionTicket[] = [];
    const tokens: Uint8Array[] = [];
    try {
      const client = await connectHttp3(lb, {
        endpoint,
        ca: cert,
        servername: 'localhost',
        handshakeTimeout: 5000,
        ...extra,
      });
      client.session.on('ticket', (t) => tickets.push(t));
      client.session.on('token', (t) => tokens.push(t));
      const res = await client.request(path);
      expect(res.status, path).to.equal(200);
      const body = Buffer.from(await res.bytes());
      // Wait for the ticket and the token (sent after the handshake) before closing.
      const deadline = Date.now() + 3000;
      while ((tickets.length === 0 || tokens.length === 0) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      await client.close();
      return { body, client, tickets, tokens };
    } finally {
      await endpoint.close().catch(() => {}); // cleanup: the assertions above decided
      endpoint.destroy();
    }
  }

  /** A retried `visit`: the first Initial through a fresh nginx session may be lost. */
  async function visitRetrying(address: string, path: string) {
    for (let i = 0; ; i++) {
      try {
        return await visit(address, path);
      } catch (e) {
        if (i === 4) throw e;
      }
    }
  }

  before(async function () {
    if (MISSING) {
      if (process.env.CI) throw new Error(`${MISSING}, and CI must run this test`);
      return this.skip();
    }
    writeFileSync(join(dir, 'cert.pem'), cert);
    writeFileSync(join(dir, 'key.pem'), key);
    const hex = () => randomBytes(32).toString('hex');
    writeFileSync(
      join(dir, 'keys.json'),
      JSON.stringify({ ticketKeys: [hex()], tokenKeys: [hex()], resetKey: hex() }),
    );
    const big = randomBytes(BIG);
    const ports: number[] = [];
    for (const [name, id] of [
      ['A', '0a'],
      ['B', '0b'],
    ] as const) {
      const www = join(dir, `www-${name}`);
      mkdirSync(www);
      writeFileSync(join(www, 'whoami'), name);
      writeFileSync(join(www, 'big.bin'), big);
      const p = spawnProc(process.execPath, [
        '--import',
        'tsx',
        MAIN,
        'server',
        ...['--host', '127.0.0.1', '--port', '0', '--www', www, '--json', '--quiet'],
        ...['--cert', join(dir, 'cert.pem'), '--key', join(dir, 'key.pem')],
        ...['--early-data', '--retry', '--server-id', id, '--fleet-keys', join(dir, 'keys.json')],
      ]);
      backends.set(name, p);
      ports.push(Number((await waitFor(p, /"event":"listening".*?"port":(\d+)/))[1]));
    }
    const listen = await freePort();
    lb = `127.0.0.1:${listen}`;
    const conf = readFileSync(TEMPLATE, 'utf8')
      .replaceAll('{{MODULE}}', STREAM_MODULE!)
      .replaceAll('{{PREFIX}}', dir)
      .replaceAll('{{LISTEN}}', lb)
      .replaceAll('{{BACKEND_A}}', `127.0.0.1:${ports[0]}`)
      .replaceAll('{{BACKEND_B}}', `127.0.0.1:${ports[1]}`);
    writeFileSync(join(dir, 'nginx.conf'), conf);
    nginx = spawnProc(NGINX!, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']);
    // Its pid file appears once it listens; an nginx that stopped says why in its error log.
    const ngx = nginx;
    while (!existsSync(join(dir, 'nginx.pid'))) {
      const exited = await Promise.race([
        ngx.exit.then(() => true),
        new Promise<false>((r) => setTimeout(() => r(false), 50)),
      ]);
      if (exited) {
        const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log')) : '';
        throw new Error(`nginx exited: ${ngx.output()}${log}`);
      }
    }
    // Which backend each client address lands on (nginx hashes the address): two of each.
    for (let x = 2; x < 60 && (route.A.length < 2 || route.B.length < 2); x++) {
      const address = `127.0.0.${x}`;
      const { body } = await visitRetrying(address, '/whoami');
      route[body.toString() as 'A' | 'B'].push(address);
    }
    expect(route.A.length, 'addresses routed to A').to.be.at.least(2);
    expect(route.B.length, 'addresses routed to B').to.be.at.least(2);
  });

  after(async () => {
    for (const p of [nginx, ...backends.values()])
      if (p && p.child.exitCode === null) {
        p.child.kill('SIGTERM');
        await Promise.race([p.exit, new Promise((r) => setTimeout(r, 5000))]);
        if (p.child.exitCode === null) p.child.kill('SIGKILL');
      }
    rmSync(dir, { recursive: true, force: true });
  });

  it('HTTP/3 downloads through nginx from both backends', async () => {
    for (const name of ['A', 'B'] as const) {
      const { body } = await visit(route[name][0]!, '/big.bin');
      expect(body.length).to.equal(BIG);
      const expected = readFileSync(join(dir, `www-${name}`, 'big.bin'));
      expect(body.equals(expected)).to.equal(true);
    }
  });

  it('a session from A resumes on B (0-RTT refused there, its request still answered); on A with 0-RTT', async () => {
    const first = await visit(route.A[0]!, '/whoami');
    expect(first.body.toString()).to.equal('A');
    expect(first.tickets.length).to.be.greaterThan(0);
    const onB = await visit(route.B[0]!, '/whoami', {
      session: first.tickets[0],
      earlyData: true,
      token: first.tokens[0],
    });
    expect(onB.body.toString()).to.equal('B');
    const hB = await onB.client.session.opened;
    expect(hB).to.include({ resumed: true, earlyDataAccepted: false });
    const again = await visit(route.A[0]!, '/whoami');
    const onA = await visit(route.A[1]!, '/whoami', {
      session: again.tickets[0],
      earlyData: true,
      token: again.tokens[0],
    });
    expect(onA.body.toString()).to.equal('A');
    expect(await onA.client.session.opened).to.include({ resumed: true, earlyDataAccepted: true });
  });

  it('an address-validation token from A is accepted by B: no Retry there', async () => {
    // Both backends run with --retry. nginx's UDP proxy talks to a backend from a port of its
    // own per client session, so a Retry token (bound to address and port, RFC 9000 §8.1.4)
    // only comes back through the same session, to the same backend; a NEW_TOKEN token is
    // bound to the address alone and sealed with the same shared key: it crosses backends.
    const retried = (qlogDir: string): boolean =>
      readdirSync(qlogDir).some((f) =>
        /"packet_type":"retry"/.test(readFileSync(join(qlogDir, f), 'utf8')),
      );
    const q1 = mkdtempSync(join(dir, 'qlog-'));
    const first = await visit(route.A[0]!, '/whoami', {}, q1);
    expect(first.body.toString()).to.equal('A');
    expect(retried(q1), 'a first visit is validated with Retry').to.equal(true);
    expect(first.tokens.length).to.be.greaterThan(0);
    const q2 = mkdtempSync(join(dir, 'qlog-'));
    const onB = await visit(route.B[0]!, '/whoami', { token: first.tokens[0] }, q2);
    expect(onB.body.toString()).to.equal('B');
    expect(retried(q2), "B took A's token instead").to.equal(false);
  });

  it('draining A: GOAWAY, its download in flight completes, new connections go to B', async () => {
    const a = backends.get('A')!;
    const endpoint = await QuicEndpoint.create({ host: route.A[0]! });
    try {
      const client = await connectHttp3(lb, { endpoint, ca: cert, servername: 'localhost' });
      const res = await client.request('/big.bin');
      expect(res.status).to.equal(200);
      const gotGoaway = new Promise((r) => client.session.once('goaway', r));
      a.child.kill('SIGTERM'); // the CLI closes gracefully: GOAWAY, then waits for requests
      await gotGoaway;
      const body = Buffer.from(await res.bytes());
      expect(body.equals(readFileSync(join(dir, 'www-A', 'big.bin')))).to.equal(true);
      expect(await a.exit).to.equal(0);
      expect(a.output()).to.match(/"event":"endpoint"/);
    } finally {
      await endpoint.close().catch(() => {}); // cleanup: the assertions above decided
      endpoint.destroy();
    }
    // nginx finds A gone (ICMP port unreachable) on a new session and moves on to B.
    for (const address of route.A) {
      const { body } = await visitRetrying(address, '/whoami');
      expect(body.toString()).to.equal('B');
    }
  });
});
