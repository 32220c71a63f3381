// listen({ workers }) / serveHttp3({ workers }): one server on every core. The main thread binds
// a reuseport group (native/udp_group.h: one SO_REUSEPORT socket per worker, held here for the
// server's life, so each socket keeps its place in the kernel's group while workers come and
// go) and attaches the steering program (steering.ts) that hands every datagram to the worker
// its DCID names (lib/quic/worker-cid.ts). Each worker thread (worker-thread.ts) loads the
// application's handler module and runs an ordinary endpoint on its own duplicate of its
// socket. Shared by all workers: ticket keys and the issuer sealed into tickets (resumption on
// any worker), the 0-RTT replay memory (SharedAntiReplay: early data on any worker, accepted
// once), token keys and the stateless reset key (a worker restarted after a crash answers its
// predecessor's connections with a Stateless Reset that their peers accept).
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { nativeUdp, type NativeHandle } from '../crypto/native.js';
import type { Address } from '../quic/connection.js';
import { LOCAL_CID_LENGTH } from '../quic/connection.js';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_WINDOW_POOL } from '../quic/endpoint.js';
import { MAX_WORKERS, type WorkerSlot } from '../quic/worker-cid.js';
import { SharedAntiReplay } from '../tls/anti-replay.js';
import { bindHost, bufferSize, checkPort } from './endpoint.js';
import { checkCloseTimeout } from './session.js';
import type { ListenOptions } from './options.js';
import { steeringProgram } from './steering.js';
import { NativeUdpSocket } from './udp-socket.js';

/** Which server a worker runs: listen() or serveHttp3(). */
export type WorkerKind = 'quic' | 'h3';

/** Everything a worker thread is given, in its first message (its `workerData` is the
 * application's: options.workerData). */
export interface WorkerSetup {
  kind: WorkerKind;
  /** The handler module's URL. */
  handler: string;
  slot: WorkerSlot;
  /** Its member of the reuseport group (the worker polls a duplicate). */
  fd: number;
  /** listen() options that clone (no ticketKeys, signal or workers). */
  options: ListenOptions;
  /** Undefined: no tickets (ticketKeys: false). */
  ticketSecrets: Uint8Array[] | undefined;
  issuer: Uint8Array;
  tokenKeys: readonly Uint8Array[];
  statelessResetKey: Uint8Array;
  antiReplay: SharedArrayBuffer | undefined;
  /** Where the worker publishes its endpoint stats (STAT_SLOTS numbers per worker). */
  stats: SharedArrayBuffer;
}

/** What a worker thread says once it serves (its stats keys: the order it publishes in). */
export type WorkerReport = { type: 'ready'; address: Address; keys: string[] };

/** Messages to a worker thread. */
export type WorkerCommand = { type: 'close'; timeout: number } | { type: 'destroy' };

/** Numbers per worker in the stats memory; the last is its session count. */
export const STAT_SLOTS = 64;
/** A worker publishes its stats this often (ms), and once more when it closes. */
export const STAT_INTERVAL = 100;
/** A worker that dies before it is ready is started again after this long (ms). */
const RESTART_DELAY = 1000;

/** The workers option: 1..256 threads, 'auto' one per CPU. */
export function workerCount(v: ListenOptions['workers']): number {
  if (v === 'auto') return Math.min(availableParallelism(), MAX_WORKERS);
  if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_WORKERS)
    throw new RangeError(`workers must be 'auto' or an integer in 1..${MAX_WORKERS}`);
  return v as number;
}

/** The handler module's URL (a file path or a URL string or object). */
function moduleUrl(handler: string | URL): string {
  if (handler instanceof URL) return handler.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(handler) && !/^[a-z]:[\\/]/i.test(handler)) return handler;
  return pathToFileURL(handler).href;
}

interface Thread {
  worker: Worker;
  ready: boolean;
  error?: Error;
}

/**
 * A server running in worker threads (listen() or serveHttp3() with a handler module). Its
 * `stats` sum what each worker published in the last STAT_INTERVAL ms (a restarted worker's
 * counters start again): its endpoint's stats, and `busyMs`, the time its event loop worked. Events: 'workerExit' ({ index, code, error }) when a worker thread
 * ends other than by close(); it is started again on the same socket.
 */
export class QuicWorkerPool extends EventEmitter {
  /** Resolves when every worker has ended and the sockets are closed. */
  readonly closed: Promise<void>;
  /** Worker threads. */
  readonly size: number;
  /** Worker threads started again after they ended. */
  restarts = 0;
  private readonly threads: (Thread | undefined)[];
  private readonly fds: number[];
  private readonly view: Float64Array;
  private keys: string[] = [];
  private bound: Address | undefined;
  private closing = false;
  private resolveClosed!: () => void;

  private constructor(
    private readonly group: NativeHandle,
    private readonly setup: Omit<WorkerSetup, 'slot' | 'fd'>,
    private readonly offset: number,
    private readonly workerData: unknown,
  ) {
    super();
    this.fds = nativeUdp.udpGroupFds(group);
    this.size = this.fds.length;
    this.threads = new Array<Thread | undefined>(this.size);
    this.view = new Float64Array(setup.stats);
    this.closed = new Promise((res) => (this.resolveClosed = res));
  }

  /** Binds the group, starts `count` workers and resolves once all of them serve. */
  static async start(
    kind: WorkerKind,
    handler: string | URL,
    options: ListenOptions,
    count: number,
  ): Promise<QuicWorkerPool> {
    if (!NativeUdpSocket.supported)
      throw new Error("workers need the native UDP socket (io 'native', Linux)");
    if (options.io === 'dgram') throw new TypeError("workers need io 'native' or 'auto'");
    const { ticketKeys, signal, workers: _, workerData: __, ...rest } = options;
    if (ticketKeys !== undefined && ticketKeys !== false && ticketKeys.secrets === undefined)
      throw new TypeError('with workers, ticketKeys must come from TicketKeys.fromSecrets()');
    // The endpoint-wide caps are the server's: each worker gets its share (steering spreads
    // connections evenly). Invalid values go through as given: the workers' checks name them.
    const share = (v: number, min: number) =>
      Number.isInteger(v) && v >= min ? Math.max(min, Math.floor(v / count)) : v;
    rest.maxConnections = share(options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, 1);
    rest.windowPool = share(options.windowPool ?? DEFAULT_WINDOW_POOL, 0);
    const setup: Omit<WorkerSetup, 'slot' | 'fd'> = {
      kind,
      handler: moduleUrl(handler),
      options: rest,
      ticketSecrets:
        ticketKeys === false ? undefined : [...(ticketKeys?.secrets ?? [randomBytes(32)])],
      issuer: randomBytes(16),
      tokenKeys: options.tokenKeys ?? [randomBytes(32)],
      statelessResetKey: options.statelessResetKey ?? randomBytes(32),
      antiReplay: options.earlyData ? SharedAntiReplay.memory() : undefined,
      stats: new SharedArrayBuffer(8 * STAT_SLOTS * count),
    };
    const group = await bindGroup(options, count);
    const offset = options.serverId ? 1 + options.serverId.length : 0;
    try {
      if (count > 1)
        nativeUdp.udpGroupSteer(group, steeringProgram({ count, offset }, LOCAL_CID_LENGTH));
    } catch (err) {
      nativeUdp.udpGroupClose(group);
      throw err;
    }
    const pool = new QuicWorkerPool(group, setup, offset, options.workerData);
    try {
      await Promise.all(Array.from({ length: count }, (_, i) => pool.spawn(i)));
    } catch (err) {
      // The sockets are closed once the threads started so far have ended: by the time
      // listen() rejects, the port is free again.
      pool.destroy();
      await pool.closed;
      throw err;
    }
    signal?.addEventListener('abort', () => void pool.close(), { once: true });
    return pool;
  }

  /** The address every worker's socket is bound to. */
  get address(): Address {
    return this.bound!;
  }

  /** The workers' endpoint stats, summed. */
  get stats(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, key] of this.keys.entries()) {
      let sum = 0;
      for (let w = 0; w < this.size; w++) sum += this.view[w * STAT_SLOTS + k]!;
      out[key] = sum;
    }
    return out;
  }

  /** Sessions open on all workers (as last published). */
  get sessionCount(): number {
    let sum = 0;
    for (let w = 0; w < this.size; w++) sum += this.view[w * STAT_SLOTS + STAT_SLOTS - 1]!;
    return sum;
  }

  /** What worker `index` last published (its endpoint's stats). */
  workerStats(index: number): Record<string, number> {
    if (!Number.isInteger(index) || index < 0 || index >= this.size)
      throw new RangeError(`index must be an integer in 0..${this.size - 1}`);
    const out: Record<string, number> = {};
    this.keys.forEach((key, k) => (out[key] = this.view[index * STAT_SLOTS + k]!));
    return out;
  }

  private spawn(index: number): Promise<void> {
    const slot: WorkerSlot = { index, count: this.size, offset: this.offset };
    const here = import.meta.url;
    const entry = new URL(`./worker-thread${extname(new URL(here).pathname)}`, here);
    let worker: Worker | undefined;
    try {
      worker = new Worker(entry, { workerData: this.workerData });
      worker.postMessage({ ...this.setup, slot, fd: this.fds[index] } satisfies WorkerSetup);
    } catch (err) {
      void worker?.terminate();
      const e = err as Error;
      if (e.name !== 'DataCloneError') throw err;
      throw new TypeError(`with workers, every option must be cloneable: ${e.message}`);
    }
    const t: Thread = { worker, ready: false };
    this.threads[index] = t;
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (m: WorkerReport) => {
        if (m.type !== 'ready') return;
        t.ready = true;
        this.bound = m.address;
        this.keys = m.keys;
        resolve();
      });
      worker.on('error', (err) => (t.error = err));
      worker.on('exit', (code) => {
        if (this.threads[index] === t) this.threads[index] = undefined;
        if (!t.ready) reject(t.error ?? new Error(`worker ${index} exited with code ${code}`));
        this.exited(index, t, code);
      });
    });
  }

  private exited(index: number, t: Thread, code: number): void {
    if (this.closing) {
      if (this.threads.every((x) => x === undefined)) this.finish();
      return;
    }
    if (!t.ready && this.bound === undefined) return; // listen() is failing: start() cleans up
    this.emit('workerExit', { index, code, error: t.error });
    this.restarts++;
    const again = (): void => {
      if (this.closing) return;
      this.spawn(index).catch(() => {}); // reported by its own 'workerExit'
    };
    if (t.ready) again();
    else setTimeout(again, RESTART_DELAY).unref();
  }

  /** Every worker closes its endpoint gracefully (QuicEndpoint.close, within `timeout` ms,
   * default 10 s); then the sockets close. Resolves with `closed`. */
  close(options?: { timeout?: number }): Promise<void> {
    const timeout = checkCloseTimeout(options);
    return this.stop({ type: 'close', timeout });
  }

  /** Every worker destroys its endpoint at once (QuicEndpoint.destroy); then the sockets
   * close. */
  destroy(): void {
    void this.stop({ type: 'destroy' });
  }

  private stop(command: WorkerCommand): Promise<void> {
    if (this.closing && command.type === 'close') return this.closed;
    this.closing = true;
    const live = this.threads.filter((t): t is Thread => t !== undefined);
    if (live.length === 0) this.finish();
    for (const t of live) {
      if (t.ready) t.worker.postMessage(command);
      else void t.worker.terminate();
    }
    return this.closed;
  }

  private finish(): void {
    nativeUdp.udpGroupClose(this.group);
    this.resolveClosed();
  }
}

/** The reuseport group for the host, port and buffer options (bound as QuicEndpoint binds). */
function bindGroup(options: ListenOptions, count: number): Promise<NativeHandle> {
  const port = checkPort(options.port);
  const recv = bufferSize(options.recvBufferSize, 'recvBufferSize');
  const send = bufferSize(options.sendBufferSize, 'sendBufferSize');
  return bindHost(options.host, (host) =>
    nativeUdp.udpGroupBind(host, port, false, count, recv, send),
  );
}
