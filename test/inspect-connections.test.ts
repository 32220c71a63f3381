// `zquic inspect` on captures of real connections (in-memory Connections over
// test/support/link.ts or sans-IO Endpoints over test/support/endpoint-net.ts, written as a
// pcap): the client's later Initials go to the server's SCID (RFC 9000 §7.2) yet open with the
// keys of its first DCID (RFC 9001 §5.2), also after a Retry and when two connections'
// datagrams interleave.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { run } from '../lib/cli/inspect.js';
import { writePcap } from '../lib/tools/pcap.js';
import type { ConnectionConfig } from '../lib/quic/connection.js';
import { Endpoint } from '../lib/quic/endpoint.js';
import { EndpointNet } from './support/endpoint-net.js';
import { CLIENT_ADDR, Link, SERVER_ADDR, clientConfig, serverConfig } from './support/link.js';

interface Sent {
  toServer: boolean;
  data: Buffer;
  port: number;
}

/** Runs one handshake plus a moment of 1-RTT; returns the datagrams and the key log. */
function handshake(clientPort: number): { sent: Sent[]; keylog: string[] } {
  const keylog: string[] = [];
  const client = clientConfig();
  client.tls = { ...client.tls, keylog: (line) => void keylog.push(line) };
  const link = new Link(client, serverConfig());
  const sent: Sent[] = [];
  link.tap = ({ toServer, data }) => {
    sent.push({ toServer, data: Buffer.from(data), port: clientPort });
    return data;
  };
  link.run(() => link.events.client.some((e) => e.type === 'handshake-complete'));
  link.run(() => false, 100);
  return { sent, keylog };
}

const withoutRole = ({ role, ...rest }: ConnectionConfig): Omit<ConnectionConfig, 'role'> => (
  void role,
  rest
);

/** The same through two sans-IO Endpoints, the server's validating addresses with Retry. */
function handshakeAfterRetry(): { sent: Sent[]; keylog: string[] } {
  const keylog: string[] = [];
  const net = new EndpointNet();
  const sent: Sent[] = [];
  net.tap = (d) => {
    sent.push({
      toServer: d.to === SERVER_ADDR,
      data: Buffer.from(d.data),
      port: CLIENT_ADDR.port,
    });
    return d.data;
  };
  net.add(
    'server',
    SERVER_ADDR,
    new Endpoint({ server: () => withoutRole(serverConfig()), retry: true }),
  );
  const client = net.add('client', CLIENT_ADDR, new Endpoint());
  let open = false;
  client.onEvent = (_, ev) => void (open ||= ev.type === 'handshake-complete');
  const config = withoutRole(clientConfig());
  net.connect(
    client,
    { ...config, tls: { ...config.tls, keylog: (l) => void keylog.push(l) } },
    SERVER_ADDR,
  );
  net.run(() => open);
  net.run(() => false, 100);
  return { sent, keylog };
}

async function inspectPcap(sent: Sent[], keylog: string[]): Promise<any> {
  const dir = mkdtempSync(join(tmpdir(), 'zquic-inspect-conns-'));
  const pcap = join(dir, 'capture.pcap');
  const keys = join(dir, 'keylog.txt');
  writeFileSync(
    pcap,
    writePcap(
      sent.map((d, i) => {
        const client = { addr: CLIENT_ADDR.address, port: d.port };
        const server = { addr: SERVER_ADDR.address, port: SERVER_ADDR.port };
        const [from, to] = d.toServer ? [client, server] : [server, client];
        return {
          src: from.addr,
          srcPort: from.port,
          dst: to.addr,
          dstPort: to.port,
          payload: d.data,
          time: 1700000000 + i / 1000,
        };
      }),
    ),
  );
  writeFileSync(keys, keylog.join('\n'));
  const out: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  try {
    expect(await run(['--json', '--keylog', keys, pcap])).to.equal(0);
  } finally {
    console.log = log;
  }
  return JSON.parse(out.join('\n'));
}

const initials = (report: any): any[] =>
  report.datagrams.flatMap((d: any) => d.packets).filter((p: any) => p.type === 'initial');

describe('zquic inspect: captures of real connections', () => {
  it("every Initial opens, including the client's ACK-only Initial to the server's SCID", async () => {
    const { sent, keylog } = handshake(40000);
    const report = await inspectPcap(sent, keylog);
    const all = initials(report);
    expect(all.filter((p) => !p.decrypted)).to.deep.equal([]);
    // The capture has what the bug needed: a client Initial whose DCID is not the first one.
    const first = all[0];
    const later = all.filter((p) => p.keys === 'client Initial' && p.dcid !== first.dcid);
    expect(later).to.not.be.empty;
    expect(later.every((p) => p.dcid === all.find((s) => s.keys === 'server Initial').scid)).to.be
      .true;
    expect(all.some((p) => p.keys === 'server Initial')).to.equal(true);
    // With the key log, the rest of the connection opens too.
    const packets = report.datagrams.flatMap((d: any) => d.packets);
    expect(packets.filter((p: any) => !p.decrypted)).to.deep.equal([]);
  });

  it('after a Retry: keys from the DCID the client chose after it, the Retry verified', async () => {
    const { sent, keylog } = handshakeAfterRetry();
    const report = await inspectPcap(sent, keylog);
    const packets = report.datagrams.flatMap((d: any) => d.packets);
    const retry = packets.filter((p: any) => p.type === 'retry');
    // One per datagram of the client's first flight (its ClientHello takes two); it uses one.
    expect(retry).to.not.be.empty;
    expect(retry.map((p: any) => p.retryIntegrity)).to.deep.equal(retry.map(() => 'valid'));
    const all = initials(report);
    expect(all.filter((p) => !p.decrypted)).to.deep.equal([]);
    // Initials with three DCIDs: the first, the Retry's SCID, and the server's SCID.
    expect(
      new Set(all.filter((p) => p.keys === 'client Initial').map((p) => p.dcid)).size,
    ).to.equal(3);
    expect(packets.filter((p: any) => p.type !== 'retry' && !p.decrypted)).to.deep.equal([]);
  });

  it('two interleaved connections: each Initial opens with its own connection keys', async () => {
    const a = handshake(40000);
    const b = handshake(40001);
    const sent: Sent[] = [];
    for (let i = 0; i < Math.max(a.sent.length, b.sent.length); i++)
      sent.push(...[a.sent[i], b.sent[i]].filter((d): d is Sent => d !== undefined));
    const all = initials(await inspectPcap(sent, [...a.keylog, ...b.keylog]));
    expect(all.filter((p) => !p.decrypted)).to.deep.equal([]);
    const firstDcids = new Set(all.filter((p) => p.keys === 'client Initial').map((p) => p.dcid));
    expect(firstDcids.size).to.equal(4); // two first DCIDs, two server SCIDs
  });
});
