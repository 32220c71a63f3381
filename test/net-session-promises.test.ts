// A session makes its `opened` and `closed` promises when first asked for (memory per idle
// session) or when it ends: whenever they are asked for, they settle as they always did.
import { expect } from 'chai';

import { QuicSessionError, connect, listen, type QuicEndpoint } from '../lib/index.js';
import { fixture, serverCreds } from './support/tls-pair.js';

const clientTls = { alpn: 'echo', ca: fixture('ca.pem'), servername: 'localhost' };

describe('net session: opened and closed asked for late', () => {
  let server: QuicEndpoint;
  before(async () => {
    server = await listen((s) => void s.closed.catch(() => {}), {
      ...serverCreds(),
      alpn: 'echo',
      host: '127.0.0.1',
    });
  });
  after(() => server.destroy());
  const addr = () => `127.0.0.1:${server.address.port}`;

  it('a session without listeners: none seen, emit() unheard, the first listener works', async () => {
    const s = await connect(addr(), clientTls);
    await s.opened;
    expect(s.eventNames()).to.deep.equal([]);
    expect(s.listenerCount('goaway')).to.equal(0);
    expect(s.listeners('goaway')).to.deep.equal([]);
    expect(s.emit('goaway', 1)).to.equal(false);
    s.removeListener('goaway', () => {}).removeAllListeners('goaway');
    const every: number[] = [];
    const first: number[] = [];
    const onGoaway = (id: number) => every.push(id);
    s.on('goaway', onGoaway).once('goaway', (id) => first.push(id));
    expect(s.emit('goaway', 4)).to.equal(true);
    s.emit('goaway', 8);
    expect(every).to.deep.equal([4, 8]);
    expect(first).to.deep.equal([4]);
    s.off('goaway', onGoaway);
    expect(s.emit('goaway', 12)).to.equal(false);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.destroy();
    await closed;
  });

  it('opened, asked for after the handshake, resolves with the handshake summary', async () => {
    const s = await connect(addr(), clientTls);
    await new Promise<void>((r) => s.once('handshake', () => r()));
    const info = await s.opened;
    expect(info).to.equal(s.handshake);
    expect(s.opened).to.equal(s.opened); // the same promise each time
    s.destroy();
    await s.closed;
  });

  it('closed, asked for only after the session ended, settles like before', async () => {
    const clean = await connect(addr(), clientTls);
    await clean.opened;
    clean.destroy();
    await new Promise<void>((r) => clean.once('close', () => r()));
    await clean.closed; // resolves: a close with the no-error code

    const failed = await connect(addr(), clientTls);
    await failed.opened;
    failed.destroy(new Error('gave up'), 7);
    await new Promise<void>((r) => failed.once('close', () => r()));
    const err = await failed.closed.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(Error);
    expect((err as Error).message).to.equal('gave up');
  });

  it('opened, asked for only after a failed handshake, rejects with the reason', async () => {
    const s = await connect(addr(), { ...clientTls, alpn: 'other', handshakeTimeout: 5000 });
    await new Promise<void>((r) => s.once('close', () => r()));
    const err = await s.opened.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(QuicSessionError);
    expect((err as QuicSessionError).code).to.match(/^ERR_QUIC_TLS_/);
    await s.closed.then(
      () => expect.fail('closed must reject'),
      (e: unknown) => expect(e).to.equal(err),
    );
  });
});
