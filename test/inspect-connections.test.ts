// `zquic inspect` on captures of real connections (two in-memory Connections over
// test/support/link.ts, written as a pcap): the client's later Initials go to the server's
// SCID (RFC 9000 §7.2) yet open with the keys of its first DCID (RFC 9001 §5.2), also when
// two connections' datagrams interleave.
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { run } from '../lib/cli/inspect.js';
import { writePcap } from '../lib/tools/pcap.js';
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
