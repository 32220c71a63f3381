// Per-connection qlog files (JSON-SEQ, RFC 7464, qlog 0.3 as qvis loads it) and the
// SSLKEYLOGFILE (NSS key log format, as Wireshark reads it). Files are written through
// buffered streams; a failing file is logged once and then ignored (never breaks a connection).
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

import { log } from '../debug/log.js';
import type { QlogEvent } from '../quic/connection.js';

const RS = '\x1e';

export class QlogWriter {
  private out: WriteStream | undefined;
  private failed = false;

  /**
   * Writes `<dir>/<odcid>_<role>.sqlog`; `origin` is the `now` that maps to reference_time.
   * Without `odcid` (a client before its Initial exists) it is taken from the first event.
   */
  constructor(
    private readonly dir: string,
    private readonly role: 'client' | 'server',
    private readonly origin: number,
    private odcid?: string,
    hold = false,
  ) {
    if (hold) this.held = [];
  }

  /** Events kept in memory until release() (a server connection not yet known to be real). */
  private held: string[] | undefined;

  /** Writes the held events and stops holding. */
  release(): void {
    const held = this.held;
    this.held = undefined;
    if (!held || held.length === 0) return;
    const out = this.open();
    for (const line of held) out?.write(line);
  }

  /** Forgets the held events; nothing is ever written. */
  discard(): void {
    this.held = undefined;
    this.failed = true;
  }

  private open(): WriteStream | undefined {
    if (this.out || this.failed) return this.out;
    try {
      mkdirSync(this.dir, { recursive: true });
      const odcid = this.odcid ?? 'unknown';
      this.out = createWriteStream(join(this.dir, `${odcid}_${this.role}.sqlog`));
      this.out.on('error', (err) => log('warn', `qlog: ${err.message}`));
      const header = {
        qlog_version: '0.3',
        qlog_format: 'JSON-SEQ',
        title: `zquic ${this.role} ${odcid}`,
        trace: {
          common_fields: {
            ODCID: odcid,
            time_format: 'relative',
            reference_time: Date.now(),
          },
          vantage_point: { name: 'zquic', type: this.role },
        },
      };
      this.out.write(RS + JSON.stringify(header) + '\n');
    } catch (err) {
      this.failed = true;
      log('warn', `qlog: ${(err as Error).message}`);
    }
    return this.out;
  }

  readonly event = (e: QlogEvent): void => {
    if (this.odcid === undefined && typeof e.data.dst_cid === 'string') this.odcid = e.data.dst_cid;
    if (this.failed) return;
    const time = Math.round((e.time - this.origin) * 1000) / 1000;
    const line = RS + JSON.stringify({ time, name: e.name, data: e.data }, replacer) + '\n';
    if (this.held) {
      if (this.held.length < 1000) this.held.push(line);
      return;
    }
    this.open()?.write(line);
  };

  close(): void {
    this.out?.end();
  }
}

/** Byte arrays as hex (qlog's convention for CIDs, tokens and raw data). */
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
  if (typeof value === 'bigint') return value.toString();
  return value;
}

const keylogs = new Map<string, WriteStream>();

/** A keylog callback appending to `path` (one shared stream per path). */
export function keylogWriter(path: string): (line: string) => void {
  let out = keylogs.get(path);
  if (!out) {
    out = createWriteStream(path, { flags: 'a', mode: 0o600 });
    out.on('error', (err) => log('warn', `keylog: ${err.message}`));
    keylogs.set(path, out);
  }
  const stream = out;
  return (line) => void stream.write(line + '\n');
}
