// Junk at every ML-KEM and key-share export (and the raw native ML-KEM functions under them):
// only a normal return, a TypeError/RangeError whose message names the argument, or - for
// values a peer controls - KeyShareError is acceptable. A crash would end the test process.
import { expect } from 'chai';

import { KeyShareError } from '../lib/crypto/errors.js';
import {
  ClientKeyShare,
  GROUPS,
  groupByCode,
  groupByName,
  serverKeyShare,
} from '../lib/crypto/groups.js';
import { kemNative } from '../lib/crypto/kem-backend.js';
import { mlkem, type KemBackendName } from '../lib/crypto/mlkem.js';
import { BACKENDS, SETS, backendTitle, itFor } from './kem-helpers.js';
import {
  JUNK as COMMON_JUNK,
  expectNamedError,
  junkEachArgument,
  label,
  type JunkSpec,
} from './support/junk.js';

const JUNK: unknown[] = [...COMMON_JUNK];
for (let n = 0; n <= 8; n++) JUNK.push(n);

interface Spec extends JunkSpec {
  peer?: boolean; // KeyShareError is a legitimate answer
  /** An Error this raw call gives when its backend is not usable here. */
  unavailable?: RegExp;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
const N = kemNative as any;

function check(spec: Spec, args: unknown[], what: string): void {
  expectNamedError(
    spec,
    args,
    what,
    (err) =>
      (spec.peer === true && err instanceof KeyShareError) ||
      (spec.unavailable !== undefined && spec.unavailable.test(err.message)),
  );
}

function run(spec: Spec): void {
  // the valid call itself works (a raw call of a backend missing here: says it is unavailable)
  if (spec.unavailable) check(spec, spec.valid(), 'valid arguments');
  else spec.call(spec.valid());
  junkEachArgument(spec, JUNK, (args, what) => check(spec, args, what));
}

function kemSpecs(backend: KemBackendName, set: (typeof SETS)[number]): Spec[] {
  const kem = mlkem(set, { backend });
  const { encapsulationKey: ek, decapsulationKey: dk } = kem.keygen();
  const { ciphertext: ct } = kem.encapsulate(ek);
  const kp = kem.generateKeyPair();
  const K = kem as any;
  // a backend without seeded operation refuses a seed of the right length (and says why)
  const noSeed = kem.deterministic ? undefined : /_derand/;
  const specs: Spec[] = [
    {
      name: 'mlkem',
      params: ['parameterSet', 'options'],
      valid: () => [set, { backend }],
      call: (a) => (mlkem as any)(...a),
    },
    {
      name: 'keygen',
      params: ['seed'],
      valid: () => [],
      call: (a) => K.keygen(...a),
      unavailable: noSeed,
    },
    {
      name: 'generateKeyPair',
      params: ['seed'],
      valid: () => [],
      call: (a) => K.generateKeyPair(...a),
      unavailable: noSeed,
    },
    {
      name: 'encapsulate',
      params: ['encapsulationKey', 'm'],
      valid: () => [ek],
      call: (a) => K.encapsulate(...a),
      peer: true,
      unavailable: noSeed,
    },
    {
      name: 'decapsulate',
      params: ['decapsulationKey', 'ciphertext'],
      valid: () => [dk, ct],
      call: (a) => K.decapsulate(...a),
    },
    {
      name: 'checkEncapsulationKey',
      params: ['encapsulationKey'],
      valid: () => [ek],
      call: (a) => K.checkEncapsulationKey(...a),
    },
    {
      name: 'MlKemKeyPair.decapsulate',
      params: ['ciphertext'],
      valid: () => [ct],
      call: (a) => (kp as any).decapsulate(...a),
    },
  ];
  if (kem.deterministic) {
    // seeds and m in the valid calls too, so their lengths get swept
    specs.push(
      {
        name: 'keygen(seed)',
        params: ['seed'],
        valid: () => [Buffer.alloc(64, 1)],
        call: (a) => K.keygen(...a),
      },
      {
        name: 'generateKeyPair(seed)',
        params: ['seed'],
        valid: () => [Buffer.alloc(64, 2)],
        call: (a) => K.generateKeyPair(...a).destroy(),
      },
      {
        name: 'encapsulate(ek, m)',
        params: ['encapsulationKey', 'm'],
        valid: () => [ek, Buffer.alloc(32, 3)],
        call: (a) => K.encapsulate(...a),
        peer: true,
      },
    );
  }
  return specs;
}

function groupSpecs(backend: KemBackendName): Spec[] {
  const specs: Spec[] = [];
  for (const g of GROUPS) {
    const opts = { backend };
    let client = ClientKeyShare.generate(g.name, opts);
    const answer = serverKeyShare(g.name, client.share, opts).share;
    specs.push(
      {
        name: `ClientKeyShare.generate ${g.name}`,
        params: ['group', 'options'],
        valid: () => [g.name, opts],
        call: (a) => (ClientKeyShare.generate as any)(...a).destroy(),
      },
      {
        name: `serverKeyShare ${g.name}`,
        params: ['group', 'clientShare', 'options'],
        valid: () => [g.name, client.share, opts],
        call: (a) => (serverKeyShare as any)(...a),
        peer: true,
      },
      {
        name: `ClientKeyShare.complete ${g.name}`,
        params: ['serverShare'],
        valid: () => [answer],
        call: (a) => {
          const r = (client as any).complete(...a);
          client = ClientKeyShare.generate(g.name, opts); // completing consumed it
          return r;
        },
        peer: true,
      },
    );
  }
  return specs;
}

const nativeUnavailable = /unavailable/;
function rawSpecs(): Spec[] {
  const specs: Spec[] = [];
  const ek = Buffer.alloc(1184, 0);
  const dk = Buffer.alloc(2400, 0);
  const ct = Buffer.alloc(1088, 0);
  specs.push(
    {
      name: 'native.mlkemCheckEncapsulationKey',
      params: ['k', 'encapsulationKey'],
      valid: () => [3, ek],
      call: (a) => N.mlkemCheckEncapsulationKey(...a),
    },
    {
      name: 'native.mlkemCheckDecapsulationKey',
      params: ['k', 'decapsulationKey'],
      valid: () => [3, dk],
      call: (a) => N.mlkemCheckDecapsulationKey(...a),
    },
    {
      name: 'native.mlkemOpensslKeygen',
      params: ['k', 'seed'],
      valid: () => [3, Buffer.alloc(64)],
      call: (a) => N.mlkemOpensslKeygen(...a),
      unavailable: nativeUnavailable,
    },
    {
      name: 'native.mlkemOpensslGenerate',
      params: ['k', 'seed'],
      valid: () => [3, Buffer.alloc(64)],
      call: (a) => N.mlkemOpensslGenerate(...a),
      unavailable: nativeUnavailable,
    },
    {
      name: 'native.mlkemOpensslEncapsulate',
      params: ['k', 'encapsulationKey', 'm'],
      valid: () => [3, ek, Buffer.alloc(32)],
      call: (a) => N.mlkemOpensslEncapsulate(...a),
      unavailable: nativeUnavailable,
    },
    // an all-zero dk fails the §7.3 hash check: a RangeError naming decapsulationKey
    {
      name: 'native.mlkemOpensslDecapsulate',
      params: ['k', 'decapsulationKey', 'ciphertext'],
      valid: () => [3, dk, ct],
      call: (a) => N.mlkemOpensslDecapsulate(...a),
      unavailable: nativeUnavailable,
    },
    {
      name: 'native.mlkemOpensslKeyDecapsulate',
      params: ['key', 'ciphertext'],
      valid: () => [{}, ct],
      call: (a) => N.mlkemOpensslKeyDecapsulate(...a),
    },
    {
      name: 'native.mlkemOpensslKeyDestroy',
      params: ['key'],
      valid: () => [{}],
      call: (a) => N.mlkemOpensslKeyDestroy(...a),
    },
  );
  specs.push({
    name: 'native.mlkemOpensslBenchLoop',
    params: ['k', 'iterations'],
    valid: () => [3, 1],
    call: (a) => N.mlkemOpensslBenchLoop(...a),
    unavailable: nativeUnavailable,
  });
  if (N.mlkemLiboqsKeygen) {
    specs.push(
      {
        name: 'native.mlkemLiboqsGenerate',
        params: ['k', 'seed'],
        valid: () => [3, Buffer.alloc(64)],
        call: (a) => N.mlkemLiboqsGenerate(...a),
        unavailable: nativeUnavailable,
      },
      {
        name: 'native.mlkemLiboqsKeyDecapsulate',
        params: ['key', 'ciphertext'],
        valid: () => [{}, ct],
        call: (a) => N.mlkemLiboqsKeyDecapsulate(...a),
      },
      {
        name: 'native.mlkemLiboqsKeyDestroy',
        params: ['key'],
        valid: () => [{}],
        call: (a) => N.mlkemLiboqsKeyDestroy(...a),
      },
      {
        name: 'native.mlkemLiboqsBenchLoop',
        params: ['k', 'iterations'],
        valid: () => [3, 1],
        call: (a) => N.mlkemLiboqsBenchLoop(...a),
        unavailable: nativeUnavailable,
      },
      {
        name: 'native.mlkemLiboqsKeygen',
        params: ['k', 'seed'],
        valid: () => [3, Buffer.alloc(64)],
        call: (a) => N.mlkemLiboqsKeygen(...a),
        unavailable: nativeUnavailable,
      },
      {
        name: 'native.mlkemLiboqsEncapsulate',
        params: ['k', 'encapsulationKey', 'm'],
        valid: () => [3, ek, Buffer.alloc(32)],
        call: (a) => N.mlkemLiboqsEncapsulate(...a),
        unavailable: nativeUnavailable,
      },
      {
        name: 'native.mlkemLiboqsDecapsulate',
        params: ['k', 'decapsulationKey', 'ciphertext'],
        valid: () => [3, dk, ct],
        call: (a) => N.mlkemLiboqsDecapsulate(...a),
        unavailable: nativeUnavailable,
      },
    );
  }
  return specs;
}

describe('ML-KEM and key shares: bad input', () => {
  for (const info of BACKENDS) {
    const test = itFor(info);
    describe(backendTitle(info), () => {
      for (const set of SETS) {
        test(`${set}: junk in every argument of every MlKem method`, () => {
          for (const spec of kemSpecs(info.name, set)) run(spec);
        });
      }
      test('key-share groups: junk in every argument', () => {
        for (const spec of groupSpecs(info.name)) run(spec);
      });
    });
  }

  it('raw native ML-KEM functions: junk in every argument', () => {
    for (const spec of rawSpecs()) {
      // the handle-taking calls have no valid call without a live key: junk only
      if (spec.name.includes('Key')) {
        for (const junk of JUNK) check(spec, [junk, Buffer.alloc(1088)], label(junk));
        continue;
      }
      run(spec);
    }
  });

  it('a native key handle of another kind, or a destroyed one, is refused', () => {
    const ct = Buffer.alloc(1088);
    const live: string[] = [];
    for (const name of ['Openssl', 'Liboqs']) {
      if (!BACKENDS.find((b) => b.name === name.toLowerCase())!.available) continue;
      live.push(name);
      const [, key] = N[`mlkem${name}Generate`](3);
      N[`mlkem${name}KeyDestroy`](key);
      expect(() => N[`mlkem${name}KeyDecapsulate`](key, ct)).to.throw(Error, /destroyed/);
      N[`mlkem${name}KeyDestroy`](key); // twice is fine
    }
    // a key of one backend is not accepted by the other (N-API type tags)
    if (live.length === 2) {
      const [, opensslKey] = N.mlkemOpensslGenerate(3);
      const [, liboqsKey] = N.mlkemLiboqsGenerate(3);
      expect(() => N.mlkemLiboqsKeyDecapsulate(opensslKey, ct)).to.throw(TypeError, /key/);
      expect(() => N.mlkemOpensslKeyDecapsulate(liboqsKey, ct)).to.throw(TypeError, /key/);
    }
    if (live.length === 0) expect(() => N.mlkemOpensslGenerate(3)).to.throw(Error, /unavailable/);
  });

  it('group lookups take anything and answer undefined for junk', () => {
    for (const junk of JUNK) {
      expect(groupByCode(junk as number)).to.equal(undefined);
      expect(groupByName(junk as string)).to.equal(undefined);
    }
  });
});
