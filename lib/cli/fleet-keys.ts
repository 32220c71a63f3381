// `zquic server --fleet-keys FILE`: the keys the servers of a fleet share, as one JSON file
// (README "Running a fleet"):
//   { "ticketKeys": ["<hex>", ...], "tokenKeys": ["<hex>", ...], "resetKey": "<hex>" }
// ticketKeys: session ticket keys, >= 32 bytes each, the first seals, all open;
// tokenKeys: Retry / NEW_TOKEN token keys, the same rules; resetKey: the stateless reset key,
// >= 16 bytes. Every field is optional; anything else in the file is an error.
import { readFileSync } from 'node:fs';

import { TicketKeys, type ListenOptions } from '../index.js';

const FIELDS = ['ticketKeys', 'tokenKeys', 'resetKey'];

function hexKey(v: unknown, name: string, min: number): Uint8Array {
  if (typeof v !== 'string' || !/^([0-9a-fA-F]{2})+$/.test(v))
    throw new Error(`${name} must be a hex string`);
  if (v.length / 2 < min)
    throw new Error(`${name} must be >= ${min} bytes (${2 * min} hex digits)`);
  return Buffer.from(v, 'hex');
}

function hexKeys(v: unknown, name: string): Uint8Array[] {
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${name} must be a non-empty array`);
  return v.map((k, i) => hexKey(k, `${name}[${i}]`, 32));
}

/** The listen() options for the keys in `text` (the file's contents); Error naming the field. */
export function parseFleetKeys(
  text: string,
): Pick<ListenOptions, 'ticketKeys' | 'tokenKeys' | 'statelessResetKey'> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('fleet keys: not JSON');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new Error('fleet keys: not a JSON object');
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!FIELDS.includes(k))
      throw new Error(`fleet keys: unknown field '${k}' (known: ${FIELDS.join(', ')})`);
  try {
    return {
      ticketKeys:
        o.ticketKeys === undefined
          ? undefined
          : TicketKeys.fromSecrets(hexKeys(o.ticketKeys, 'ticketKeys')),
      tokenKeys: o.tokenKeys === undefined ? undefined : hexKeys(o.tokenKeys, 'tokenKeys'),
      statelessResetKey: o.resetKey === undefined ? undefined : hexKey(o.resetKey, 'resetKey', 16),
    };
  } catch (err) {
    throw new Error(`fleet keys: ${(err as Error).message}`);
  }
}

/** parseFleetKeys() of the file at `path`. */
export function readFleetKeys(path: string): ReturnType<typeof parseFleetKeys> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read --fleet-keys '${path}': ${(err as NodeJS.ErrnoException).code}`);
  }
  return parseFleetKeys(text);
}

/** The --server-id value: 1..3 bytes in hex (QUIC-LB server ID, see ListenOptions.serverId). */
export function parseServerId(v: string | undefined): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (!/^([0-9a-fA-F]{2}){1,3}$/.test(v))
    throw new Error(`--server-id must be 1..3 bytes in hex (e.g. 0a), got '${v}'`);
  return Buffer.from(v, 'hex');
}
