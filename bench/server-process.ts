// The parent's handle on bench/server-child.ts: starts it (node --expose-gc, IPC channel),
// asks it for its memory and internal-error counts, notices when it dies, stops it.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import type { ServeMode, ServerStats } from './server-child.js';

export interface ServerProcess {
  readonly ports: Partial<Record<ServeMode, number>>;
  /** The server's self-signed certificate (PEM): the clients' trust anchor. */
  readonly cert: string;
  /** Set once the child exited: how. */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Everything the child wrote to stderr (the last 64 KiB). */
  stderr(): string;
  /** The child's memory and counters; with `gc`, after a full garbage collection. Rejects when
   * the child is gone or does not answer within 10 s. */
  stats(gc?: boolean): Promise<ServerStats>;
  /** Closes the endpoints and waits for the child to exit (kills it after 5 s). */
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./server-child.ts', import.meta.url));

export async function startServerProcess(serve: readonly ServeMode[]): Promise<ServerProcess> {
  const child: ChildProcess = fork(CHILD, ['--serve', serve.join(',')], {
    execArgv: ['--expose-gc', '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (c: string) => {
    stderr = (stderr + c).slice(-65536);
  });
  let exit: ServerProcess['exit'];
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );
  const waiting: Array<(s: ServerStats | Error) => void> = [];
  child.on('message', (m: { stats?: ServerStats }) => {
    if (m.stats) waiting.shift()?.(m.stats);
  });
  void exited.then(() => {
    for (const w of waiting.splice(0)) w(new Error('the server process exited'));
  });
  const ready = await new Promise<{ ports: ServerProcess['ports']; cert: string }>(
    (resolve, reject) => {
      child.once('message', (m: { ports: ServerProcess['ports']; cert: string }) => resolve(m));
      void exited.then(() => reject(new Error(`the server process did not start:\n${stderr}`)));
    },
  );
  return {
    ports: ready.ports,
    cert: ready.cert,
    get exit() {
      return exit;
    },
    stderr: () => stderr,
    stats(gc = false) {
      if (exit) return Promise.reject(new Error('the server process exited'));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiting.indexOf(answer);
          if (i >= 0) waiting.splice(i, 1);
          reject(new Error('the server process did not answer within 10 s'));
        }, 10_000);
        const answer = (s: ServerStats | Error) => {
          clearTimeout(timer);
          if (s instanceof Error) reject(s);
          else resolve(s);
        };
        waiting.push(answer);
        child.send({ cmd: 'stats', gc });
      });
    },
    async stop() {
      if (exit) return;
      child.send({ cmd: 'exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
