// Drives a TlsClient and a TlsServer against each other in memory (tests and bench).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { TlsClient, type TlsClientOptions } from '../../lib/tls/client.js';
import { TlsServer, type TlsServerOptions } from '../../lib/tls/server.js';
import type { HandshakeInfo, Level, TlsEngine, TlsEvent } from '../../lib/tls/engine.js';
import type { SessionTicket } from '../../lib/tls/session-ticket.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls');
export const fixture = (name: string): string => readFileSync(join(dir, name), 'utf8');

/** Server credentials from test/fixtures/tls: chain = leaf + intermediate. */
export function serverCreds(kind = 'ecdsa-p256'): { certs: string; keys: string } {
  return { certs: fixture(`${kind}.pem`) + fixture('int.pem'), keys: fixture(`${kind}.key`) };
}

export const TP_CLIENT = Buffer.from('client transport parameters');
export const TP_SERVER = Buffer.from('server transport parameters');

export function clientOptions(extra: Partial<TlsClientOptions> = {}): TlsClientOptions {
  return {
    alpn: ['h3'],
    servername: 'localhost',
    ca: fixture('ca.pem'),
    transportParameters: TP_CLIENT,
    ...extra,
  };
}
export function serverOptions(extra: Partial<TlsServerOptions> = {}): TlsServerOptions {
  return { alpn: ['h3'], ...serverCreds(), transportParameters: TP_SERVER, ...extra };
}

export interface PairResult {
  client: TlsClient;
  server: TlsServer;
  clientInfo: HandshakeInfo | undefined;
  serverInfo: HandshakeInfo | undefined;
  tickets: SessionTicket[];
  /** secrets[level][role-direction] */
  secrets: Map<string, Buffer>;
  clientEvents: TlsEvent[];
  serverEvents: TlsEvent[];
}

/** Runs a handshake to completion (or throws the first alert). */
export function runHandshake(
  copts: TlsClientOptions,
  sopts: TlsServerOptions,
  now = Date.parse('2030-01-01T00:00:00Z'),
): PairResult {
  const client = new TlsClient(copts);
  const server = new TlsServer(sopts);
  const r: PairResult = {
    client,
    server,
    clientInfo: undefined,
    serverInfo: undefined,
    tickets: [],
    secrets: new Map(),
    clientEvents: [],
    serverEvents: [],
  };
  client.start(now);
  const deliver = (from: TlsEngine, to: TlsEngine, role: string, log: TlsEvent[]): boolean => {
    let moved = false;
    for (let ev = from.poll(); ev; ev = from.poll()) {
      log.push(ev);
      moved = true;
      if (ev.type === 'data') to.receive(ev.level as Level, ev.data, now);
      else if (ev.type === 'secret')
        r.secrets.set(`${ev.level}:${role}:${ev.direction}`, ev.secret);
      else if (ev.type === 'handshake-complete') {
        if (role === 'client') r.clientInfo = ev.info;
        else r.serverInfo = ev.info;
      } else if (ev.type === 'session-ticket') r.tickets.push(ev.ticket);
    }
    return moved;
  };
  for (let i = 0; i < 20; i++) {
    const a = deliver(client, server, 'client', r.clientEvents);
    const b = deliver(server, client, 'server', r.serverEvents);
    if (!a && !b) break;
  }
  return r;
}
