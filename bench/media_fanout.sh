#!/usr/bin/env bash
# Media fan-out: one publisher (720p-sized video at 2 Mbit/s, 30 fps, and audio) forwarded by
# the embedded SFU to N guest subscribers. meetstage is pinned to CPU 0 with one worker thread,
# the load generator (src/bin/loadgen/media.rs, its own process) to CPU 1; loopback only.
# Each audience size runs on a fresh server.
# Usage: bench/media_fanout.sh [sizes...] [--seconds S] [--no-record]
#   (defaults 50 100 200, 10 s each; the event is recorded unless --no-record)
# Reports, per size: server CPU as a share of one core (and per subscriber), frames lost
# (mean and worst subscriber) and server memory per subscriber.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10
sizes=()
record=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --no-record) record=(--no-record); shift ;;
    *) sizes+=("$1"); shift ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(50 100 200)
port=18091
ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --bins
# MEETSTAGE_BENCH_BIN: binaries built elsewhere (a baseline to compare with).
bin="${MEETSTAGE_BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release}"
export MEETSTAGE_BIND="127.0.0.1:$port" MEETSTAGE_LOG_FORMAT=json RUST_LOG=warn
export MEETSTAGE_RATE_LIMIT_ANONYMOUS=100000000
# Each subscriber says it comes from an address of its own (X-Forwarded-For), as an audience
# does: one address may hold only 16 guests.
export MEETSTAGE_TRUST_PROXY=true

for n in "${sizes[@]}"; do
  work=$(mktemp -d)
  export MEETSTAGE_DATA_DIR="$work"
  TOKIO_WORKER_THREADS=1 taskset -c 0 "$bin"/meetstage serve &
  server=$!
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  read -r event _ key < <("$bin"/loadgen seed --data-dir "$work" "${record[@]}")
  taskset -c 1 timeout 300 "$bin"/loadgen media --url "http://127.0.0.1:$port" \
    --event "$event" --key "$key" --subscribers "$n" --seconds "$seconds" --server-pid "$server" || true
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$work"
done
