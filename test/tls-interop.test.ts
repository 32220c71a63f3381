// Interop with a real TLS 1.3 stack: Node >= 24 (OpenSSL 3.5) as a child process, over TCP on
// loopback, using our engine with the minimal record layer (lib/tls/record.ts).
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { node24 } from './support/node24.js';
import { fixture, serverCreds } from './support/tls-pair.js';
import { runClient, startServer } from './support/tls-tcp.js';
import { TicketKeys } from '../lib/tls/session-ticket.js';
import type { GroupName } from '../lib/crypto/groups.js';

const PEER = join(dirname(fileURLToPath(import.meta.url)), 'support', 'tls-peer.mjs');

interface PeerLine {
  listening?: number;
  connected?: boolean;
  cipher?: string;
  ephemeral?: { type: string; name: string };
  alpn?: string | null;
  resumed?: boolean;
  data?: string;
  session?: string;
  error?: string;
  peerCert?: string | null;
  keylog?: string;
}

class Peer {
  readonly lines: PeerLine[] = [];
  private waiters: (() => void)[] = [];
  readonly child: ChildProcess;
  constructor(cfg: object) {
    this.child = spawn(node24(), [PEER, JSON.stringify(cfg)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    createInterface({ input: this.child.stdout! }).on('line', (l) => {
      this.lines.push(JSON.parse(l) as PeerLine);
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.on('exit', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async waitFor(pred: (l: PeerLine) => boolean, what: string, ms = 10_000): Promise<PeerLine> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      const err = this.lines.find((l) => l.error);
      if (err) throw new Error(`peer error while waiting for ${what}: ${err.error}`);
      if (this.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`peer: no ${what} (${JSON.stringify(this.lines)})`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  stop(): void {
    this.child.stdin!.end();
    this.child.kill();
  }
}

const NODE_GROUP: Record<string, { curve: string; ephemeral: string }> = {
  X25519MLKEM768: { curve: 'X25519MLKEM768', ephemeral: 'X25519MLKEM768' },
  X25519: { curve: 'X25519', ephemeral: 'X25519' },
  secp256r1: { curve: 'P-256', ephemeral: 'prime256v1' },
};
const SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const GROUPS: GroupName[] = ['X25519MLKEM768', 'X25519', 'secp256r1'];
const creds = serverCreds();
const ca = fixture('ca.pem');
const ourClient = { servername: 'localhost', ca, alpn: ['zq'] };

describe('tls interop with Node 24 / OpenSSL 3.5 over TCP', function () {
  this.timeout(60_000);
  before(function () {
    this.timeout(300_000);
    node24();
  });

  describe('our client, their server', () => {
    for (const group of GROUPS)
      it(`${group}: every cipher suite${group === 'secp256r1' ? ' (their HelloRetryRequest)' : ''}`, async () => {
        const peer = new Peer({
          mode: 'server',
          groups: NODE_GROUP[group]!.curve,
          key: creds.keys,
          cert: creds.certs,
          alpn: ['zq'],
        });
        try {
          const { listening } = await peer.waitFor((l) => l.listening !== undefined, 'listening');
          for (const [i, cipher] of SUITES.entries()) {
            const run = await runClient(
              listening!,
              { ...ourClient, ciphers: cipher },
              `hello ${cipher}`,
            );
            const theirs = await peer.waitFor(
              (l) => l.connected === true && peer.lines.filter((x) => x.connected).indexOf(l) === i,
              'connection',
            );
            expect(run.info).to.include({
              group,
              cipher,
              alpn: 'zq',
              helloRetryRequest: group === 'secp256r1',
            });
            expect(theirs.cipher).to.equal(cipher);
            expect(theirs.alpn).to.equal('zq');
            expect(run.reply).to.equal(`echo:hello ${cipher}`);
          }
        } finally {
          peer.stop();
        }
      });

    for (const kind of ['ecdsa-p384', 'ed25519', 'rsa', 'rsa-pss'])
      it(`their ${kind} certificate and CertificateVerify`, async () => {
        const c = serverCreds(kind);
        const peer = new Peer({ mode: 'server', key: c.keys, cert: c.certs });
        try {
          const { listening } = await peer.waitFor((l) => l.listening !== undefined, 'listening');
          const run = await runClient(listening!, ourClient);
          expect(run.reply).to.equal('echo:hello');
          expect(run.info.peerCertificate!.subject).to.contain(`zquic ${kind}`);
        } finally {
          peer.stop();
        }
      });

    it('resumption with their ticket (psk_dhe_ke, X25519MLKEM768 again)', async () => {
      const peer = new Peer({ mode: 'server', key: creds.keys, cert: creds.certs });
      try {
        const { listening } = await peer.waitFor((l) => l.listening !== undefined, 'listening');
        const first = await runClient(listening!, ourClient, 'one', 1);
        expect(first.tickets.length).to.be.greaterThan(0);
        const second = await runClient(
          listening!,
          { ...ourClient, session: first.tickets[0]! },
          'two',
        );
        expect(second.info).to.include({
          resumed: true,
          group: 'X25519MLKEM768',
          postQuantum: true,
        });
        expect(second.reply).to.equal('echo:two');
        await peer.waitFor((l) => l.connected === true && l.resumed === true, 'resumed connection');
      } finally {
        peer.stop();
      }
    });

    it("our key log lines equal OpenSSL's (SSLKEYLOGFILE format)", async () => {
      const peer = new Peer({ mode: 'server', key: creds.keys, cert: creds.certs, keylog: true });
      try {
        const { listening } = await peer.waitFor((l) => l.listening !== undefined, 'listening');
        const ours: string[] = [];
        await runClient(listening!, { ...ourClient, keylog: (l) => ours.push(l) });
        expect(ours).to.have.length(5);
        // OpenSSL's lines come in its own order: wait for as many as ours.
        const logged = () => peer.lines.filter((l) => l.keylog).length;
        await peer.waitFor(() => logged() >= ours.length, 'key log');
        const theirs = peer.lines.filter((l) => l.keylog).map((l) => l.keylog!);
        for (const line of ours) expect(theirs).to.include(line);
      } finally {
        peer.stop();
      }
    });

    it('KeyUpdate both ways over the record layer', async () => {
      const peer = new Peer({ mode: 'server', key: creds.keys, cert: creds.certs });
      try {
        const { listening } = await peer.waitFor((l) => l.listening !== undefined, 'listening');
        const run = await runClient(listening!, ourClient, 'after update', 0, true);
        expect(run.reply).to.equal('echo:after update');
      } finally {
        peer.stop();
      }
    });

    it('mutual TLS: their server requires and verifies our client certificate', async () => {
      const peer = new Peer({ mode: 'server', key: creds.keys, cert: creds.certs, ca });
      try {
        const { listening } = await peer.waitFor((l) => l.listening !== undefined, 'listening');
        const run = await runClient(listening!, {
          ...ourClient,
          certs: fixture('client.pem') + fixture('int.pem'),
          keys: fixture('client.key'),
        });
        expect(run.reply).to.equal('echo:hello');
        const theirs = await peer.waitFor((l) => l.connected === true, 'connection');
        expect(theirs.peerCert).to.equal('zquic client');
      } finally {
        peer.stop();
      }
    });
  });

  describe('their client, our server', () => {
    const keys = new TicketKeys();
    async function theirClient(port: number, cfg: object): Promise<PeerLine[]> {
      const peer = new Peer({ mode: 'client', port, servername: 'localhost', ca, ...cfg });
      try {
        await peer.waitFor((l) => l.data !== undefined, 'reply');
        await new Promise<void>((r) =>
          peer.child.exitCode !== null ? r() : peer.child.on('exit', () => r()),
        );
        return peer.lines;
      } finally {
        peer.stop();
      }
    }

    for (const group of GROUPS)
      for (const cipher of SUITES)
        it(`${group} x ${cipher}`, async () => {
          const server = await startServer(() => ({ ...creds, ciphers: cipher, groups: [group] }));
          try {
            const lines = await theirClient(server.port, {
              groups: NODE_GROUP[group]!.curve,
              ciphers: cipher,
            });
            const c = lines.find((l) => l.connected)!;
            expect(c.cipher).to.equal(cipher);
            expect(c.ephemeral!.name).to.equal(NODE_GROUP[group]!.ephemeral);
            expect(lines.find((l) => l.data)!.data).to.equal('echo:ping');
            expect(server.infos[0]).to.include({ group, cipher, helloRetryRequest: false });
            expect(server.errors).to.deep.equal([]);
          } finally {
            await server.close();
          }
        });

    for (const kind of ['ecdsa-p384', 'ed25519', 'rsa', 'rsa-pss'])
      it(`our ${kind} certificate and CertificateVerify`, async () => {
        const server = await startServer(() => ({ ...serverCreds(kind) }));
        try {
          const lines = await theirClient(server.port, {});
          expect(lines.find((l) => l.data)!.data).to.equal('echo:ping');
          expect(server.errors).to.deep.equal([]);
        } finally {
          await server.close();
        }
      });

    it('mutual TLS: our server verifies their client certificate', async () => {
      const server = await startServer(() => ({ ...creds, requestCert: true, ca }));
      try {
        const lines = await theirClient(server.port, {
          cert: fixture('client.pem') + fixture('int.pem'),
          key: fixture('client.key'),
        });
        expect(lines.find((l) => l.data)!.data).to.equal('echo:ping');
        expect(server.infos[0]!.peerCertificate!.subject).to.contain('zquic client');
      } finally {
        await server.close();
      }
    });

    it('our HelloRetryRequest upgrades their X25519-first client to X25519MLKEM768', async () => {
      const server = await startServer(() => ({ ...creds }));
      try {
        const lines = await theirClient(server.port, { groups: 'X25519:X25519MLKEM768' });
        expect(lines.find((l) => l.connected)!.ephemeral!.name).to.equal('X25519MLKEM768');
        expect(server.infos[0]).to.include({
          group: 'X25519MLKEM768',
          helloRetryRequest: true,
          postQuantum: true,
        });
      } finally {
        await server.close();
      }
    });

    it('resumption with our stateless ticket, ALPN negotiated', async () => {
      const server = await startServer(() => ({ ...creds, ticketKeys: keys, alpn: ['zq'] }));
      try {
        const first = await theirClient(server.port, { alpn: ['zq'] });
        const session = first.find((l) => l.session)?.session;
        expect(session, 'their client got our ticket').to.be.a('string');
        expect(first.find((l) => l.connected)!.alpn).to.equal('zq');
        const second = await theirClient(server.port, { alpn: ['zq'], session });
        expect(second.find((l) => l.connected)!.resumed).to.equal(true);
        expect(second.find((l) => l.data)!.data).to.equal('echo:ping');
        expect(server.infos[1]).to.include({ resumed: true, group: 'X25519MLKEM768' });
      } finally {
        await server.close();
      }
    });
  });
});
