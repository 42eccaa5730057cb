#!/usr/bin/env bash
# Runs ws's own public-API tests against wskit/ws.
#
#   scripts/ws-suite.sh PATH_TO_WS_CHECKOUT     a work tree of github.com/websockets/ws
#   scripts/ws-suite.sh PATH_TO_WS_GIT_DIR      a (bare) git directory: HEAD is archived
#
# The checkout's test/ and lib/ are copied into a temporary directory outside
# this repository. lib/ stays beside the tests only for the internals they
# import (../lib/sender, ../lib/constants, ../lib/event-target); the lines
# that load the package itself are rewritten to load wskit/ws, the built
# CommonJS entry, through its package exports:
#   require('..')            -> require('wskit/ws')
#   require('../lib/stream') -> require('wskit/ws').createWebSocketStream
# Mocha is installed from the npm registry into a cache directory on first use.
# Build first: npm run build -w wskit.
set -euo pipefail

src=${1:?usage: scripts/ws-suite.sh PATH_TO_WS_CHECKOUT_OR_GIT_DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${WSKIT_WS_SUITE_CACHE:-${TMPDIR:-/tmp}/wskit-ws-suite-cache}
files=(test/websocket.test.js test/websocket-server.test.js test/create-websocket-stream.test.js)

if [ ! -f "$repo/packages/wskit/dist/cjs/ws/index.cjs" ]; then
  echo "wskit is not built: run npm run build -w wskit" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/wskit-ws-suite.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -d "$src/test" ] && [ -d "$src/lib" ]; then
  cp -R "$src/test" "$src/lib" "$work/"
elif git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" archive HEAD test lib | tar -x -C "$work"
else
  echo "$src is neither a ws checkout (test/ and lib/) nor a git directory" >&2
  exit 2
fi

# Only the lines that load the package change.
for file in "${files[@]}"; do
  sed -i \
    -e "s#require('\.\.')#require('wskit/ws')#" \
    -e "s#require('\.\./lib/stream')#require('wskit/ws').createWebSocketStream#" \
    "$work/$file"
done
mkdir -p "$work/node_modules"
ln -s "$repo/packages/wskit" "$work/node_modules/wskit"

if [ ! -x "$cache/node_modules/.bin/mocha" ]; then
  echo "installing mocha into $cache" >&2
  npm install --silent --no-audit --no-fund --prefix "$cache" mocha@10 >&2
fi

cd "$work"
set +e
"$cache/node_modules/.bin/mocha" --exit --timeout 4000 --reporter json --reporter-option "output=$work/results.json" "${files[@]}" >"$work/mocha.log" 2>&1
status=$?
set -e
if [ ! -s "$work/results.json" ]; then
  cat "$work/mocha.log" >&2
  exit "$status"
fi

node - "$work/results.json" <<'JS'
const results = require(process.argv[2]);
const { stats, failures } = results;
for (const failure of failures) {
  const message = (failure.err.message || '').split('\n')[0];
  console.log(`FAIL ${failure.fullTitle}\n     ${message}`);
}
console.log(`\nws suite against wskit/ws: ${stats.passes} passing, ${stats.failures} failing, ${stats.pending} pending (of ${stats.tests})`);
JS
