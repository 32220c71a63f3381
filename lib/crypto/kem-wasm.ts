// ML-KEM backend `liboqs-wasm`: liboqs compiled to WebAssembly (@oqs/liboqs-js), always present.
// The package instantiates its wasm only asynchronously; a module-level `await` for it would make
// `require('zquic')` fail (ERR_REQUIRE_ASYNC_MODULE). So its loading starts when this module is
// imported (`wasmLoaded`; listen() and connect() wait for it) and calls run in this thread once
// it is done. A call that comes earlier (the sans-IO layers used straight after import) goes to
// a worker thread (the WORKER source below), started then, and blocks on Atomics.wait until the
// worker answers. Its build exports no _derand functions, so it cannot take the FIPS 203
// internal randomness (seeded keygen/encapsulation).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  MessageChannel,
  receiveMessageOnPort,
  Worker,
  type MessagePort,
} from 'node:worker_threads';

import {
  bytesKeyPair,
  kemNative,
  type KemBackendImpl,
  type MlKemParameterSet,
} from './kem-backend.js';

/** A request to the worker; byte arguments are exact-size copies (a Buffer's pool stays here). */
interface WasmRequest {
  op: 'keygen' | 'encapsulate' | 'decapsulate';
  set: MlKemParameterSet;
  args: Uint8Array[];
}
type WasmReply = { ok: Uint8Array[] } | { error: string };

/** How long a call waits for the worker (the first one includes loading the package). */
const TIMEOUT_MS = 30_000;

interface WasmKem {
  generateKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array };
  encapsulate(publicKey: Uint8Array): { ciphertext: Uint8Array; sharedSecret: Uint8Array };
  decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array;
}

/** The package in this thread, once loaded. */
let local: Record<MlKemParameterSet, WasmKem> | undefined;

interface Channel {
  port: MessagePort;
  flag: Int32Array;
  worker?: Worker;
}

let channel: Channel | undefined;
let failure: string | undefined;

/** Gives up on the worker: later calls say why the backend is unavailable. */
function retire(c: Channel, why: string): void {
  failure ??= why;
  channel = undefined;
  void c.worker?.terminate();
  c.port.close();
}

/** The worker's answer to the message just posted (or to its start). Without one, the worker is
 * retired: a late answer would otherwise be taken for the next call's. */
function wait(c: Channel): WasmReply {
  const woke = Atomics.wait(c.flag, 0, 0, TIMEOUT_MS);
  const reply = receiveMessageOnPort(c.port)?.message as WasmReply | undefined;
  if (reply) return reply;
  retire(c, woke === 'timed-out' ? 'its worker did not answer' : 'its worker gave no answer');
  return { error: failure! };
}

// The worker: loads the package (its URL in workerData), then answers each request with a
// message followed by a wake-up on the shared flag the main thread waits on. Plain JavaScript
// evaluated by the worker, so it runs the same from the TypeScript sources and from dist/.
const WORKER = `
const { workerData: { url, port, flag } } = require('node:worker_threads');
const reply = (r) => { port.postMessage(r); Atomics.store(flag, 0, 1); Atomics.notify(flag, 0); };
const answer = (kem, { op, args }) => {
  if (op === 'keygen') { const r = kem.generateKeyPair(); return [r.publicKey, r.secretKey]; }
  if (op === 'encapsulate') { const r = kem.encapsulate(args[0]); return [r.ciphertext, r.sharedSecret]; }
  return [kem.decapsulate(args[0], args[1])];
};
import(url).then(async (oqs) => {
  const kems = {
    'ML-KEM-512': await oqs.createMLKEM512(),
    'ML-KEM-768': await oqs.createMLKEM768(),
    'ML-KEM-1024': await oqs.createMLKEM1024(),
  };
  port.on('message', (req) => {
    try { reply({ ok: answer(kems[req.set], req) }); } catch (e) { reply({ error: e.message }); }
  });
  reply({ ok: [] });
}).catch((e) => reply({ error: '@oqs/liboqs-js failed to load: ' + e.message }));
`;

/** The URL of @oqs/liboqs-js/kem, looked up along Node's node_modules paths from this file. (Not
 * import.meta.resolve: a loader's CommonJS output of this module may lack it; not require.resolve:
 * the package exports its entry points to `import` only.) */
function packageUrl(): string {
  for (const dir of createRequire(import.meta.url).resolve.paths('@oqs/liboqs-js') ?? []) {
    const root = join(dir, '@oqs', 'liboqs-js');
    let manifest: { exports?: Record<string, { import?: unknown }> };
    try {
      manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as typeof manifest;
    } catch {
      continue;
    }
    const entry = manifest.exports?.['./kem']?.import;
    if (typeof entry === 'string') return pathToFileURL(join(root, entry)).href;
  }
  throw new Error('the package is not installed');
}

/** The worker's channel, started (and waited for) on first use; undefined once it failed. */
function started(): Channel | undefined {
  if (channel || failure !== undefined) return channel;
  const { port1, port2 } = new MessageChannel();
  const c: Channel = { port: port1, flag: new Int32Array(new SharedArrayBuffer(4)) };
  try {
    const url = packageUrl();
    c.worker = new Worker(WORKER, {
      eval: true,
      execArgv: [], // no loader flags: it is CommonJS (not --input-type=module) and needs no tsx
      workerData: { url, port: port2, flag: c.flag },
      transferList: [port2],
    });
    c.worker.unref();
    c.worker.on('error', (e) => retire(c, `its worker failed: ${e.message}`));
  } catch (e) {
    retire(c, `@oqs/liboqs-js failed to load: ${(e as Error).message}`);
    return undefined;
  }
  const reply = wait(c);
  if ('error' in reply) retire(c, reply.error);
  else channel = c;
  return channel;
}

/** Resolves when the package is loaded in this thread (or could not be: the worker remains). */
export const wasmLoaded: Promise<void> = (async () => {
  try {
    const oqs = (await import(packageUrl())) as Record<string, () => Promise<WasmKem>>;
    const [a, b, c] = await Promise.all([
      oqs.createMLKEM512!(),
      oqs.createMLKEM768!(),
      oqs.createMLKEM1024!(),
    ]);
    local = { 'ML-KEM-512': a, 'ML-KEM-768': b, 'ML-KEM-1024': c };
  } catch {
    // The worker path says why when it is used.
  }
})();

function answer(kem: WasmKem, { op, args }: WasmRequest): Uint8Array[] {
  if (op === 'keygen') {
    const r = kem.generateKeyPair();
    return [r.publicKey, r.secretKey];
  }
  if (op === 'encapsulate') {
    const r = kem.encapsulate(args[0]!);
    return [r.ciphertext, r.sharedSecret];
  }
  return [kem.decapsulate(args[0]!, args[1]!)];
}

function call(req: WasmRequest): Buffer[] {
  if (local) return answer(local[req.set], req).map(view);
  const c = started();
  if (!c) throw new Error(`the liboqs-wasm ML-KEM backend is unavailable: ${failure}`);
  Atomics.store(c.flag, 0, 0);
  c.port.postMessage(req);
  const reply = wait(c);
  if ('error' in reply) throw new Error(`liboqs-wasm: ${reply.error}`);
  return reply.ok.map(view);
}

const view = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

// A copy of exactly the bytes (the package also wants a plain Uint8Array, not a Buffer).
const exact = (u: Uint8Array): Uint8Array => new Uint8Array(u);

function noSeed(what: string): never {
  throw new Error(`the liboqs-wasm ML-KEM backend cannot take ${what}: its build has no _derand`);
}

export const wasmBackend: KemBackendImpl = {
  name: 'liboqs-wasm',
  get unavailable() {
    return local || started() ? undefined : failure;
  },
  deterministic: false,
  version: '@oqs/liboqs-js',
  keygen(p, seed) {
    if (seed) noSeed('a key generation seed');
    const [ek, dk] = call({ op: 'keygen', set: p.name, args: [] });
    return [ek!, dk!];
  },
  encapsulate(p, ek, m) {
    if (m) noSeed('the encapsulation randomness m');
    const [ct, ss] = call({ op: 'encapsulate', set: p.name, args: [exact(ek)] });
    return [ct!, ss!];
  },
  decapsulate(p, dk, ct) {
    // FIPS 203 §7.3 hash check here: what the wasm build does with a bad key is not ours to know.
    if (!kemNative.mlkemCheckDecapsulationKey(p.k, dk))
      throw new RangeError(
        'decapsulationKey fails the FIPS 203 §7.3 hash check (not an ML-KEM key)',
      );
    return call({ op: 'decapsulate', set: p.name, args: [exact(ct), exact(dk)] })[0]!;
  },
  generateKeyPair(p, seed) {
    return bytesKeyPair(this, p, seed);
  },
};
