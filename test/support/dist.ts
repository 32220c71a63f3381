// The compiled package (tsconfig.build.json), built once per test run: what users load, and what
// worker threads run (Node 20 does not hand the main thread's TypeScript loader to them).
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The package's entry in the build. */
export const distEntry = join(root, 'dist', 'lib', 'index.js');
let built = false;

/** Builds dist/ (once per process) and returns its entry. */
export function buildDist(): string {
  if (!built) {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root });
    built = true;
  }
  return distEntry;
}
