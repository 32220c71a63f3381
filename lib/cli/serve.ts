// What `zquic server` does with each session, in the main thread or in each worker thread
// (serve-worker.ts): the service of the ALPN its handshake chose (echo, HTTP/3 or hq-interop
// files) and, unless quiet, one line when it opens and one when it closes.
import { QuicSessionError, type QuicEndpoint, type QuicSession } from '../index.js';
import { HQ_ALPN } from '../h3/hq.js';
import { Http3Sessions } from '../net/http3-server.js';
import { http3FileHandler, serveHq } from './www.js';

/** How the sessions are served and told of (cloneable: a worker thread gets it as workerData). */
export interface ServeConfig {
  /** Serve the files under this directory (h3 and hq-interop). */
  www?: string;
  /** 'text' or 'json' lines per session, or none. */
  log: 'text' | 'json' | 'none';
}

/** Echoes every stream and datagram of `session` (dispatched to it by its ALPN, echo). */
export function echo(session: QuicSession): void {
  session.onstream = (s) => {
    s.on('error', () => {}); // a peer reset only ends that stream
    s.pipe(s);
  };
  session.ondatagram = (d) => session.sendDatagram(d);
}

/** A line of text or of JSON, as configured. */
export function sayer(log: ServeConfig['log']) {
  return (text: string, obj: Record<string, unknown>): void => {
    if (log !== 'none') console.log(log === 'json' ? JSON.stringify(obj) : text);
  };
}

/** The session handler for `config`, and `closeWith(endpoint)` to call once it serves. */
export function serveSessions(config: ServeConfig): {
  onsession: (session: QuicSession) => void;
  closeWith: (endpoint: QuicEndpoint) => void;
} {
  const { www } = config;
  const say = sayer(config.log);
  const h3 = www === undefined ? undefined : new Http3Sessions(http3FileHandler(www));
  // Each session gets the service of the ALPN its handshake chose, before its first stream.
  const serve = (session: QuicSession, protocol: string): void => {
    if (protocol === 'h3' && h3) h3.attach(session);
    else if (protocol === HQ_ALPN && www !== undefined) serveHq(session, www);
    else if (protocol === 'echo') echo(session);
  };
  const onsession = (session: QuicSession): void => {
    const chosen = session.alpnProtocol;
    if (chosen !== undefined) serve(session, chosen);
    else session.once('alpn', (p) => serve(session, p));
    if (config.log !== 'none') logSession(session, say);
  };
  // HTTP/3 sessions close the HTTP/3 way (GOAWAY) when the endpoint closes.
  return { onsession, closeWith: (endpoint) => void h3?.closeWith(endpoint) };
}

function logSession(s: QuicSession, say: ReturnType<typeof sayer>): void {
  const r = s.remoteAddress;
  const peer = `${r.address}:${r.port}`;
  s.opened
    .then((h) =>
      say(
        `session ${peer} ${h.group} ${h.cipher} alpn=${h.alpn}` +
          `${h.resumed ? ' resumed' : ''}${h.earlyDataAccepted ? ' early-data' : ''}` +
          ` version=0x${h.version.toString(16)}`,
        { event: 'session', remote: r, ...h },
      ),
    )
    .catch((e: Error) =>
      say(`session ${peer} failed: ${e.message}`, {
        event: 'session-failed',
        remote: r,
        error: e.message,
      }),
    );
  // How it ended: the interop matrix checks for key updates and error-free closes.
  const closed = (err: Error | null): void => {
    const st = s.stats;
    // (HTTP/3's H3_NO_ERROR close settles `closed` without an error: it is clean.)
    const e = err instanceof QuicSessionError ? err : null;
    say(
      `session ${peer} closed ${err ? `with error: ${err.message}` : 'cleanly'}, ` +
        `${st.bytesSent} bytes sent, ${st.packetsLost} lost, ${st.keyUpdates} key updates`,
      {
        event: 'session-closed',
        remote: s.remoteAddress,
        error: err ? err.message : null,
        code: e ? e.errorCode : null,
        errorName: e ? e.code : null,
        keyUpdates: st.keyUpdates,
        bytesSent: st.bytesSent,
        packetsLost: st.packetsLost,
      },
    );
  };
  s.closed.then(
    () => closed(null),
    (e: Error) => closed(e),
  );
}
