#!/usr/bin/env bash
# Runs ws's own public-API tests against wskit/ws.
#
#   scripts/ws-suite.sh PATH_TO_WS_CHECKOUT     a work tree of github.com/websockets/ws
#   scripts/ws-suite.sh PATH_TO_WS_GIT_DIR      a (bare) git directory: HEAD is archived
#   scripts/ws-suite.sh --reference PATH        the same tests against a second copy of
#                                               ws itself, loaded the same way: the ceiling
#                                               that any module other than ws can reach
#
# The checkout's test/ and lib/ are copied into a temporary directory outside
# this repository. lib/ stays beside the tests only for the internals they
# import (../lib/sender, ../lib/constants, ../lib/event-target); the lines
# that load the package itself are rewritten to load wskit/ws, the built
# CommonJS entry, through its package exports:
#   require('..')            -> require('wskit/ws')
#   require('../lib/stream') -> require('wskit/ws').createWebSocketStream
# With --reference, the package loaded instead is a copy of the checkout's own
# ws (its index.js, lib/ and package.json) under another name: the tests that
# still fail then are those that compare with the test tree's own lib/ objects
# (EMPTY_BUFFER, the event classes, kListener) by identity.
# Mocha is installed from the npm registry into a cache directory on first use.
# Build first: npm run build -w wskit.
set -euo pipefail

reference=0
if [ "${1:-}" = "--reference" ]; then
  reference=1
  shift
fi
src=${1:?usage: scripts/ws-suite.sh [--reference] PATH_TO_WS_CHECKOUT_OR_GIT_DIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${WSKIT_WS_SUITE_CACHE:-${TMPDIR:-/tmp}/wskit-ws-suite-cache}
files=(test/websocket.test.js test/websocket-server.test.js test/create-websocket-stream.test.js)

if [ "$reference" = 0 ] && [ ! -f "$repo/packages/wskit/dist/cjs/ws/index.cjs" ]; then
  echo "wskit is not built: run npm run build -w wskit" >&2
  exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/wskit-ws-suite.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ -d "$src/test" ] && [ -d "$src/lib" ]; then
  cp -R "$src/test" "$src/lib" "$work/"
  [ "$reference" = 0 ] || cp "$src/index.js" "$src/package.json" "$work/"
elif git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  git -C "$src" archive HEAD test lib index.js package.json | tar -x -C "$work"
else
  echo "$src is neither a ws checkout (test/ and lib/) nor a git directory" >&2
  exit 2
fi

# Only the lines that load the package change.
mkdir -p "$work/node_modules"
if [ "$reference" = 1 ]; then
  package=ws-reference
  mkdir -p "$work/node_modules/$package"
  cp -R "$work/index.js" "$work/package.json" "$work/lib" "$work/node_modules/$package/"
else
  package=wskit/ws
  ln -s "$repo/packages/wskit" "$work/node_modules/wskit"
fi
for file in "${files[@]}"; do
  sed -i \
    -e "s#require('\.\.')#require('$package')#" \
    -e "s#require('\.\./lib/stream')#require('$package').createWebSocketStream#" \
    "$work/$file"
done

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

node - "$work/results.json" "$package" <<'JS'
const results = require(process.argv[2]);
const { stats, failures } = results;
for (const failure of failures) {
  const message = (failure.err.message || '').split('\n')[0];
  console.log(`FAIL ${failure.fullTitle}\n     ${message}`);
}
console.log(`\nws suite against ${process.argv[3]}: ${stats.passes} passing, ${stats.failures} failing, ${stats.pending} pending (of ${stats.tests})`);
JS
