// Runs our TLS engine over TCP with lib/tls/record.ts (interop tests with Node's OpenSSL).
import net from 'node:net';
import { TlsClient, type TlsClientOptions } from '../../lib/tls/client.js';
import { TlsServer, type TlsServerOptions } from '../../lib/tls/server.js';
import { TlsAlert } from '../../lib/tls/alerts.js';
import { RecordLayer } from '../../lib/tls/record.js';
import type { HandshakeInfo } from '../../lib/tls/engine.js';
import type { SessionTicket } from '../../lib/tls/session-ticket.js';

export interface ClientRun {
  info: HandshakeInfo;
  reply: string;
  tickets: SessionTicket[];
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms);
    }),
  ]);
}

/** Connects our client, sends `message`, waits for the reply (and tickets), closes. */
export function runClient(
  port: number,
  options: TlsClientOptions,
  message = 'hello',
  waitForTickets = 0,
  keyUpdate = false,
): Promise<ClientRun> {
  const p = new Promise<ClientRun>((resolve, reject) => {
    const engine = new TlsClient({ ...options, quic: false });
    const rl = new RecordLayer(engine);
    const sock = net.connect(port, '127.0.0.1');
    let reply = '';
    let sent = false;
    const flush = () => {
      const out = rl.takeOutput();
      if (out.length) sock.write(out);
    };
    const finish = () => {
      rl.close();
      flush();
      sock.end();
      resolve({ info: rl.info!, reply, tickets: rl.tickets });
    };
    sock.on('connect', () => {
      engine.start(Date.now());
      rl.pump();
      flush();
    });
    sock.on('data', (d) => {
      try {
        for (const chunk of rl.receive(d, Date.now())) reply += chunk.toString();
        if (rl.info && !sent) {
          sent = true;
          if (keyUpdate) {
            engine.updateKeys(true); // the peer must answer with its own KeyUpdate
            rl.pump();
          }
          rl.send(Buffer.from(message));
        }
        flush();
        if (reply.length > 0 && rl.tickets.length >= waitForTickets) finish();
      } catch (e) {
        if (e instanceof TlsAlert) {
          rl.sendAlert(e.alert);
          flush();
        }
        sock.destroy();
        reject(e);
      }
    });
    sock.on('error', reject);
    sock.on('close', () => reject(new Error('connection closed early')));
  });
  return withTimeout(p, 10_000, 'client handshake');
}

export interface OurServer {
  port: number;
  infos: HandshakeInfo[];
  errors: Error[];
  close(): Promise<void>;
}

/** Our server: completes handshakes and echoes 'echo:' + data. */
export function startServer(options: () => TlsServerOptions): Promise<OurServer> {
  const infos: HandshakeInfo[] = [];
  const errors: Error[] = [];
  const server = net.createServer((sock) => {
    const engine = new TlsServer({ ...options(), quic: false });
    const rl = new RecordLayer(engine);
    const flush = () => {
      const out = rl.takeOutput();
      if (out.length) sock.write(out);
    };
    let reported = false;
    sock.on('data', (d) => {
      try {
        const data = rl.receive(d, Date.now());
        if (rl.info && !reported) {
          reported = true;
          infos.push(rl.info);
        }
        for (const chunk of data) rl.send(Buffer.concat([Buffer.from('echo:'), chunk]));
        flush();
        if (rl.peerClosed) {
          rl.close();
          flush();
          sock.end();
        }
      } catch (e) {
        errors.push(e as Error);
        if (e instanceof TlsAlert) {
          rl.sendAlert(e.alert);
          flush();
        }
        sock.destroy();
      }
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        infos,
        errors,
        close: () => new Promise((r) => server.close(() => r())),
      }),
    );
  });
}
