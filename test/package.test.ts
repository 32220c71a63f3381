// zquic as a user loads it: the compiled package (tsconfig.build.json) through require() and
// import in child processes, with the WebAssembly ML-KEM backend doing the key exchange.
import { expect } from 'chai';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { buildDist, distEntry as entry, root } from './support/dist.js';

const fixture = (ext: string) =>
  join(root, 'test', 'fixtures', 'package', `echo-round-trip.${ext}`);

function run(node: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      node,
      args,
      { timeout: 30_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

// require(esm) needs Node >= 20.19 (20.x) or >= 22.12; older Nodes can only import the package.
const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
const requireEsm = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);

describe('package: the compiled build through require() and import', function () {
  this.timeout(120_000);

  before(() => {
    expect(existsSync(buildDist())).to.equal(true);
  });

  for (const [ext, how] of [
    ['cjs', 'require()'],
    ['mjs', 'import'],
  ] as const)
    it(`${how}: an X25519MLKEM768 echo round trip with ZQUIC_KEM_BACKEND=liboqs-wasm`, async function () {
      if (ext === 'cjs' && !requireEsm) this.skip();
      const r = await run(process.execPath, [fixture(ext), entry], {
        ZQUIC_KEM_BACKEND: 'liboqs-wasm',
      });
      expect(r.code, r.stderr).to.equal(0);
      expect(JSON.parse(r.stdout)).to.deep.equal({ group: 'X25519MLKEM768', echoed: 'ping' });
    });

  it('the shipped types hide @internal members and type-check as a user compiles them', () => {
    const dts = readFileSync(join(root, 'dist', 'lib', 'net', 'session.d.ts'), 'utf8');
    expect(dts).to.include('class QuicSession');
    for (const internal of ['heapIndex', 'kickSelf', 'readonly conn', 'abandonHandshake'])
      expect(dts, internal).to.not.include(internal);
    // Every declaration file, checked (skipLibCheck off), with a user's strict settings.
    const dir = mkdtempSync(join(tmpdir(), 'zquic-types-'));
    try {
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            strict: true,
            module: 'nodenext',
            moduleResolution: 'nodenext',
            target: 'es2022',
            noEmit: true,
            skipLibCheck: false,
            types: ['node'],
            typeRoots: [join(root, 'node_modules', '@types')],
          },
          include: [join(root, 'dist', 'lib', '**', '*.d.ts')],
        }),
      );
      const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
      execFileSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: root });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('require() loads the package root and zquic/crypto without ERR_REQUIRE_ASYNC_MODULE', async function () {
    if (!requireEsm) this.skip();
    const script = `const z = require(${JSON.stringify(entry)});
      const c = require(${JSON.stringify(join(root, 'dist', 'lib', 'crypto', 'index.js'))});
      console.log(typeof z.connect, typeof z.decodeSessionTicket, typeof c.mlkem);`;
    const r = await run(process.execPath, ['-e', script]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal('function function function');
  });
});
