#!/usr/bin/env bash
# A local chat cluster: one redis-server (or, with --redis-cluster, a Redis
# Cluster of three masters) and two `wskit serve --redis` nodes, all on
# 127.0.0.1, in a temporary directory removed on exit.
#
#   scripts/cluster-demo.sh                    # run until Ctrl-C; open both printed URLs
#   scripts/cluster-demo.sh --check            # start, send a message across the nodes, stop
#   scripts/cluster-demo.sh --redis-cluster    # the same over a 3-master Redis Cluster
#                                              # (redis-cli --cluster create; node 1 is given
#                                              # master 1, node 2 master 2: the rest is discovered)
#
# Node ports: PORT1 and PORT2 (unset: any free port, printed once listening).
# Needs redis-server (Debian: apt-get install redis-server; redis-cli too for
# --redis-cluster) and a build (npm run build).
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
cluster=0
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    --redis-cluster) cluster=1 ;;
    *) echo "usage: $0 [--check] [--redis-cluster]" >&2; exit 2 ;;
  esac
done
command -v redis-server >/dev/null 2>&1 || { echo "cluster-demo: redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
if [ "$cluster" = 1 ]; then
  command -v redis-cli >/dev/null 2>&1 || { echo "cluster-demo: redis-cli is not installed (apt-get install redis-tools)" >&2; exit 1; }
fi
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
free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# A cluster node's bus listens on port + 10000: pick a port from 10000 to 22767
# whose bus port is free too, both below the ephemeral range (32768 and up).
cluster_port() {
  node -e '
    const net = require("net");
    const free = (port) => new Promise((ok) => { const s = net.createServer(); s.once("error", () => ok(false)); s.listen(port, "127.0.0.1", () => s.close(() => ok(true))); });
    (async () => {
      for (;;) {
        const port = 10000 + Math.floor(Math.random() * 12768);
        if (await free(port) && await free(port + 10000)) return console.log(port);
      }
    })();'
}

# Start redis-server on port $1 with extra arguments; wait until it is ready.
start_redis() {
  local port=$1; shift
  mkdir -p "$tmp/redis-$port"
  redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp/redis-$port" --save '' \
    --appendonly yes --appendfsync always --daemonize no "$@" >"$tmp/redis-$port.log" 2>&1 &
  pids+=($!)
  wait_for_line "$tmp/redis-$port.log" "Ready to accept connections" 10
}

redis_urls=()
if [ "$cluster" = 1 ]; then
  addresses=()
  for _ in 1 2 3; do
    port=$(cluster_port)
    start_redis "$port" --cluster-enabled yes --cluster-config-file nodes.conf
    addresses+=("127.0.0.1:$port")
    redis_urls+=("redis://127.0.0.1:$port")
  done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 0 --cluster-yes >"$tmp/cluster-create.log" 2>&1 \
    || { cat "$tmp/cluster-create.log" >&2; exit 1; }
  for address in "${addresses[@]}"; do
    for _ in $(seq 100); do
      redis-cli -p "${address#*:}" CLUSTER INFO | grep -q '^cluster_state:ok' && break
      sleep 0.1
    done
  done
  echo "redis     Redis Cluster of ${addresses[*]}"
else
  port=$(free_port)
  start_redis "$port"
  redis_urls+=("redis://127.0.0.1:$port" "redis://127.0.0.1:$port")
  echo "redis     ${redis_urls[0]}"
fi

urls=()
for n in 1 2; do
  port_var="PORT$n"
  mkdir -p "$tmp/node$n"
  node bin/wskit serve --host 127.0.0.1 --port "${!port_var:-0}" --redis "${redis_urls[$((n - 1))]}" --data "$tmp/node$n" \
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
const timer = setTimeout(() => { console.error('cluster-demo: check timed out'); process.exit(1); }, 15_000);
// A node on a Redis Cluster takes a moment to discover it: wait for /healthz 200.
for (const url of process.argv.slice(2)) {
  while ((await fetch(`${url}/healthz`)).status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
}
const [first, second] = process.argv.slice(2).map((url) => url.replace(/^http/, 'ws'));
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
