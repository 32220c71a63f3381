// Every file in examples/ runs as a child process, as a reader would run it
// (`node --import tsx examples/<name>.ts`), and must exit 0 with its key line of output. The
// servers among them run until SIGINT, with their client (if any) run against them.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const examples = join(process.cwd(), 'examples');
// An absolute loader URL, so that an example may run in a scratch working directory.
const TSX = import.meta.resolve('tsx');

/** Examples that start their own server, do their thing and exit: a key line of each. */
const STANDALONE: Record<string, RegExp> = {
  'file-server.ts':
    /^200 \/data\.json application\/json: \{"hello":"world"\}\n404 \/missing\.txt[\s\S]*^400 \/bad%zz/m,
  'resumption.ts':
    /^first: resumed=false earlyDataAccepted=false[\s\S]*^second: resumed=true earlyDataAccepted=true/m,
  'post-quantum-only.ts':
    /group=X25519MLKEM768 postQuantum=true\nclassical-only client refused: .*insufficient_security/,
  'mutual-tls.ts':
    /certificate: accepted[\s\S]*without a certificate: refused .*certificate_required[\s\S]*self-signed certificate: refused/,
  'graceful-shutdown.ts':
    /client got GOAWAY[\s\S]*late request refused: H3_REQUEST_REJECTED[\s\S]*(in-flight request: 200 done: \/\w\n){3}server closed/,
  'qlog-debugging.ts': /_client\.sqlog {2}\d+ bytes[\s\S]*tshark -r cap\.pcap -o tls\.keylog_file:/,
  'h3-fetch-client.ts': /^connections opened: 1$/m,
};

/** Servers that run until SIGINT: the line that says they listen (with the port), and the
 * client example run against them with PORT set. */
const SERVERS: Record<string, { listening: RegExp; client?: [string, RegExp] }> = {
  'echo-server.ts': {
    listening: /listening on UDP port (\d+)/,
    client: ['echo-client.ts', /^echoed: hello, post-quantum world$/m],
  },
  'h3-json-server.ts': { listening: /HTTP\/3 JSON API on https:\/\/localhost:(\d+)\/todos/ },
};
const CLIENTS = new Set(Object.values(SERVERS).flatMap((s) => (s.client ? [s.client[0]] : [])));

interface Run {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

function start(name: string, cwd: string, env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, ['--import', TSX, join(examples, name)], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c));
  child.stderr!.on('data', (c: Buffer) => (out += c));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exit };
}

async function finish(name: string, run: Run): Promise<string> {
  const code = await run.exit;
  expect(code, `${name} exit code; output:\n${run.output()}`).to.equal(0);
  return run.output();
}

async function waitFor(run: Run, re: RegExp): Promise<RegExpMatchArray> {
  for (;;) {
    const m = run.output().match(re);
    if (m) return m;
    const exited = await Promise.race([
      run.exit.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 50)),
    ]);
    if (exited && !run.output().match(re))
      throw new Error(`exited before ${re}; output:\n${run.output()}`);
  }
}

describe('examples/ (each as a child process)', function () {
  this.timeout(30_000);
  // The examples' temp files (qlog-debugging keeps its own for the reader) go here.
  const scratch = mkdtempSync(join(tmpdir(), 'zquic-examples-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('every example has a check here', () => {
    const covered = [...Object.keys(STANDALONE), ...Object.keys(SERVERS), ...CLIENTS].sort();
    expect(
      readdirSync(examples)
        .filter((f) => f.endsWith('.ts'))
        .sort(),
    ).to.deep.equal(covered);
  });

  for (const [name, line] of Object.entries(STANDALONE))
    it(`${name} exits 0 and prints its result`, async () => {
      const run = start(name, process.cwd(), { TMPDIR: scratch });
      expect(await finish(name, run)).to.match(line);
    });

  for (const [name, { listening, client }] of Object.entries(SERVERS))
    it(`${name} listens${client ? `, serves ${client[0]}` : ''} and exits 0 on SIGINT`, async () => {
      // A scratch directory: echo-server writes the certificate its client reads there.
      const server = start(name, scratch, { PORT: '0' });
      try {
        const [, port] = await waitFor(server, listening);
        if (client) {
          const out = await finish(client[0], start(client[0], scratch, { PORT: port }));
          expect(out).to.match(client[1]);
        }
        server.child.kill('SIGINT');
        await finish(name, server);
      } finally {
        if (server.child.exitCode === null) server.child.kill('SIGKILL');
      }
    });
});
