// What the zquic commands share about their command line: every mistake is one line on stderr
// (exit code 2), and with --json every error line is a JSON object instead.
import { IO_MODES, type IoMode } from '../net/endpoint.js';

/** parseArgs' error as one line (its message for a value starting with '-' spans three). */
export function argsError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const message = String(e.message ?? err);
  const option = /'(--?[^' ]+)/.exec(message)?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option '${option}'`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${/argument '([^']*)'/.exec(message)?.[1] ?? ''}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (message.includes('ambiguous'))
        return `${option} needs a value (one starting with '-' is written ${option}=VALUE)`;
      if (message.includes('does not take')) return `${option} takes no value`;
      return `${option} needs a value`;
    default:
      return message.split('\n', 1)[0]!;
  }
}

/** --io: the UDP I/O of listen()/connect() (lib/net/options.ts); undefined keeps the default. */
export function parseIo(v: string | undefined): IoMode | undefined {
  if (v === undefined) return undefined;
  const mode = IO_MODES.find((m) => m === v);
  if (!mode) throw new Error(`--io must be ${IO_MODES.join(', ')}; got '${v}'`);
  return mode;
}

export interface Reporter {
  readonly json: boolean;
  /** A command-line mistake: prints it, returns exit code 2. */
  usage(message: string): number;
  /** A failure at run time: prints it, returns exit code 1. */
  fail(message: string): number;
  /** A note that does not stop the command. */
  warn(message: string): void;
}

/** Error lines of `zquic <command>`; `--json` anywhere in argv makes them JSON (so that a
 * mistake before or in the option parsing is JSON too). */
export function reporter(command: string, argv: readonly string[]): Reporter {
  const json = argv.includes('--json');
  const line = (event: string, message: string, exitCode?: number) =>
    console.error(
      json
        ? JSON.stringify({ event, command, error: message, ...(exitCode ? { exitCode } : {}) })
        : `zquic ${command}: ${message}`,
    );
  return {
    json,
    usage(message) {
      line('error', json ? message : `${message} (see zquic ${command} --help)`, 2);
      return 2;
    },
    fail(message) {
      line('error', message, 1);
      return 1;
    },
    warn(message) {
      line('warning', message);
    },
  };
}
