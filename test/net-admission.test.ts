// The admission limits through listen() over real UDP on loopback: a half-open handshake (half
// a ClientHello, then silence) is abandoned by the endpoint's own timer, the per-address limit
// refuses the next one, both counted in `stats`; invalid limit options are refused.
import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';

import { QuicSessionError, listen, type QuicEndpoint, type QuicSession } from '../lib/index.js';
import { Connection } from '../lib/quic/connection.js';
import { clientConfig } from './support/link.js';
import { serverCreds } from './support/tls-pair.js';

const creds = serverCreds();

/** Resolves once `cond()` holds (checked after I/O). */
async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

describe('net: admission limits of a listening endpoint', () => {
  let server: QuicEndpoint | undefined;
  let raw: Socket | undefined;

  afterEach(async () => {
    raw?.close();
    raw = undefined;
    await server?.close();
    server = undefined;
  });

  it('a half-open handshake is abandoned after halfOpenTimeout; the per-address limit holds', async () => {
    const sessions: QuicSession[] = [];
    server = await listen((s) => sessions.push(s), {
      ...creds,
      alpn: 'echo',
      host: '127.0.0.1',
      halfOpenTimeout: 200,
      maxHandshakesPerAddress: 1,
    });
    const port = server.address.port;
    raw = createSocket('udp4');
    await new Promise<void>((r) => raw!.bind(0, '127.0.0.1', r));
    // Two clients' first datagrams only: half an X25519MLKEM768 ClientHello each.
    for (let i = 0; i < 2; i++) {
      const c = Connection.connect(
        clientConfig(),
        { address: '127.0.0.1', port, family: 'IPv4' },
        0,
      );
      raw.send(Buffer.from(c.send(0)[0]!.data), port, '127.0.0.1');
    }
    const ep = server;
    await until(() => ep.stats.accepted + ep.stats.refusedPerAddress === 2);
    expect(ep.stats).to.include({ accepted: 1, refusedPerAddress: 1 });
    expect(sessions.length).to.equal(1);
    const err = await sessions[0]!.opened.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(QuicSessionError);
    expect((err as QuicSessionError).kind).to.equal('handshake-timeout');
    expect((err as QuicSessionError).message).to.match(/half-open/);
    expect(ep.stats.halfOpenExpired).to.equal(1);
    expect(ep.sessionCount).to.equal(0);
  });

  it('listen() refuses invalid limits with a RangeError naming the option', async () => {
    for (const [name, bad] of [
      ['maxHandshakesPerAddress', 0],
      ['maxHandshakesPerPrefix', -3],
      ['halfOpenTimeout', 0.5],
      ['retryThreshold', -1],
      ['windowPool', -1],
    ] as const) {
      const err = await listen(() => {}, {
        ...creds,
        alpn: 'echo',
        host: '127.0.0.1',
        [name]: bad,
      }).then(
        (ep) => ep.close(),
        (e: unknown) => e,
      );
      expect(err, name).to.be.instanceOf(RangeError);
      expect((err as Error).message, name).to.include(name);
    }
  });
});
