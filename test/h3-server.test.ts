// serveHttp3's node:http shape over loopback UDP: req.url / rawHeaders / body as Readable and
// web stream, response header methods, several set-cookie, writeHead, trailers, and handlers
// that throw or reject.
import { expect } from 'chai';

import {
  H3,
  connectHttp3,
  serveHttp3,
  type Http3Client,
  type Http3Handler,
  type QuicEndpoint,
} from '../lib/index.js';
import { fixture, serverCreds } from './support/tls-pair.js';

const creds = serverCreds();
const tls = { ca: fixture('ca.pem'), servername: 'localhost' };

describe('net: serveHttp3 request and response objects', function () {
  this.timeout(30_000);
  let server: QuicEndpoint;
  let client: Http3Client;
  let handler: Http3Handler;

  before(async () => {
    server = await serveHttp3((req, res) => handler(req, res), { ...creds, host: '127.0.0.1' });
    client = await connectHttp3(`127.0.0.1:${server.address.port}`, tls);
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it('req.url, req.rawHeaders, and the body as a Readable', async () => {
    handler = async (req, res) => {
      const parts: Buffer[] = [];
      for await (const c of req) parts.push(c as Buffer);
      res.end(
        JSON.stringify({ url: req.url, raw: req.rawHeaders, body: `${Buffer.concat(parts)}` }),
      );
    };
    const res = await client.request('/a/b?c=d', {
      method: 'POST',
      headers: [
        ['x-dup', '1'],
        ['x-dup', '2'],
      ],
      body: 'payload',
    });
    expect(JSON.parse(await res.text())).to.deep.equal({
      url: '/a/b?c=d',
      raw: ['x-dup', '1', 'x-dup', '2', 'content-length', '7'],
      body: 'payload',
    });
    const fromHeaders = await client.request('/h', {
      method: 'POST',
      headers: new Headers({ 'X-Tag': 'a', 'content-type': 'text/plain' }),
      body: '',
    });
    expect(JSON.parse(await fromHeaders.text())).to.deep.equal({
      url: '/h',
      raw: ['content-type', 'text/plain', 'x-tag', 'a', 'content-length', '0'],
      body: '',
    });
  });

  it('req.toWeb() gives the body as a web ReadableStream', async () => {
    handler = async (req, res) => {
      res.end(await new Response(req.toWeb()).text());
    };
    async function* body() {
      yield 'web ';
      yield 'stream';
    }
    const res = await client.request('/', { method: 'PUT', body: body() });
    expect(await res.text()).to.equal('web stream');
  });

  it('setHeader with arrays, getHeader, hasHeader, removeHeader, getHeaders, getHeaderNames, headersSent', async () => {
    let seen: unknown;
    handler = (_req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('x-remove', 'gone');
      res.setHeader('x-num', 5);
      res.removeHeader('X-Remove');
      seen = {
        cookie: res.getHeader('set-cookie'),
        num: res.getHeader('x-num'),
        has: [res.hasHeader('x-num'), res.hasHeader('x-remove')],
        all: { ...res.getHeaders() },
        names: res.getHeaderNames(),
        sentBefore: res.headersSent,
      };
      res.writeHead(201, 'Created', { 'x-more': ['m1', 'm2'], 'x-num': 6 });
      (seen as Record<string, unknown>).sentAfter = res.headersSent;
      expect(() => res.setHeader('x-late', '1')).to.throw(Error);
      res.end();
    };
    const res = await client.request('/');
    expect(seen).to.deep.equal({
      cookie: ['a=1', 'b=2'],
      num: '5',
      has: [true, false],
      all: { 'set-cookie': ['a=1', 'b=2'], 'x-num': '5' },
      names: ['set-cookie', 'x-num'],
      sentBefore: false,
      sentAfter: true,
    });
    expect(res.status).to.equal(201);
    expect(res.fields).to.deep.equal([
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-num', '6'],
      ['x-more', 'm1'],
      ['x-more', 'm2'],
    ]);
    await res.bytes();
  });

  it('addTrailers sends trailers after the body; array values become several lines', async () => {
    handler = (_req, res) => {
      res.addTrailers({ 'x-checksum': 'abc', 'x-list': ['1', '2'] });
      res.end('body');
    };
    const res = await client.request('/');
    expect(await res.text()).to.equal('body');
    expect(res.trailers).to.deep.equal({ 'x-checksum': 'abc', 'x-list': '1, 2' });
  });

  it('bad header input is a TypeError / RangeError naming the argument', async () => {
    const errors: unknown[] = [];
    handler = (_req, res) => {
      const attempt = (f: () => void) => {
        try {
          f();
        } catch (e) {
          errors.push(e);
        }
      };
      attempt(() => res.setHeader('x', [{}] as unknown as string[]));
      attempt(() => res.setHeader('x', 'caf\u{1F600}'));
      attempt(() => res.setHeader('bad name', '1'));
      attempt(() => res.writeHead(1000));
      attempt(() => res.addTrailers(5 as never));
      res.end();
    };
    await (await client.request('/')).bytes();
    expect(errors.map((e) => (e as Error).constructor)).to.deep.equal([
      TypeError,
      TypeError,
      TypeError,
      RangeError,
      TypeError,
    ]);
    expect(errors.map((e) => (e as Error).message)).to.satisfy((m: string[]) =>
      ['value', 'value', 'invalid field name', 'status', 'trailers'].every((arg, i) =>
        m[i]!.startsWith(arg),
      ),
    );
  });
});

describe('net: serveHttp3 with a failing handler', function () {
  this.timeout(30_000);
  let server: QuicEndpoint;
  let client: Http3Client;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    server = await serveHttp3(
      (req, res) => {
        res.setHeader('x-dropped', 'on failure');
        if (req.url === '/throw') throw new Error('synchronous throw');
        return (async () => {
          await new Promise((r) => setTimeout(r, 5));
          if (req.url === '/reject') throw new Error('async rejection');
          if (req.url === '/reject-after-headers') {
            res.write('partial');
            await new Promise((r) => setTimeout(r, 5));
            throw new Error('late rejection');
          }
          res.end('fine');
        })();
      },
      { ...creds, host: '127.0.0.1' },
    );
    client = await connectHttp3(`127.0.0.1:${server.address.port}`, tls);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await client.close();
    await server.close();
  });

  it('a throw or a rejected promise before anything was sent answers a bare 500', async () => {
    for (const path of ['/throw', '/reject']) {
      const res = await client.request(path);
      expect([res.status, res.fields, (await res.bytes()).length]).to.deep.equal([500, [], 0]);
    }
    expect(unhandled).to.deep.equal([]);
  });

  it('a rejection after the headers went out resets the stream with H3_INTERNAL_ERROR; the server goes on', async () => {
    const res = await client.request('/reject-after-headers');
    expect(res.status).to.equal(200);
    const err = await res.bytes().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.have.property('code', H3.INTERNAL_ERROR);
    expect(await (await client.request('/ok')).text()).to.equal('fine');
    expect(unhandled).to.deep.equal([]);
  });
});
