#!/usr/bin/env bash
# Live-room fan-out: one broadcast to N clients. meetstage is pinned to CPU 0 with one worker
# thread, the load generator (src/bin/loadgen/, its own process) to CPU 1; SQLite, loopback.
# Usage: bench/room_fanout.sh [clients] [broadcasts]   (defaults 10000 and 20)
# Reports p50/p99 delivery latency, server CPU per delivered message (from /proc), server
# memory per idle connection, and how one client that stops reading affects the others.
set -euo pipefail
cd "$(dirname "$0")/.."
clients="${1:-10000}"
broadcasts="${2:-20}"
port=18090
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

# Both processes hold one socket per client: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --bins
export MEETSTAGE_DATA_DIR="$work" MEETSTAGE_BIND="127.0.0.1:$port" MEETSTAGE_LOG_FORMAT=json RUST_LOG=warn
export MEETSTAGE_RATE_LIMIT_ANONYMOUS=100000000 MEETSTAGE_ROOM_CHAT_PER_MIN=10000
# The load generator reads the server's drop counters when a run falls short.
export MEETSTAGE_METRICS_TOKEN=bench-metrics-token-0123

TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/meetstage serve &
server=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
kill -0 "$server" 2>/dev/null || { echo "the server did not start" >&2; exit 1; }

read -r event cookie _ < <(target/release/loadgen seed --data-dir "$work")
taskset -c 1 target/release/loadgen run --url "http://127.0.0.1:$port" --event "$event" \
  --cookie "$cookie" --clients "$clients" --broadcasts "$broadcasts" --server-pid "$server" --metrics-token bench-metrics-token-0123
