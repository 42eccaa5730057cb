#!/usr/bin/env bash
# A local chat cluster: one redis-server and two `wskit serve --redis` nodes,
# all on 127.0.0.1, in a temporary directory removed on exit.
#
#   scripts/cluster-demo.sh           # run until Ctrl-C; open both printed URLs
#   scripts/cluster-demo.sh --check   # start, send a message across the nodes, stop
#
# Node ports: PORT1 and PORT2 (unset: any free port, printed once listening).
# Needs redis-server (Debian: apt-get install redis-server) and a build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
if [ "${1:-}" = "--check" ]; then check=1; elif [ $# -gt 0 ]; then
  echo "usage: $0 [--check]" >&2
  exit 2
fi
command -v redis-server >/dev/null 2>&1 || { echo "cluster-demo: redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
[ -f dist/src/chat/index.js ] || { echo "cluster-demo: no build found; run npm run build first" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wskit-cluster.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait (at most $3 seconds) until file $1 contains $2.
wait_for_line() {
  local tries=$(( $3 * 10 ))
  for _ in $(seq "$tries"); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "cluster-demo: timed out waiting for \"$2\" in $1:" >&2
  cat "$1" >&2
  return 1
}

# Redis cannot listen on port 0, so ask the OS for a free port first.
redis_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp" --save '' \
  --appendonly yes --appendfsync always --daemonize no >"$tmp/redis.log" 2>&1 &
pids+=($!)
wait_for_line "$tmp/redis.log" "Ready to accept connections" 10
redis_url="redis://127.0.0.1:$redis_port"
echo "redis     $redis_url"

urls=()
for n in 1 2; do
  port_var="PORT$n"
  mkdir -p "$tmp/node$n"
  node bin/wskit serve --host 127.0.0.1 --port "${!port_var:-0}" --redis "$redis_url" --data "$tmp/node$n" \
    >"$tmp/node$n.log" 2>&1 &
  pids+=($!)
  wait_for_line "$tmp/node$n.log" "wskit listening on" 15
  url=$(grep -o 'wskit listening on http://[^ ]*' "$tmp/node$n.log" | head -1 | sed 's/wskit listening on //')
  urls+=("$url")
  echo "node $n    $url   (logs: $tmp/node$n.log)"
done

if [ "$check" = 1 ]; then
  # One client per node in the same room: a message sent on node 1 must reach node 2.
  node --input-type=module - "${urls[0]}" "${urls[1]}" <<'EOF'
import WebSocket from 'ws';
const [first, second] = process.argv.slice(2).map((url) => url.replace(/^http/, 'ws'));
const timer = setTimeout(() => { console.error('cluster-demo: check timed out'); process.exit(1); }, 10_000);
const open = (base, name) => new Promise((resolve, reject) => {
  const ws = new WebSocket(`${base}/ws?room=demo&name=${name}`);
  ws.once('error', reject);
  ws.once('message', () => resolve(ws)); // the history frame: joined
});
const bob = await open(second, 'bob');
const alice = await open(first, 'alice');
const received = new Promise((resolve) => bob.on('message', (data) => {
  const frame = JSON.parse(String(data));
  if (frame.type === 'message' && frame.from === 'alice') resolve(frame);
}));
alice.send(JSON.stringify({ type: 'message', text: 'hello across nodes' }));
const frame = await received;
console.log(`check passed: message ${frame.id} from alice on node 1 reached bob on node 2`);
alice.close(); bob.close(); clearTimeout(timer);
EOF
  exit 0
fi

echo "Open both URLs in a browser; Ctrl-C stops everything."
wait "${pids[@]}"
