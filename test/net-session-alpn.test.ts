// session.alpnProtocol and the 'alpn' event: a server offering several protocols learns each
// session's from the ClientHello (RFC 7301 §3.2), before any stream is delivered.
import { expect } from 'chai';

import { connect, listen, type QuicEndpoint, type QuicSession } from '../lib/index.js';
import { fixture, serverCreds } from './support/tls-pair.js';

const clientTls = { ca: fixture('ca.pem'), servername: 'localhost' };

describe('net session: alpnProtocol', function () {
  this.timeout(30_000);
  let server: QuicEndpoint;
  /** Per server session: what it heard, in order. */
  const heard: string[][] = [];

  before(async () => {
    server = await listen(
      (s: QuicSession) => {
        const log: string[] = [];
        heard.push(log);
        s.on('alpn', (p) => log.push(`alpn ${p}`));
        s.on('stream', (stream) => {
          log.push(`stream (alpnProtocol ${s.alpnProtocol})`);
          stream.end(s.alpnProtocol);
          stream.resume();
        });
      },
      { ...serverCreds(), alpn: ['first', 'second'], host: '127.0.0.1' },
    );
  });
  after(() => server.destroy());

  async function ask(alpn: string[]): Promise<{ client: string | undefined; answer: string }> {
    const s = await connect(`127.0.0.1:${server.address.port}`, { ...clientTls, alpn });
    const stream = await s.createBidirectionalStream();
    stream.end();
    let answer = '';
    for await (const c of stream) answer += String(c);
    const client = s.alpnProtocol;
    await s.close();
    return { client, answer };
  }

  it("each session gets the server's choice, announced once and before its first stream", async () => {
    expect(await ask(['second'])).to.deep.equal({ client: 'second', answer: 'second' });
    // The server's preference order decides between protocols both offer.
    expect(await ask(['second', 'first'])).to.deep.equal({ client: 'first', answer: 'first' });
    expect(heard).to.deep.equal([
      ['alpn second', 'stream (alpnProtocol second)'],
      ['alpn first', 'stream (alpnProtocol first)'],
    ]);
  });

  it('is undefined on a client before the server answered', async () => {
    const s = await connect(`127.0.0.1:${server.address.port}`, { ...clientTls, alpn: 'first' });
    expect(s.alpnProtocol).to.equal(undefined);
    expect((await s.opened).alpn).to.equal('first');
    expect(s.alpnProtocol).to.equal('first');
    await s.close();
  });
});
