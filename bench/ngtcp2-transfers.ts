// HTTP/3 downloads for bench/ngtcp2.ts: `connections` connections at once (zquic: one client
// process; ngtcp2: one process each), each fetching one file of bytes/connections from one
// server, after the same clients fetched a 14-byte file. The figures are the difference, the
// marginal cost of the bytes (process start-up, handshake and teardown cancel out; zquic's
// client times itself, see download() in bench/ngtcp2-procs.ts):
//   goodput    = bytes * 8 / (wall(big) - wall(small))
//   CPU/GB     = user+sys CPU (big - small) / GB, the server's and the clients' apart
//   GC ms/GB   = zquic's garbage collection time per GB, over each process's whole life (its
//                start-up included): the clients' of the big download; the server's of both
//                downloads of every run per GB it served. (A difference would be noise: GC
//                durations are wall time, and start-up GC varies more than 100 MB add.)
import {
  download,
  SMALL,
  startServer,
  type Impl,
  type Io,
  type Setup,
  type Side,
} from './ngtcp2-procs.js';
import { round } from './ngtcp2-table.js';

export interface TransferCase {
  server: Side;
  client: Side;
  /** Connections at once. */
  connections: number;
  /** The file they download (under www/), bytes/connections each. */
  path: string;
  bytes: number;
}

export interface TransferFigure {
  server: Impl;
  client: Impl;
  serverIo?: Io;
  clientIo?: Io;
  connections: number;
  /** All connections together. */
  bytes: number;
  seconds: number;
  goodputMbps: number;
  serverCpuSecondsPerGB: number;
  clientCpuSecondsPerGB: number;
  cpuSecondsPerGB: number;
  /** zquic ends only. */
  serverGcMsPerGB?: number;
  clientGcMsPerGB?: number;
  goodputRatio?: number;
  serverCpuRatio?: number;
  clientCpuRatio?: number;
  cpuRatio?: number;
}

/** One case: the best goodput of `runs` (one server for all runs). */
export async function measureTransfer(
  c: TransferCase,
  runs: number,
  setup: Setup,
): Promise<TransferFigure> {
  const server = await startServer(c.server, setup);
  let best: TransferFigure | undefined;
  let gcMs: number;
  try {
    for (let i = 0; i < runs; i++) {
      const s0 = server.cpu();
      const small = await download(c.client, server.port, SMALL.path, c.connections, setup);
      const s1 = server.cpu();
      const big = await download(c.client, server.port, c.path, c.connections, setup);
      const s2 = server.cpu();
      const seconds = big.wall - small.wall;
      const gb = c.bytes / 1e9;
      const serverCpu = s2 - s1 - (s1 - s0);
      const clientCpu = big.cpu - small.cpu;
      const f: TransferFigure = {
        server: c.server.impl,
        client: c.client.impl,
        ...(c.server.io ? { serverIo: c.server.io } : {}),
        ...(c.client.io ? { clientIo: c.client.io } : {}),
        connections: c.connections,
        bytes: c.bytes,
        seconds: round(seconds, 3),
        // (Not positive: the download was within the noise of the small one; shown as '-'.)
        goodputMbps: seconds > 0 ? round((c.bytes * 8) / seconds / 1e6, 1) : NaN,
        serverCpuSecondsPerGB: round(serverCpu / gb, 2),
        clientCpuSecondsPerGB: round(clientCpu / gb, 2),
        cpuSecondsPerGB: round((serverCpu + clientCpu) / gb, 2),
        ...(c.client.impl === 'zquic' ? { clientGcMsPerGB: round(big.gcMs / gb, 1) } : {}),
      };
      if (!best || f.goodputMbps > best.goodputMbps || Number.isNaN(best.goodputMbps)) best = f;
    }
  } finally {
    gcMs = (await server.stop()).ms;
  }
  if (c.server.impl === 'zquic') {
    const served = runs * (c.bytes + c.connections * SMALL.body.length);
    best!.serverGcMsPerGB = round(gcMs / (served / 1e9), 1);
  }
  return best!;
}
