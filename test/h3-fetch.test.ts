// fetchHttp3 and Http3Agent over loopback UDP against serveHttp3: WHATWG Request/Response
// shapes, bodies of every kind, abort, redirects, connection reuse, MAX_STREAMS, GOAWAY, 0-RTT.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';

import {
  Http3Agent,
  fetchHttp3,
  globalHttp3Agent,
  listen,
  serveHttp3,
  type Http3Request,
  type Http3Response,
  type QuicEndpoint,
  type QuicSession,
} from '../lib/index.js';
import { Binding } from '../lib/net/h3-binding.js';
import { fixture, serverCreds } from './support/tls-pair.js';

const creds = serverCreds();
const tls = { ca: fixture('ca.pem'), servername: 'localhost' };
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function readAll(req: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Waits (polling) until `cond` holds: for state changes that have no event to await. */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

const sessions = new Set<QuicSession>();
let hold: Promise<void> = Promise.resolve();

function handler(req: Http3Request, res: Http3Response): void {
  sessions.add(req.session);
  const u = new URL(req.url, 'https://x');
  const [, route, arg] = u.pathname.split('/');
  if (route === 'json') {
    res.setHeader('content-type', 'application/json');
    res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/']);
    res.end(JSON.stringify({ hello: 'world', q: u.searchParams.get('q') }));
  } else if (route === 'echo') {
    void readAll(req).then((body) => {
      res.writeHead(200, {
        'content-type': req.headers['content-type'] ?? 'application/octet-stream',
        'x-method': req.method,
        'x-tag': req.headers['x-tag'] ?? '',
        'x-sha256': sha(body),
      });
      res.end(body);
    });
  } else if (route === 'redirect') {
    const n = Number(arg);
    if (n > 0) res.writeHead(302, { location: `/redirect/${n - 1}` }).end();
    else res.end(`done ${req.method}`);
  } else if (route === 'see-other') {
    req.resume();
    res.writeHead(303, { location: '/echo' }).end();
  } else if (route === 'temporary') {
    req.resume();
    res.writeHead(307, { location: '/echo' }).end();
  } else if (route === 'hang') {
    res.write('partial'); // and never more
  } else if (route === 'slow') {
    void hold.then(() => res.end(`slow ${arg}`));
  } else if (route === 'empty') {
    res.writeHead(204).end();
  } else {
    res.statusCode = 404;
    res.end();
  }
}

describe('net: fetchHttp3 and Http3Agent', function () {
  this.timeout(30_000);
  let server: QuicEndpoint;
  let agent: Http3Agent;
  const url = (path: string) => `https://localhost:${server.address.port}${path}`;

  beforeEach(async () => {
    sessions.clear();
    server = await serveHttp3(handler, { ...creds, host: '127.0.0.1' });
    agent = new Http3Agent({ connect: tls });
  });
  afterEach(async () => {
    await agent.close();
    await server.close();
  });

  it('resolves with a WHATWG Response: status, statusText, Headers, web stream body, json()', async () => {
    const res = await fetchHttp3(url('/json?q=1'), { agent });
    expect(res).to.be.instanceOf(Response);
    expect([res.ok, res.status, res.statusText]).to.deep.equal([true, 200, 'OK']);
    expect(res.url).to.equal(url('/json?q=1'));
    expect(res.redirected).to.equal(false);
    expect(res.headers).to.be.instanceOf(Headers);
    expect(res.headers.get('content-type')).to.equal('application/json');
    expect(res.headers.getSetCookie()).to.deep.equal(['a=1; Path=/', 'b=2; Path=/']);
    expect(res.body).to.be.instanceOf(ReadableStream);
    expect(await res.json()).to.deep.equal({ hello: 'world', q: '1' });

    const missing = await fetchHttp3(url('/nothing'), { agent });
    expect([missing.ok, missing.status, missing.statusText]).to.deep.equal([
      false,
      404,
      'Not Found',
    ]);
    expect(await missing.text()).to.equal('');
    const empty = await fetchHttp3(url('/empty'), { agent });
    expect([empty.status, empty.body]).to.deep.equal([204, null]);
    const head = await fetchHttp3(url('/json'), { agent, method: 'HEAD' });
    expect([head.status, head.body, head.headers.get('content-type')]).to.deep.equal([
      200,
      null,
      'application/json',
    ]);
  });

  it('sends Headers, [name, value] pairs and records; text and arrayBuffer bodies', async () => {
    const withHeaders = await fetchHttp3(url('/echo'), {
      agent,
      method: 'POST',
      headers: new Headers({ 'x-tag': 'from-headers', 'content-type': 'text/plain' }),
      body: 'hello',
    });
    expect(withHeaders.headers.get('x-tag')).to.equal('from-headers');
    expect(withHeaders.headers.get('x-method')).to.equal('POST');
    expect(await withHeaders.text()).to.equal('hello');

    const pairs = await fetchHttp3(url('/echo'), { agent, headers: [['x-tag', 'pairs']] });
    expect(pairs.headers.get('x-tag')).to.equal('pairs');
    await pairs.arrayBuffer();

    const bytes = randomBytes(100_000);
    const binary = await fetchHttp3(new Request(url('/echo'), { method: 'PUT', body: bytes }), {
      agent,
    });
    expect(Buffer.from(await binary.arrayBuffer()).equals(bytes)).to.equal(true);
  });

  it('streams request bodies from a web ReadableStream and from a Node Readable', async () => {
    const chunks = Array.from({ length: 8 }, () => randomBytes(64 * 1024));
    const whole = Buffer.concat(chunks);
    const web = new ReadableStream<Uint8Array>({
      start(c) {
        for (const chunk of chunks) c.enqueue(chunk);
        c.close();
      },
    });
    const fromWeb = await fetchHttp3(url('/echo'), { agent, method: 'POST', body: web });
    expect(fromWeb.headers.get('x-sha256')).to.equal(sha(whole));
    expect(sha(Buffer.from(await fromWeb.arrayBuffer()))).to.equal(sha(whole));

    const node = Readable.from(chunks);
    const fromNode = await fetchHttp3(url('/echo'), {
      agent,
      method: 'POST',
      body: node as unknown as AsyncIterable<Uint8Array>,
    });
    expect(fromNode.headers.get('x-sha256')).to.equal(sha(whole));
    await fromNode.body!.cancel();
  });

  it('URLSearchParams, Blob and FormData bodies carry their content-type', async () => {
    const form = await fetchHttp3(url('/echo'), {
      agent,
      method: 'POST',
      body: new URLSearchParams({ a: '1', b: 'x y' }),
    });
    expect(form.headers.get('content-type')).to.match(/^application\/x-www-form-urlencoded/);
    expect(await form.text()).to.equal('a=1&b=x+y');

    const blob = await fetchHttp3(url('/echo'), {
      agent,
      method: 'POST',
      body: new Blob(['{"k":1}'], { type: 'application/json' }),
    });
    expect(await blob.json()).to.deep.equal({ k: 1 });

    const fd = new FormData();
    fd.append('name', 'zquic');
    fd.append('file', new Blob(['abc']), 'a.txt');
    const multipart = await fetchHttp3(url('/echo'), { agent, method: 'POST', body: fd });
    expect(multipart.headers.get('content-type')).to.match(/^multipart\/form-data; boundary=/);
    const back = await multipart.formData();
    expect(back.get('name')).to.equal('zquic');
    expect(await (back.get('file') as Blob).text()).to.equal('abc');
  });

  it('an AbortSignal aborts before the response and while the body streams; the pool goes on', async () => {
    hold = new Promise(() => {}); // the server never answers
    const early = new AbortController();
    const p = fetchHttp3(url('/slow/1'), { agent, signal: early.signal });
    setTimeout(() => early.abort(new Error('stop')), 30);
    const err = await p.then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).to.equal('stop');

    const late = new AbortController();
    const res = await fetchHttp3(url('/hang'), { agent, signal: late.signal });
    const reader = res.body!.getReader();
    expect(Buffer.from((await reader.read()).value!).toString()).to.equal('partial');
    late.abort();
    const readErr = await reader.read().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(readErr?.name).to.equal('AbortError');

    await expectReject(fetchHttp3(url('/json'), { agent, signal: AbortSignal.abort() }));
    hold = Promise.resolve();
    expect(await (await fetchHttp3(url('/json'), { agent })).json()).to.have.property('hello');
    expect(agent.stats().connectionsOpened).to.equal(1);
  });

  it("redirects: 'follow' up to maxRedirects, 'manual', 'error'; 303 turns POST into GET", async () => {
    const followed = await fetchHttp3(url('/redirect/3'), { agent });
    expect([followed.status, followed.redirected, followed.url]).to.deep.equal([
      200,
      true,
      url('/redirect/0'),
    ]);
    expect(await followed.text()).to.equal('done GET');

    const manual = await fetchHttp3(url('/redirect/3'), { agent, redirect: 'manual' });
    expect([manual.status, manual.headers.get('location')]).to.deep.equal([302, '/redirect/2']);

    const refused = await expectReject(
      fetchHttp3(url('/redirect/1'), { agent, redirect: 'error' }),
    );
    expect(refused).to.be.instanceOf(TypeError);
    const tooMany = await expectReject(fetchHttp3(url('/redirect/3'), { agent, maxRedirects: 2 }));
    expect(tooMany).to.be.instanceOf(TypeError);
    expect((tooMany as Error).cause).to.match(/more than 2 redirects/);

    const seeOther = await fetchHttp3(url('/see-other'), {
      agent,
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'dropped',
    });
    expect(seeOther.headers.get('x-method')).to.equal('GET');
    expect(await seeOther.text()).to.equal('');
    const kept = await fetchHttp3(url('/temporary'), { agent, method: 'PUT', body: 'kept' });
    expect([kept.headers.get('x-method'), await kept.text()]).to.deep.equal(['PUT', 'kept']);
  });

  it('reuses one connection per origin', async () => {
    for (let i = 0; i < 20; i++) await (await fetchHttp3(url('/json'), { agent })).json();
    expect(agent.stats()).to.include({ connections: 1, connectionsOpened: 1 });
    expect(sessions.size).to.equal(1);
  });

  it('without an agent, fetchHttp3 uses globalHttp3Agent (with the system trust anchors)', async () => {
    const before = globalHttp3Agent.stats().connectionsOpened;
    // The test CA is no system trust anchor: the default agent refuses this server.
    const err = await fetchHttp3(url('/json')).then(
      () => expect.fail('a certificate from an unknown CA was accepted'),
      (e: Error) => e,
    );
    expect(err).to.be.instanceOf(TypeError).with.property('message', 'fetch failed');
    expect(String((err as TypeError & { cause: unknown }).cause)).to.match(/certificate|CA/i);
    expect(globalHttp3Agent.stats().connectionsOpened).to.equal(before + 1);
    await globalHttp3Agent.close();
  });

  it('an idle connection closes after idleTimeout; the next request opens another', async () => {
    const quick = new Http3Agent({ connect: tls, idleTimeout: 20 });
    await (await fetchHttp3(url('/json'), { agent: quick })).text();
    await until(() => quick.stats().connections === 0);
    await (await fetchHttp3(url('/json'), { agent: quick })).text();
    expect(quick.stats().connectionsOpened).to.equal(2);
    await quick.close();
  });

  it('API misuse throws TypeError / RangeError', async () => {
    await expectReject(fetchHttp3('http://localhost/', { agent }), TypeError);
    await expectReject(fetchHttp3(url('/'), { agent: {} as Http3Agent }), TypeError);
    await expectReject(fetchHttp3(url('/'), { agent, maxRedirects: -1 }), RangeError);
    expect(() => new Http3Agent({ idleTimeout: -1 })).to.throw(RangeError);
    expect(() => new Http3Agent({ earlyData: 1 as unknown as boolean })).to.throw(TypeError);
    await expectReject(agent.request('ftp://x/'), TypeError);
    await expectReject(agent.request(url('/'), { signal: 5 as unknown as AbortSignal }), TypeError);
    await expectReject(agent.request(url('/'), { headers: { 'x-a': {} as string } }), TypeError);
  });
});

describe('net: Http3Agent limits, GOAWAY and 0-RTT', function () {
  this.timeout(30_000);

  it("honours the server's MAX_STREAMS: 3x as many concurrent requests all complete on one connection", async () => {
    const server = await serveHttp3(handler, {
      ...creds,
      host: '127.0.0.1',
      transportParams: { initialMaxStreamsBidi: 4 },
    });
    const agent = new Http3Agent({ connect: tls });
    try {
      let release!: () => void;
      hold = new Promise((r) => (release = r));
      const all = Array.from({ length: 12 }, (_, i) =>
        fetchHttp3(`https://localhost:${server.address.port}/slow/${i}`, { agent }).then((r) =>
          r.text(),
        ),
      );
      setTimeout(release, 20);
      expect(await Promise.all(all)).to.deep.equal(all.map((_, i) => `slow ${i}`));
      expect(agent.stats().connectionsOpened).to.equal(1);
    } finally {
      hold = Promise.resolve();
      await agent.close();
      await server.close();
    }
  });

  it('a GOAWAY sends new requests to a new connection; the request in progress completes', async () => {
    // A server that answers /hold only when told to, and sends GOAWAY after its first request.
    const bindings: Binding[] = [];
    const pending: Array<() => void> = [];
    const endpoint = await listen(
      (session) => {
        const b: Binding = new Binding(session, 'server', (_b, _qs, ev) => {
          const answer = () => {
            b.conn.sendResponse(ev.stream, 200, [], false);
            b.conn.sendData(
              ev.stream,
              Buffer.from(`${ev.head.path} on ${bindings.indexOf(b)}`),
              true,
            );
            b.flush();
          };
          if (ev.head.path === '/hold') {
            pending.push(answer);
            b.conn.goaway();
            b.flush();
          } else answer();
        });
        bindings.push(b);
      },
      { ...creds, host: '127.0.0.1', alpn: 'h3' },
    );
    const agent = new Http3Agent({ connect: tls });
    const at = (p: string) => `https://localhost:${endpoint.address.port}${p}`;
    try {
      const held = fetchHttp3(at('/hold'), { agent });
      await until(() => agent.stats().draining === 1);
      const fresh = await fetchHttp3(at('/next'), { agent });
      expect(await fresh.text()).to.equal('/next on 1');
      expect(agent.stats()).to.include({ connectionsOpened: 2 });
      pending.shift()!();
      expect(await (await held).text()).to.equal('/hold on 0');
    } finally {
      await agent.close();
      await Promise.all(bindings.map((b) => b.close()));
      await endpoint.close();
    }
  });

  it('a request the server rejected after its GOAWAY (H3_REQUEST_REJECTED) is retried on a new connection', async () => {
    // GOAWAY as soon as the first request arrives: the second, sent with it, is above the id.
    const bindings: Binding[] = [];
    const endpoint = await listen(
      (session) => {
        const b: Binding = new Binding(session, 'server', (_b, _qs, ev) => {
          if (bindings.indexOf(b) === 0) {
            b.conn.goaway();
            b.flush();
          }
          b.conn.sendResponse(ev.stream, 200, [], false);
          b.conn.sendData(
            ev.stream,
            Buffer.from(`${ev.head.path} on ${bindings.indexOf(b)}`),
            true,
          );
          b.flush();
        });
        bindings.push(b);
      },
      { ...creds, host: '127.0.0.1', alpn: 'h3' },
    );
    const agent = new Http3Agent({ connect: tls });
    const at = (p: string) => `https://localhost:${endpoint.address.port}${p}`;
    try {
      const texts = await Promise.all(
        ['/first', '/second'].map(async (p) => (await fetchHttp3(at(p), { agent })).text()),
      );
      expect(texts).to.deep.equal(['/first on 0', '/second on 1']);
      expect(agent.stats().connectionsOpened).to.equal(2);
    } finally {
      await agent.close();
      await Promise.all(bindings.map((b) => b.close()));
      await endpoint.close();
    }
  });

  it('resumes a second connection with the stored ticket: safe requests go as 0-RTT, POST waits for the handshake', async () => {
    const seen: Array<{ session: QuicSession; early: boolean }> = [];
    const server = await serveHttp3(
      (req, res) => {
        seen.push({ session: req.session, early: req.session.handshake === undefined });
        req.resume();
        res.end('ok');
      },
      { ...creds, host: '127.0.0.1', earlyData: true },
    );
    const agent = new Http3Agent({ connect: tls, idleTimeout: 20 });
    const at = `https://localhost:${server.address.port}/`;
    try {
      const first = await fetchHttp3(at, { agent });
      expect(await first.text()).to.equal('ok');
      await until(() => agent.stats().connections === 0); // idle: closed

      expect(await (await fetchHttp3(at, { agent })).text()).to.equal('ok');
      const second = seen[1]!;
      expect(second.early).to.equal(true); // arrived before the server's handshake completed
      expect(await second.session.opened).to.include({ resumed: true, earlyDataAccepted: true });
      await until(() => agent.stats().connections === 0);

      const post = await fetchHttp3(at, { agent, method: 'POST', body: 'x' });
      expect(await post.text()).to.equal('ok');
      expect(seen[2]!.early).to.equal(false); // not replayable data: after the handshake
      expect(seen[2]!.session.handshake).to.include({ resumed: true });
      expect(agent.stats().connectionsOpened).to.equal(3);
    } finally {
      await agent.close();
      await server.close();
    }
  });
});

describe('examples: the HTTP/3 JSON API and its fetch client', function () {
  this.timeout(60_000);
  it('examples/h3-fetch-client.ts runs against the server it starts and exits 0', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--import',
      'tsx',
      'examples/h3-fetch-client.ts',
    ]);
    expect(stdout).to.include('connections opened: 1');
  });

  it('examples/h3-json-server.ts serves until SIGINT, then exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/h3-json-server.ts'], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    expect(line.toString()).to.match(/^HTTP\/3 JSON API on https:\/\/localhost:\d+\/todos/);
    child.kill('SIGINT');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).to.equal(0);
  });
});

async function expectReject(
  p: Promise<unknown>,
  type?: new (...a: never[]) => Error,
): Promise<unknown> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).to.be.instanceOf(type ?? Error);
  return err;
}
