// ML-KEM benchmark: keygen / encapsulate / decapsulate microseconds per backend and parameter
// set, the keygen+encaps+decaps total a handshake pays, and a full X25519MLKEM768 exchange
// (client share, server share, client completion). Ratios are against liboqs-wasm (always
// present) and, where the running Node has it (>= 24.7), Node's own crypto.encapsulate path,
// all measured in the same run. Run: `npm run bench:kem`; bench/crypto.ts includes it.
import * as nodeCrypto from 'node:crypto';
import { pathToFileURL } from 'node:url';

import { ClientKeyShare, serverKeyShare } from '../lib/crypto/groups.js';
import { KEM_PARAMS, kemNative } from '../lib/crypto/kem-backend.js';
import {
  kemBackends,
  mlkem,
  type KemBackendName,
  type MlKemParameterSet,
} from '../lib/crypto/mlkem.js';
import { addCryptoBench, rate, table, type BenchContext, type Figure } from './crypto.js';

const SETS: MlKemParameterSet[] = ['ML-KEM-512', 'ML-KEM-768', 'ML-KEM-1024'];
const REFERENCE: KemBackendName = 'liboqs-wasm';

const us = (perSecond: number): number => 1e6 / perSecond;

/** Node's own ML-KEM (crypto.encapsulate, Node >= 24.7), as a reference when present. */
function nodeKem(set: MlKemParameterSet): (() => number) | undefined {
  const c = nodeCrypto as unknown as {
    encapsulate?: (key: nodeCrypto.KeyObject) => { sharedKey: Buffer; ciphertext: Buffer };
    decapsulate?: (key: nodeCrypto.KeyObject, ct: Buffer) => Buffer;
  };
  if (!c.encapsulate || !c.decapsulate) return undefined;
  const type = set.toLowerCase() as 'ml-kem-768';
  try {
    nodeCrypto.generateKeyPairSync(type as never);
  } catch {
    return undefined;
  }
  return () => {
    const { publicKey, privateKey } = nodeCrypto.generateKeyPairSync(type as never) as {
      publicKey: nodeCrypto.KeyObject;
      privateKey: nodeCrypto.KeyObject;
    };
    const { ciphertext } = c.encapsulate!(publicKey);
    return c.decapsulate!(privateKey, ciphertext).length;
  };
}

async function kemSection(ctx: BenchContext, only?: readonly KemBackendName[]): Promise<void> {
  // the reference first, so every other backend's ratio can be given
  const backends = kemBackends()
    .filter((b) => b.available && (!only || only.includes(b.name) || b.name === REFERENCE))
    .sort((a, b) => Number(b.name === REFERENCE) - Number(a.name === REFERENCE));
  for (const b of kemBackends().filter((x) => !x.available))
    ctx.report({ group: 'mlkem', name: `${b.name}: unavailable`, note: b.reason });
  const totals = new Map<string, number>();
  for (const set of SETS) {
    for (const b of backends) {
      const kem = mlkem(set, { backend: b.name });
      const { encapsulationKey: ek, decapsulationKey: dk } = kem.keygen();
      const { ciphertext: ct } = kem.encapsulate(ek);
      const kp = kem.generateKeyPair();
      const kg = us(rate(() => kem.keygen(), 1, ctx.durationMs));
      const en = us(rate(() => kem.encapsulate(ek), 1, ctx.durationMs));
      const de = us(rate(() => kem.decapsulate(dk, ct), 1, ctx.durationMs));
      const dkp = us(rate(() => kp.decapsulate(ct), 1, ctx.durationMs));
      kp.destroy();
      // what one handshake pays: key pair kept by the backend, encapsulate, decapsulate
      const total = us(
        rate(
          () => {
            const k = kem.generateKeyPair();
            k.decapsulate(kem.encapsulate(k.encapsulationKey).ciphertext);
            k.destroy();
          },
          1,
          ctx.durationMs,
        ),
      );
      totals.set(`${b.name} ${set}`, total);
      // the same three operations in C++ without crossing N-API: the binding's ceiling
      const loop =
        b.name === 'liboqs'
          ? kemNative.mlkemLiboqsBenchLoop
          : b.name === 'openssl'
            ? kemNative.mlkemOpensslBenchLoop
            : undefined;
      const raw = loop && us(rate(() => loop(KEM_PARAMS[set].k, 16), 16, ctx.durationMs));
      const name = `${b.name} ${set}`;
      ctx.report({ group: 'mlkem', name: `${name} keygen`, us: kg });
      ctx.report({ group: 'mlkem', name: `${name} encapsulate`, us: en });
      ctx.report({ group: 'mlkem', name: `${name} decapsulate (dk bytes)`, us: de });
      ctx.report({ group: 'mlkem', name: `${name} decapsulate (key pair)`, us: dkp });
      const ref = totals.get(`${REFERENCE} ${set}`);
      ctx.report({
        group: 'mlkem',
        name: `${name} keygen+encaps+decaps`,
        us: total,
        ...(ref !== undefined && b.name !== REFERENCE
          ? { ratio: ref / total, note: `x ${REFERENCE}` }
          : {}),
      });
      if (raw !== undefined)
        ctx.report({
          group: 'mlkem',
          name: `${name} keygen+encaps+decaps, raw native loop`,
          us: raw,
          ratio: raw / total,
          note: 'raw / API',
        });
    }
    const node = nodeKem(set);
    if (node) {
      const t = us(rate(node, 1, ctx.durationMs));
      const own = totals.get(`openssl ${set}`);
      ctx.report({
        group: 'mlkem',
        name: `node:crypto ${set} keygen+encaps+decaps (reference)`,
        us: t,
        ...(own !== undefined ? { ratio: t / own, note: 'openssl backend x node:crypto' } : {}),
      });
    }
  }
  for (const b of backends) {
    const opts = { backend: b.name };
    const t = us(
      rate(
        () => {
          const c = ClientKeyShare.generate('X25519MLKEM768', opts);
          c.complete(serverKeyShare('X25519MLKEM768', c.share, opts).share);
        },
        1,
        ctx.durationMs,
      ),
    );
    ctx.report({ group: 'groups', name: `${b.name} X25519MLKEM768 client+server exchange`, us: t });
  }
}

addCryptoBench('ML-KEM and hybrid key exchange', (ctx) => kemSection(ctx));

export interface KemBenchOptions {
  durationMs?: number;
  /** Only these backends (default: every available one). */
  backends?: readonly KemBackendName[];
  /** Called with each figure as it is measured (default: print a JSON line). */
  onFigure?: (figure: Figure) => void;
}

/** Runs the ML-KEM figures alone (bench/crypto.ts runs them with the rest). */
export async function runKemBench(options: KemBenchOptions = {}): Promise<Figure[]> {
  const figures: Figure[] = [];
  await kemSection(
    {
      durationMs: options.durationMs ?? 200,
      report(f) {
        figures.push(f);
        (options.onFigure ?? ((x) => console.log(JSON.stringify({ bench: 'kem', ...x }))))(f);
      },
    },
    options.backends,
  );
  return figures;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await runKemBench();
  console.log('\n' + table(figures));
}
