#!/usr/bin/env node
// The `zquic` command. Each subcommand lives in its own module and is loaded on demand,
// so `zquic inspect` does not pay for the network stack.
import { createRequire } from 'node:module';

interface Command {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number> }>;
}

const commands: Record<string, Command> = {
  bench: { summary: 'run a benchmark: bench crypto [--json]', load: () => import('./bench.js') },
  server: {
    summary: 'run a QUIC server (echo ALPN, self-signed cert by default)',
    load: () => import('./server.js'),
  },
  client: {
    summary: 'connect to a QUIC server: client HOST:PORT [--bytes N --streams K]',
    load: () => import('./client.js'),
  },
  inspect: {
    summary: 'decode QUIC datagrams (hex, file, pcap/pcapng; --keylog, --json, --dump)',
    load: () => import('./inspect.js'),
  },
};

function usage(): string {
  const names = Object.keys(commands);
  const width = Math.max(0, ...names.map((n) => n.length));
  const lines = names.map((n) => `  ${n.padEnd(width)}  ${commands[n]!.summary}`);
  return [
    'usage: zquic <command> [options]     (zquic <command> --help for its options)',
    '       zquic --version',
    '',
    'commands:',
    ...lines,
    '',
    'files over HTTP/3 or hq-interop:',
    '  zquic server --www DIR                          serve DIR (ALPN h3 and hq-interop)',
    '  zquic client https://HOST:PORT/PATH... --out D  download URLs into D',
  ].join('\n');
}

/** The version in package.json (found by the package's own name, from dist/ or the sources). */
function version(): string {
  const pkg = createRequire(import.meta.url)('zquic/package.json') as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    console.log(version());
    return 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`zquic: unknown command '${name}' (see zquic --help)`);
    return 2;
  }
  if (process.env.ZQUIC_BENCH_GC === '1') (await import('./gc-report.js')).reportGcOnExit();
  const mod = await command.load();
  return mod.run(rest);
}

// A reader that goes away (`zquic inspect ... | head`) ends the output quietly, as Unix tools do.
for (const out of [process.stdout, process.stderr])
  out.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`zquic: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
