#!/usr/bin/env node
// The `zquic` command. Each subcommand lives in its own module and is loaded on demand,
// so `zquic inspect` does not pay for the network stack.

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
  return ['usage: zquic <command> [options]', '', 'commands:', ...lines].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`zquic: unknown command '${name}' (see zquic --help)`);
    return 2;
  }
  const mod = await command.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`zquic: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
