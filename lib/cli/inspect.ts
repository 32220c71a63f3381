// `zquic inspect [options] [HEX | FILE | -]...`: decodes QUIC datagrams given as hex, raw
// files or pcap/pcapng captures (see lib/tools/inspect.ts). Bad input gives one line on
// stderr and exit code 1, never a stack trace.
import { existsSync, readFileSync } from 'node:fs';

import { isCapture, readCapture } from '../tools/pcap.js';
import {
  hexDump,
  inspect,
  splitGso,
  type InspectDatagram,
  type InspectOptions,
  type InspectReport,
  type Json,
} from '../tools/inspect.js';
import { reporter } from './args.js';

const USAGE = `usage: zquic inspect [options] [HEX | FILE | -]...

Decodes QUIC datagrams: a hex string, a file (raw datagram bytes, hex text with one datagram
per blank-line-separated block, or a pcap/pcapng capture of UDP), or stdin ('-' or nothing).
Initial packets are decrypted with keys derived from their connection's original DCID;
--keylog decrypts the rest.

options:
  --json             machine-readable output
  --dump             hex/ASCII dump of each datagram and decrypted payload
  --keylog FILE      SSLKEYLOGFILE with the handshake and traffic secrets
  --odcid HEX        original DCID (server Initials without the client's first Initial)
  --dcid-len N       DCID length of short header packets
  --largest-pn N     largest packet number already seen (packet number decoding)
  --color/--no-color force colour on or off (default: on for a TTY, off with NO_COLOR)
  -h, --help         this text`;

class InputError extends Error {}
/** A mistake in the options (exit code 2, like the other commands). */
class FlagError extends InputError {}

function parseHex(text: string, what: string): Buffer {
  let s = text.replace(/\s+/g, '');
  if (s.startsWith('0x') || s.startsWith('0X')) s = s.slice(2);
  if (!/^[0-9a-fA-F]*$/.test(s)) throw new InputError(`${what} is not a hex string`);
  if (s.length % 2) throw new InputError(`${what}: odd-length hex string`);
  if (s.length === 0) throw new InputError(`${what} is empty`);
  return Buffer.from(s, 'hex');
}

function looksLikeText(b: Buffer): boolean {
  for (const c of b)
    if (!(c === 9 || c === 10 || c === 13 || (c >= 0x20 && c < 0x7f))) return false;
  return true;
}

interface Source {
  datagrams: InspectDatagram[];
  capture: boolean;
}

function fromBytes(b: Buffer, what: string): Source {
  if (isCapture(b)) {
    const datagrams = readCapture(b).map((d) => ({
      data: d.payload,
      src: `${d.src}:${d.srcPort}`,
      dst: `${d.dst}:${d.dstPort}`,
      time: d.time,
    }));
    if (datagrams.length === 0) throw new InputError(`${what}: no UDP datagrams in the capture`);
    return { datagrams, capture: true };
  }
  if (b.length === 0) throw new InputError(`${what} is empty`);
  if (looksLikeText(b)) {
    const blocks = b
      .toString('latin1')
      .split(/\r?\n\s*\r?\n/)
      .filter((x) => x.trim() !== '' && !x.trim().startsWith('#'));
    return {
      datagrams: blocks.map((x, i) => ({
        data: parseHex(x, blocks.length > 1 ? `${what} block ${i + 1}` : what),
      })),
      capture: false,
    };
  }
  return { datagrams: [{ data: b }], capture: false };
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

interface Style {
  bold(s: string): string;
  dim(s: string): string;
  type(s: string): string;
  ok(s: string): string;
  bad(s: string): string;
}

function style(on: boolean): Style {
  const c = (code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);
  return { bold: c('1'), dim: c('2'), type: c('36'), ok: c('32'), bad: c('31') };
}

const TYPE_NAMES: Record<string, string> = {
  initial: 'Initial',
  '0rtt': '0-RTT',
  handshake: 'Handshake',
  retry: 'Retry',
  '1rtt': '1-RTT',
  version_negotiation: 'VersionNegotiation',
};

function value(v: Json): string {
  if (Array.isArray(v)) return v.map((x) => (Array.isArray(x) ? x.join('-') : value(x))).join(', ');
  if (v && typeof v === 'object')
    return Object.entries(v)
      .map(([k, x]) => `${k}=${value(x)}`)
      .join(' ');
  return String(v);
}

function table(rows: Array<[string, Json | undefined]>, indent: string, st: Style): string[] {
  const present = rows.filter(([, v]) => v !== undefined) as Array<[string, Json]>;
  const width = Math.max(0, ...present.map(([k]) => k.length));
  return present.map(([k, v]) => `${indent}${st.dim(k.padEnd(width))}  ${value(v)}`);
}

function render(
  report: InspectReport,
  dump: boolean,
  raw: readonly InspectDatagram[],
  st: Style,
): string {
  const out: string[] = [];
  for (const d of report.datagrams) {
    const addr = d.src ? `  ${d.src} → ${d.dst}` : '';
    const gso = d.segment ? `  (GSO segment ${d.segment})` : '';
    out.push(st.bold(`datagram ${d.index}`) + `  ${d.length} bytes${addr}${gso}`);
    if (dump) out.push(hexDump(raw[d.index]!.data, '    '));
    for (const p of d.packets) {
      const head = [st.type(TYPE_NAMES[p.type] ?? p.type)];
      if (p.version) head.push(p.version);
      head.push(`dcid=${p.dcid || '-'}`);
      if (p.scid !== undefined) head.push(`scid=${p.scid || '-'}`);
      if (p.token !== undefined) head.push(`token=${p.token ? `${p.token.length / 2}B` : '-'}`);
      head.push(`len=${p.length}`);
      if (p.pn !== undefined) head.push(`pn=${p.pn}`);
      if (p.keyPhase !== undefined) head.push(`kp=${p.keyPhase}`);
      if (p.supportedVersions) head.push(`versions=${p.supportedVersions.join(',')}`);
      if (p.retryIntegrity) head.push(`integrity=${p.retryIntegrity}`);
      if (p.keys) head.push(st.ok(`[${p.keys}]`));
      if (p.note) head.push(st.dim(`(${p.note})`));
      out.push(`  ${head.join('  ')}`);
      const frames = p.frames ?? [];
      const width = Math.max(0, ...frames.map((f) => String(f.type).length));
      for (const f of frames) {
        const { type, ...rest } = f;
        out.push(`      ${String(type).toUpperCase().padEnd(width)}  ${value(rest)}`.trimEnd());
      }
      if (p.frameError) out.push(`      ${st.bad(`frame error: ${p.frameError}`)}`);
      if (dump && p.plaintext) out.push(st.dim('      plaintext:'), hexDump(p.plaintext, '      '));
    }
    if (d.error) out.push(`  ${st.bad(`unparseable: ${d.error}`)}`);
  }
  const tls = report.tls;
  const hello = (title: string, o: { [k: string]: Json } | undefined): void => {
    if (!o) return;
    out.push('', st.bold(title));
    const { transportParameters, ...rest } = o;
    out.push(
      ...table(
        [
          ['server name', rest.serverName],
          ['ALPN', rest.alpn],
          ['cipher suites', rest.cipherSuites],
          ['cipher suite', rest.cipherSuite],
          ['versions', rest.supportedVersions],
          ['supported groups', rest.supportedGroups],
          [
            'key shares',
            Array.isArray(rest.keyShares)
              ? (rest.keyShares as Array<{ group: string; length: number }>).map(
                  (k) => `${k.group} (${k.length} bytes)`,
                )
              : undefined,
          ],
          [
            'key share',
            rest.keyShare
              ? `${(rest.keyShare as { group: string }).group} (${(rest.keyShare as { length: number }).length} bytes)`
              : undefined,
          ],
          ['selected group', rest.selectedGroup],
          ['signature algs', rest.signatureAlgorithms],
          ['psk modes', rest.pskKeyExchangeModes],
          ['early data', rest.earlyData],
          ['HelloRetryRequest', rest.helloRetryRequest === true ? true : undefined],
          ['random', rest.random],
          ['transport params', rest.transportParametersError],
        ],
        '  ',
        st,
      ),
    );
    if (
      transportParameters &&
      typeof transportParameters === 'object' &&
      !Array.isArray(transportParameters)
    ) {
      out.push(`  ${st.dim('transport params')}`);
      out.push(...table(Object.entries(transportParameters), '    ', st));
    }
  };
  hello('ClientHello', tls.clientHello);
  hello('ServerHello', tls.serverHello);
  hello('EncryptedExtensions', tls.encryptedExtensions);
  if (tls.messages.length) {
    out.push('', st.bold('TLS messages'));
    for (const m of tls.messages)
      out.push(`  ${m.from.padEnd(6)}  ${m.level.padEnd(9)}  ${m.type} (${m.length} bytes)`);
  }
  for (const e of tls.errors) out.push(st.bad(`TLS: ${e}`));
  return out.join('\n');
}

function intOption(v: string | undefined, name: string, min: number, max: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min || n > max)
    throw new FlagError(`${name} needs an integer in [${min}, ${max}]`);
  return n;
}

export async function run(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    const report = reporter('inspect', argv);
    const msg = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
    return err instanceof FlagError ? report.usage(msg) : report.fail(msg);
  }
}

async function main(argv: string[]): Promise<number> {
  let json = false;
  let dump = false;
  let color: boolean | undefined;
  const options: InspectOptions = {};
  const inputs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    switch (a) {
      case '-h':
      case '--help':
        console.log(USAGE);
        return 0;
      case '--json':
        json = true;
        break;
      case '--dump':
        dump = true;
        break;
      case '--color':
        color = true;
        break;
      case '--no-color':
        color = false;
        break;
      case '--keylog': {
        const f = argv[++i];
        if (!f) throw new FlagError('--keylog needs a file');
        if (!existsSync(f)) throw new FlagError(`keylog file ${f} does not exist`);
        options.keylog = readFileSync(f, 'utf8');
        break;
      }
      case '--odcid':
        (options.originalDcids ??= []).push(parseHex(argv[++i] ?? '', '--odcid'));
        break;
      case '--dcid-len':
        options.shortDcidLength = intOption(argv[++i], '--dcid-len', 0, 20);
        break;
      case '--largest-pn':
        options.largestPn = intOption(argv[++i], '--largest-pn', -1, Number.MAX_SAFE_INTEGER);
        break;
      default:
        if (a.startsWith('--')) throw new FlagError(`unknown option '${a}'`);
        inputs.push(a);
    }
  }
  if (inputs.length === 0) {
    if (process.stdin.isTTY) {
      console.error(USAGE);
      return 2;
    }
    inputs.push('-');
  }
  let datagrams: InspectDatagram[] = [];
  let capture = false;
  for (const input of inputs) {
    let src: Source;
    if (input === '-') src = fromBytes(await readStdin(), 'stdin');
    else if (existsSync(input)) src = fromBytes(readFileSync(input), input);
    else src = { datagrams: [{ data: parseHex(input, 'argument') }], capture: false };
    datagrams.push(...src.datagrams);
    capture ||= src.capture;
  }
  // Captures come from real peers: undo GSO, and accept a fixed bit of 0 (RFC 9287: peers that
  // negotiated grease_quic_bit clear it). Direct input stays strict, so garbage is an error.
  if (capture) {
    datagrams = splitGso(datagrams);
    options.greaseQuicBit = true;
  }
  const report = inspect(datagrams, options);
  // Direct input must be QUIC: a datagram we cannot parse at all is an error. In a capture,
  // other UDP traffic is expected, as long as some QUIC is there.
  const broken = report.datagrams.filter((d) => d.error && (!capture || d.packets.length === 0));
  if (!capture && broken.length) {
    const d = broken[0]!;
    throw new InputError(`${datagrams.length > 1 ? `datagram ${d.index}: ` : ''}${d.error}`);
  }
  if (capture && report.datagrams.every((d) => d.packets.length === 0))
    throw new InputError('no QUIC packets in the capture');
  if (json) {
    console.log(JSON.stringify(report, (k, v: unknown) => (k === 'plaintext' ? undefined : v), 2));
  } else {
    const on = color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
    console.log(render(report, dump, datagrams, style(on)));
  }
  return 0;
}
