// The entry of a worker thread of a QuicWorkerPool (workers.ts): takes its setup from the
// first message (`workerData` stays the application's), loads the application's handler module
// (and calls its optional `setup(endpoint)` export once the worker serves), serves on its member of the reuseport group with the keys and replay memory
// every worker shares, publishes its stats, and closes when told to. The handler module's
// default export (or `onsession` for listen(), `handler` for serveHttp3()) is the handler.
import { parentPort } from 'node:worker_threads';

import { SharedAntiReplay } from '../tls/anti-replay.js';
import { TicketKeys } from '../tls/session-ticket.js';
import type { QuicEndpoint } from './endpoint.js';
import { serveHttp3, type Http3Handler } from './http3-server.js';
import { listen } from './listen.js';
import type { QuicSession } from './session.js';
import { WORKER, type ListenOptions, type WorkerInternals } from './options.js';
import {
  STAT_INTERVAL,
  STAT_SLOTS,
  type WorkerCommand,
  type WorkerReport,
  type WorkerSetup,
} from './workers.js';

const port = parentPort!;
const setup = await new Promise<WorkerSetup>((resolve) => port.once('message', resolve));

/** Buffers arrive as plain Uint8Arrays (structured clone): the TLS options want Buffers. */
function buffers<T>(v: T): T {
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v) as T;
  if (Array.isArray(v)) return v.map(buffers) as T;
  return v;
}

const mod = (await import(setup.handler)) as Record<string, unknown>;
const handler = mod['default'] ?? mod[setup.kind === 'h3' ? 'handler' : 'onsession'];
if (typeof handler !== 'function')
  throw new TypeError(`${setup.handler} must export its handler function (default export)`);

const options: ListenOptions & { [WORKER]: WorkerInternals } = {
  ...setup.options,
  certs: buffers(setup.options.certs),
  keys: buffers(setup.options.keys),
  ca: buffers(setup.options.ca),
  ticketKeys: setup.ticketSecrets
    ? TicketKeys.withIssuer(setup.ticketSecrets, setup.issuer)
    : false,
  tokenKeys: setup.tokenKeys,
  statelessResetKey: setup.statelessResetKey,
  [WORKER]: {
    fd: setup.fd,
    slot: setup.slot,
    antiReplay: setup.antiReplay && new SharedAntiReplay(setup.antiReplay),
  },
};
const endpoint: QuicEndpoint =
  setup.kind === 'h3'
    ? await serveHttp3(handler as Http3Handler, options)
    : await listen(handler as (session: QuicSession) => void, options);

const hook = mod['setup'];
if (typeof hook === 'function') (hook as (endpoint: QuicEndpoint) => void)(endpoint);

const view = new Float64Array(setup.stats, 8 * STAT_SLOTS * setup.slot.index, STAT_SLOTS);
// The endpoint's counters, then the thread's busy time (ms its event loop was not idle).
const keys = [...Object.keys(endpoint.stats), 'busyMs'].slice(0, STAT_SLOTS - 1);
const publish = (): void => {
  const stats = { ...endpoint.stats, busyMs: performance.eventLoopUtilization().active };
  keys.forEach((k, i) => (view[i] = (stats as Record<string, number>)[k]!));
  view[STAT_SLOTS - 1] = endpoint.sessionCount;
};
const timer = setInterval(publish, STAT_INTERVAL);
timer.unref();

port.on('message', (m: WorkerCommand) => {
  if (m.type === 'close') void endpoint.close({ timeout: m.timeout });
  else endpoint.destroy();
});
// The thread ends with its endpoint, whatever the handler module still holds.
void endpoint.closed.then(() => {
  publish();
  process.exit(0);
});
port.postMessage({ type: 'ready', address: endpoint.address, keys } satisfies WorkerReport);
