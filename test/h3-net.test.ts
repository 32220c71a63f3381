// HTTP/3 over real UDP loopback through the public API: serveHttp3 / connectHttp3 / fetchHttp3.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';

import { encodeFrame, encodeIdFrame, encodeSettings, encodeVarint } from '../lib/h3/frames.js';
import { encodeFieldSection } from '../lib/h3/qpack.js';
import {
  H3,
  Http3Agent,
  connect,
  connectHttp3,
  decodeSessionTicket,
  encodeSessionTicket,
  fetchHttp3,
  serveHttp3,
  type Http3Request,
  type Http3Response,
  type QuicEndpoint,
  type SessionTicket,
} from '../lib/index.js';
import { fixture, serverCreds } from './support/tls-pair.js';

const creds = serverCreds();
const tls = { ca: fixture('ca.pem'), servername: 'localhost' };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const BIG = randomBytes(1 << 20);

async function readAll(req: Http3Request): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

let bigRequested = () => {};

function handler(req: Http3Request, res: Http3Response): void {
  const [, route, arg] = req.path.split('/');
  if (route === 'big') {
    bigRequested();
    res.setHeader('content-length', BIG.length);
    res.end(BIG);
  } else if (route === 'echo') {
    void readAll(req).then((body) => {
      res.writeHead(200, { 'x-method': req.method, 'x-sha256': sha(body) });
      res.addTrailers({ 'x-length': body.length });
      res.end(body);
    });
  } else if (route === 'n') {
    res.setHeader('content-type', 'text/plain');
    res.end(`n=${arg} ${req.headers['x-tag'] ?? ''}`);
  } else if (route === 'early') {
    res.end('early'); // without reading the request body
  } else if (route === 'reset') {
    res.write('partial');
    setTimeout(() => res.destroy(new Error('boom')), 20);
  } else {
    res.statusCode = 404;
    res.end();
  }
}

describe('net: HTTP/3 over loopback UDP', function () {
  this.timeout(30_000);
  let server: QuicEndpoint;
  const addr = () => `localhost:${server.address.port}`;

  beforeEach(async () => {
    server = await serveHttp3(handler, { ...creds, host: '127.0.0.1' });
  });
  afterEach(async () => {
    await server.close();
  });

  it('many concurrent requests on one connection, each its own response', async () => {
    const client = await connectHttp3(`127.0.0.1:${server.address.port}`, tls);
    expect(client.session.handshake).to.include({ alpn: 'h3', group: 'X25519MLKEM768' });
    const res = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        client.request(`/n/${i}`, { headers: { 'x-tag': `t${i}` } }),
      ),
    );
    const texts = await Promise.all(res.map((r) => r.text()));
    texts.forEach((t, i) => expect(t).to.equal(`n=${i} t${i}`));
    expect(res[0]!.status).to.equal(200);
    expect(res[0]!.headers['content-type']).to.equal('text/plain');
    const head = await client.request('/big', { method: 'HEAD' });
    expect([head.status, head.headers['content-length']]).to.deep.equal([200, String(BIG.length)]);
    expect((await head.bytes()).length).to.equal(0);
    const missing = await client.request('/nothing');
    expect(missing.status).to.equal(404);
    expect((await missing.bytes()).length).to.equal(0);
    await client.close();
  });

  it('a 1 MB response body arrives intact (SHA-256) and POST bodies echo with trailers', async () => {
    const client = await connectHttp3(addr(), tls);
    const big = await client.request('/big');
    expect(big.headers['content-length']).to.equal(String(BIG.length));
    expect(sha(await big.bytes())).to.equal(sha(BIG));

    const up = randomBytes(300_000);
    const echo = await client.request('/echo', { method: 'POST', body: up });
    expect(echo.headers).to.include({ 'x-method': 'POST', 'x-sha256': sha(up) });
    expect(sha(await echo.bytes())).to.equal(sha(up));
    expect(echo.trailers).to.deep.equal({ 'x-length': String(up.length) });

    async function* chunks() {
      for (let i = 0; i < 8; i++) yield BIG.subarray(i * 131072, (i + 1) * 131072);
    }
    const streamed = await client.request('/echo', { method: 'PUT', body: chunks() });
    expect(streamed.headers['x-sha256']).to.equal(sha(BIG));
    expect(sha(await streamed.bytes())).to.equal(sha(BIG));
    await client.close();
  });

  it('a response sent before the request body is read stops the upload (STOP_SENDING H3_NO_ERROR) and arrives intact', async () => {
    const client = await connectHttp3(addr(), tls);
    let sent = 0;
    async function* slow() {
      for (let i = 0; i < 50; i++) {
        sent++;
        yield BIG.subarray(0, 65536);
        await new Promise((r) => setTimeout(r, 5));
      }
    }
    const res = await client.request('/early', { method: 'POST', body: slow() });
    expect([res.status, await res.text()]).to.deep.equal([200, 'early']);
    await new Promise((r) => setTimeout(r, 50));
    expect(sent).to.be.lessThan(50); // the upload stopped early
    expect(await (await client.request('/n/3')).text()).to.equal('n=3 ');
    await client.close();
  });

  it('fetchHttp3 connects through its agent, requests and reads', async () => {
    const agent = new Http3Agent({ connect: tls });
    const res = await fetchHttp3(`https://localhost:${server.address.port}/n/7`, { agent });
    expect([res.status, await res.text()]).to.deep.equal([200, 'n=7 ']);
    await agent.close();
  });

  it('a handler destroying its response resets the stream with H3_INTERNAL_ERROR; the connection lives on', async () => {
    const client = await connectHttp3(addr(), tls);
    const res = await client.request('/reset');
    const err = await res.bytes().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.have.property('code', H3.INTERNAL_ERROR);
    expect(await (await client.request('/n/1')).text()).to.equal('n=1 ');
    await client.close();
  });

  it('an aborted request rejects with the signal reason', async () => {
    const client = await connectHttp3(addr(), tls);
    const ac = new AbortController();
    const p = client.request('/echo', {
      method: 'POST',
      body: (async function* () {
        yield 'x';
        await new Promise((r) => setTimeout(r, 10_000));
      })(),
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error('stop')), 50);
    const err = await p.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.equal('stop');
    expect(await (await client.request('/n/2')).text()).to.equal('n=2 ');
    await client.close();
  });

  it('server close sends GOAWAY, finishes requests in progress, then closes with H3_NO_ERROR', async () => {
    const client = await connectHttp3(addr(), tls);
    const goaway = new Promise((r) => client.session.once('goaway', r));
    const received = new Promise<void>((r) => (bigRequested = r));
    const pending = client.request('/big');
    await received; // the server has the request: it is below the GOAWAY id
    const closing = server.close();
    expect(await goaway).to.be.a('number');
    const big = await pending;
    expect(sha(await big.bytes())).to.equal(sha(BIG));
    await closing;
    // H3_NO_ERROR is HTTP/3's "no error" (RFC 9114 §8.1): closed resolves.
    await client.session.closed;
    server = await serveHttp3(handler, { ...creds, host: '127.0.0.1' }); // for afterEach
  });

  it('a peer breaking HTTP/3 gets an application CONNECTION_CLOSE with the H3 code', async () => {
    // A raw QUIC client: its control stream starts with GOAWAY instead of SETTINGS.
    const session = await connect(`127.0.0.1:${server.address.port}`, { ...tls, alpn: 'h3' });
    session.onstream = (s) => s.resume();
    await session.opened;
    const control = await session.createUnidirectionalStream();
    control.write(Buffer.concat([encodeVarint(0), encodeIdFrame(7, 0)]));
    const err = await session.closed.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.include({ errorCode: H3.MISSING_SETTINGS, application: true, remote: true });
  });

  it('a malformed request is reset with H3_MESSAGE_ERROR; the connection goes on', async () => {
    const session = await connect(`127.0.0.1:${server.address.port}`, { ...tls, alpn: 'h3' });
    session.onstream = (s) => s.resume();
    await session.opened;
    const control = await session.createUnidirectionalStream();
    control.write(Buffer.concat([encodeVarint(0), encodeSettings(new Map())]));
    const send = async (fields: [string, string][]) => {
      const s = await session.createBidirectionalStream();
      const reset = new Promise<number>((r) => s.once('reset', r));
      const body: Buffer[] = [];
      s.on('data', (d: Buffer) => body.push(d));
      s.end(encodeFrame(1, encodeFieldSection(fields)));
      return { reset, ended: new Promise((r) => s.once('end', () => r(Buffer.concat(body)))) };
    };
    const base: [string, string][] = [
      [':method', 'GET'],
      [':scheme', 'https'],
      [':authority', 'localhost'],
      [':path', '/n/5'],
    ];
    const bad = await send([...base, ['X-Upper', 'a']]);
    expect(await bad.reset).to.equal(H3.MESSAGE_ERROR);
    const good = await send(base);
    expect(((await good.ended) as Buffer).length).to.be.greaterThan(0); // HEADERS + DATA frames
    session.destroy(); // (a graceful QUIC close would wait for our control stream to end)
  });

  it('API misuse throws TypeError', async () => {
    const client = await connectHttp3(addr(), tls);
    await expectReject(client.request('x'), TypeError);
    await expectReject(client.request('/', { body: 5 as unknown as string }), TypeError);
    await expectReject(client.request('/', { headers: { 'X-A': {} as string } }), TypeError);
    await expectReject(client.request('/', { headers: { connection: 'close' } }), TypeError);
    await expectReject(fetchHttp3('http://localhost/'), TypeError);
    await expectReject(serveHttp3(5 as never, { ...creds }), TypeError);
    await client.close();
  });
});

describe('net: HTTP/3 with 0-RTT', function () {
  this.timeout(30_000);
  it('a resumed client with earlyData sends its request before the handshake completes', async () => {
    let arrivedBeforeHandshake: boolean | undefined;
    const server = await serveHttp3(
      (req, res) => {
        arrivedBeforeHandshake = req.session.handshake === undefined;
        res.end('zero');
      },
      { ...creds, host: '127.0.0.1', earlyData: true },
    );
    try {
      const addr = `127.0.0.1:${server.address.port}`;
      const first = await connectHttp3(addr, tls);
      const ticket = once(first.session, 'ticket');
      expect(await (await first.request('/')).text()).to.equal('zero');
      const [issued] = (await ticket) as [SessionTicket];
      await first.close();
      expect(arrivedBeforeHandshake).to.equal(false);
      // Kept across a process restart as bytes (zquic client --session-file does the same).
      const session = decodeSessionTicket(encodeSessionTicket(issued));

      const second = await connectHttp3(addr, { ...tls, session, earlyData: true });
      expect(second.session.handshake).to.equal(undefined); // usable before `opened`
      const res = await second.request('/');
      expect(await res.text()).to.equal('zero');
      expect(await second.session.opened).to.include({ resumed: true, earlyDataAccepted: true });
      expect(arrivedBeforeHandshake).to.equal(true); // the request came as 0-RTT
      await second.close();
    } finally {
      await server.close();
    }
  });
});

async function expectReject(
  p: Promise<unknown>,
  type: new (...a: never[]) => Error,
): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).to.be.instanceOf(type);
}
