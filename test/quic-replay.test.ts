/**
 * A client/server pair in simulated time replays byte for byte from its seed: config.random
 * feeds the QUIC layer and, through it, the TLS engines (Hello randoms, key shares, ticket
 * nonces and age_add). The server signs with Ed25519, whose signatures carry no randomness
 * (RFC 8032 §5.1.6); ECDSA and RSA-PSS signatures draw their own.
 */
import { expect } from 'chai';
import { ClientKeyShare, serverKeyShare, type GroupName } from '../lib/crypto/groups.js';
import { mlkem } from '../lib/crypto/mlkem.js';
import { TlsClient } from '../lib/tls/client.js';
import { TlsServer } from '../lib/tls/server.js';
import { TicketKeys } from '../lib/tls/session-ticket.js';
import { Link, clientConfig, serverConfig } from './support/link.js';
import { seededRandom } from './support/seeded-random.js';
import { clientOptions, serverCreds, serverOptions } from './support/tls-pair.js';

/** Every datagram both sides sent, in order, as hex with its direction: a handshake, one
 * stream each way, a session ticket, and the close. */
function run(seed: string, group: GroupName): string[] {
  const client = clientConfig({ random: seededRandom(`${seed}/client`) });
  client.tls = { ...client.tls, groups: [group], keyShares: [group] } as typeof client.tls;
  const server = serverConfig({ random: seededRandom(`${seed}/server`) });
  server.tls = {
    ...server.tls,
    ...serverCreds('ed25519'),
    ticketKeys: new TicketKeys(undefined, undefined, seededRandom(`${seed}/tickets`)),
  } as typeof server.tls;
  const l = new Link(client, server);
  const trace: string[] = [];
  l.tap = (d) => {
    trace.push(`${d.toServer ? '>' : '<'} ${d.data.toString('hex')}`);
    return d.data;
  };
  expect(l.run(() => l.server?.state === 'established' && l.client.state === 'established')).to.be
    .true;
  // An echo: the server answers the client's stream once it has read all of it.
  const got: string[] = [];
  l.onEvent = (side, ev) => {
    if (ev.type !== 'readable') return;
    const c = l.conn(side);
    for (let d = c.read(ev.streamId); d; d = c.read(ev.streamId))
      got.push(`${side}: ${Buffer.from(d).toString()}`);
    if (side === 'server' && c.isFinished(ev.streamId))
      c.write(ev.streamId, Buffer.from('pong'), true);
  };
  const s = l.client.openStream(true)!;
  l.client.write(s, Buffer.from('ping'), true);
  expect(l.run(() => l.client.isFinished(s))).to.be.true;
  expect(got).to.deep.equal(['server: ping', 'client: pong']);
  expect(l.events.client.some((e) => e.type === 'session-ticket')).to.be.true;
  l.client.close(0, 'done', true, l.now);
  l.run(() => l.server!.state !== 'established');
  return trace;
}

describe('quic replay: a run repeats byte for byte from its seed', () => {
  const groups: GroupName[] = ['X25519MLKEM768', 'SecP256r1MLKEM768', 'X25519'];
  for (const group of groups)
    it(`${group}: the same seed gives the same datagrams, another seed others`, function () {
      // The WebAssembly ML-KEM backend takes no seed (its key shares draw their own).
      if (group !== 'X25519' && !mlkem('ML-KEM-768').deterministic) this.skip();
      const a = run('seed-1', group);
      const b = run('seed-1', group);
      expect(a.length).to.be.greaterThan(6);
      expect(b).to.deep.equal(a);
      // Another seed: other CIDs, randoms and keys in every datagram.
      const seen = new Set(a);
      expect(run('seed-2', group).filter((d) => seen.has(d))).to.deep.equal([]);
    });

  it('key shares repeat from a seeded source and still agree on the secret', function () {
    for (const group of [
      'X25519MLKEM768',
      'SecP256r1MLKEM768',
      'MLKEM768',
      'X25519',
      'secp256r1',
    ] as const) {
      const pq = group !== 'X25519' && group !== 'secp256r1';
      if (pq && !mlkem('ML-KEM-768').deterministic) continue;
      const share = (seed: string) =>
        ClientKeyShare.generate(group, { random: seededRandom(seed) });
      const c1 = share('a');
      const c2 = share('a');
      expect(c1.share.equals(c2.share), group).to.be.true;
      expect(c1.share.equals(share('b').share), group).to.be.false;
      const s1 = serverKeyShare(group, c1.share, { random: seededRandom('s') });
      const s2 = serverKeyShare(group, c1.share, { random: seededRandom('s') });
      expect(s1.share.equals(s2.share), group).to.be.true;
      expect(c1.complete(s1.share).equals(s1.sharedSecret), group).to.be.true;
      c2.destroy();
    }
  });

  it('a random option that is not a function, or answers wrongly, is a TypeError', () => {
    expect(() => ClientKeyShare.generate('X25519', { random: 7 as never })).to.throw(
      TypeError,
      /options\.random/,
    );
    const short = () => new Uint8Array(3);
    expect(() => ClientKeyShare.generate('X25519', { random: short })).to.throw(
      TypeError,
      /options\.random/,
    );
    expect(() => new TicketKeys(undefined, undefined, 'x' as never)).to.throw(TypeError, /random/);
    expect(() => new TlsClient(clientOptions({ random: 1 as never }))).to.throw(
      TypeError,
      /random/,
    );
    expect(() => new TlsServer(serverOptions({ random: short }))).to.throw(TypeError, /random/);
  });
});
