// The handler module of `zquic server --workers N` (lib/net/workers.ts loads it in each worker
// thread): serves every session as serve.ts does, configured by the ServeConfig the command
// passes as workerData.
import { workerData } from 'node:worker_threads';

import type { QuicEndpoint } from '../index.js';
import { serveSessions, type ServeConfig } from './serve.js';

const service = serveSessions(workerData as ServeConfig);

export default service.onsession;

/** Called with the worker's endpoint once it serves. */
export function setup(endpoint: QuicEndpoint): void {
  service.closeWith(endpoint);
}
