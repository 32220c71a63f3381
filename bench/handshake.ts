// TLS handshake benchmark: a full in-memory TLS 1.3 handshake (client + server engines in one
// process, no network: ClientHello .. client Finished, ECDSA P-256 certificate chain verified)
// for X25519, X25519MLKEM768 and MLKEM768, per available ML-KEM backend, in one run.
// Run: `npm run bench:handshake [-- --json] [-- --ms=1500]`. Goals (issue 4): X25519MLKEM768
// median <= 1.0 ms and <= 1.3x the X25519 handshake measured in the same run.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { kemBackends, type KemBackendName } from '../lib/crypto/mlkem.js';
import { ClientKeyShare, serverKeyShare, type GroupName } from '../lib/crypto/groups.js';
import {
  TlsClient,
  TlsServer,
  type TlsEngine,
  type TlsClientOptions,
  type TlsServerOptions,
} from '../lib/tls/index.js';

function fixtures(): string {
  // Works from bench/ (tsx) and from dist/bench/ (compiled).
  for (let d = dirname(fileURLToPath(import.meta.url)); d !== dirname(d); d = dirname(d)) {
    const f = join(d, 'test', 'fixtures', 'tls');
    if (existsSync(f)) return f;
  }
  throw new Error('test/fixtures/tls not found');
}

/** One complete handshake; returns its duration in microseconds. */
function handshake(copts: TlsClientOptions, sopts: TlsServerOptions, now: number): number {
  const t0 = performance.now();
  const client = new TlsClient(copts);
  const server = new TlsServer(sopts);
  client.start(now);
  const pump = (from: TlsEngine, to: TlsEngine): boolean => {
    let moved = false;
    for (let ev = from.poll(); ev; ev = from.poll()) {
      moved = true;
      if (ev.type === 'data') to.receive(ev.level, ev.data, now);
    }
    return moved;
  };
  while (pump(client, server) || pump(server, client));
  if (!client.complete || !server.complete) throw new Error('handshake did not complete');
  return (performance.now() - t0) * 1000;
}

export interface HandshakeFigure {
  backend: KemBackendName;
  group: string;
  /** 'handshake': the full TLS handshake; 'key-exchange': the group's key share operations alone. */
  what: 'handshake' | 'key-exchange';
  medianUs: number;
  perSecond: number;
  runs: number;
  ratioToX25519?: number;
}

export function runHandshakeBench(durationMs = 1500): HandshakeFigure[] {
  const dir = fixtures();
  const read = (n: string) => readFileSync(join(dir, n), 'utf8');
  const now = Date.now();
  const base = { alpn: ['h3'], transportParameters: Buffer.from('bench') };
  const sopts: TlsServerOptions = {
    ...base,
    certs: read('ecdsa-p256.pem') + read('int.pem'),
    keys: read('ecdsa-p256.key'),
  };
  const copts: TlsClientOptions = { ...base, servername: 'localhost', ca: read('ca.pem') };
  const groups: GroupName[] = ['X25519', 'X25519MLKEM768', 'MLKEM768'];
  const out: HandshakeFigure[] = [];
  for (const b of kemBackends().filter((x) => x.available)) {
    const rows: HandshakeFigure[] = [];
    for (const group of groups) {
      const c = { ...copts, groups: [group], kemBackend: b.name };
      const s = { ...sopts, groups: [group], kemBackend: b.name };
      for (let i = 0; i < 30; i++) handshake(c, s, now); // warm up
      const samples: number[] = [];
      const end = performance.now() + durationMs;
      while (performance.now() < end || samples.length < 50) samples.push(handshake(c, s, now));
      samples.sort((x, y) => x - y);
      const total = samples.reduce((a, x) => a + x, 0);
      rows.push({
        backend: b.name,
        group,
        what: 'handshake',
        medianUs: samples[samples.length >> 1]!,
        perSecond: (samples.length / total) * 1e6,
        runs: samples.length,
      });
    }
    // Reference: the key exchange alone (client share, server share, client completion).
    const kex: HandshakeFigure[] = [];
    for (const group of groups) {
      const opts = { backend: b.name };
      const once = () => {
        const t0 = performance.now();
        const c = ClientKeyShare.generate(group, opts);
        c.complete(serverKeyShare(group, c.share, opts).share);
        c.destroy();
        return (performance.now() - t0) * 1000;
      };
      for (let i = 0; i < 30; i++) once();
      const samples: number[] = [];
      const end = performance.now() + durationMs / 3;
      while (performance.now() < end || samples.length < 50) samples.push(once());
      samples.sort((x, y) => x - y);
      const total = samples.reduce((a, x) => a + x, 0);
      kex.push({
        backend: b.name,
        group,
        what: 'key-exchange',
        medianUs: samples[samples.length >> 1]!,
        perSecond: (samples.length / total) * 1e6,
        runs: samples.length,
      });
    }
    for (const set of [rows, kex]) {
      const x = set[0]!.medianUs;
      for (const r of set) r.ratioToX25519 = r.medianUs / x;
    }
    out.push(...rows, ...kex);
  }
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const json = process.argv.includes('--json');
  const msArg = process.argv.find((a) => a.startsWith('--ms='));
  const figures = runHandshakeBench(msArg ? Number(msArg.slice(5)) : 1500);
  for (const f of figures) console.log(JSON.stringify({ bench: 'handshake', ...f }));
  if (!json) {
    console.log('\nbackend      measured      group            median µs        per s   x X25519');
    for (const f of figures)
      console.log(
        `${f.backend.padEnd(12)} ${f.what.padEnd(13)} ${f.group.padEnd(16)} ${f.medianUs.toFixed(0).padStart(9)}   ${f.perSecond.toFixed(0).padStart(10)}   ${f.ratioToX25519!.toFixed(2).padStart(8)}`,
      );
  }
}
