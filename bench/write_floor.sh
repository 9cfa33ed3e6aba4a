#!/usr/bin/env bash
# The kernel's cost of one small write to each of N loopback sockets, with the writer pinned to
# CPU 0 and a reader on CPU 1, as bench/room_fanout.sh runs: the floor under the server's CPU
# per delivered message on this machine. Usage: bench/write_floor.sh [clients]
set -euo pipefail
cd "$(dirname "$0")/.."
clients="${1:-10000}"
ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --bin loadgen
TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/loadgen floor-server --clients "$clients" &
server=$!
sleep 0.5
taskset -c 1 target/release/loadgen floor-client --clients "$clients" &
client=$!
wait "$server"
kill "$client" 2>/dev/null || true
