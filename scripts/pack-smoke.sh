#!/usr/bin/env bash
# The package as a user gets it: `npm pack`, install the tarball into an empty project (its
# install script compiles the addon there), then a local echo round trip (listen, connect, one
# stream) through `import 'zquic'` and through `require('zquic')`. Ends with one line,
# "1 passed, 0 failed" or "0 passed, 1 failed", which .ci/run adds to its totals.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

smoke() {
  local tgz
  tgz=$(npm pack --silent --pack-destination "$work" | tail -n 1) || return 1
  mkdir "$work/app" && cd "$work/app" || return 1
  npm init -y >/dev/null || return 1
  npm install --no-audit --no-fund --prefer-offline "$work/$tgz" || return 1
  cp "$repo"/test/fixtures/package/echo-round-trip.cjs "$repo"/test/fixtures/package/echo-round-trip.mjs . || return 1
  node echo-round-trip.mjs zquic && node echo-round-trip.cjs zquic
}

if smoke; then
  echo "1 passed, 0 failed"
else
  echo "0 passed, 1 failed"
  exit 1
fi
