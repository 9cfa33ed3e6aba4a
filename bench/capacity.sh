#!/usr/bin/env bash
# What one small server holds: meetstage in a 1 vCPU / 1 GiB box (a cgroup with those limits,
# pinned to CPU 0, one Tokio worker), a room of 1,000 people (200 signed-in members chatting
# 5 messages a second, asking, raising hands and reacting; guests leaving and arriving) while
# one publisher's 720p video (2 Mbit/s, 30 fps, and audio) goes to N viewers through the
# embedded SFU. The load generator (src/bin/loadgen/capacity.rs, its own process) runs on
# CPU 1. SQLite, loopback. Each audience size runs on a fresh server.
# Usage: bench/capacity.sh [sizes...] [--clients N] [--members K] [--seconds S]
#   (defaults 50 100 150 viewers, 1000 clients, 200 members, 20 s each)
# Needs root for the cgroup (v1 or v2); without it the limits are not applied, and it says so.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=20
clients=1000
members=200
sizes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --clients) clients="$2"; shift 2 ;;
    --members) members="$2"; shift 2 ;;
    *) sizes+=("$1"); shift ;;
  esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(50 100 150)
port=18092
ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet --bins
bin="${MEETSTAGE_BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release}"

# The box: one CPU's worth of time and 1 GiB, as a small cloud server has.
group=meetstage-capacity
cgroup_dirs=()
memory_dir=""
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  dir=/sys/fs/cgroup/$group
  if mkdir -p "$dir" 2>/dev/null && echo "100000 100000" >"$dir/cpu.max" 2>/dev/null &&
    echo 1G >"$dir/memory.max"; then
    cgroup_dirs=("$dir")
  fi
elif [ -w /sys/fs/cgroup/cpu ] && [ -w /sys/fs/cgroup/memory ]; then
  mkdir -p "/sys/fs/cgroup/cpu/$group" "/sys/fs/cgroup/memory/$group"
  echo 100000 >"/sys/fs/cgroup/cpu/$group/cpu.cfs_period_us"
  echo 100000 >"/sys/fs/cgroup/cpu/$group/cpu.cfs_quota_us"
  echo 1G >"/sys/fs/cgroup/memory/$group/memory.limit_in_bytes"
  cgroup_dirs=("/sys/fs/cgroup/cpu/$group" "/sys/fs/cgroup/memory/$group")
  memory_dir="/sys/fs/cgroup/memory/$group"
fi
if [ ${#cgroup_dirs[@]} -eq 0 ]; then
  echo "no writable cgroup: the server runs pinned to one CPU but without the 1 GiB limit" >&2
fi

export MEETSTAGE_BIND="127.0.0.1:$port" MEETSTAGE_LOG_FORMAT=json RUST_LOG=warn
export MEETSTAGE_RATE_LIMIT_ANONYMOUS=100000000
# Viewers each come from an address of their own (X-Forwarded-For), as an audience does.
export MEETSTAGE_TRUST_PROXY=true

for n in "${sizes[@]}"; do
  work=$(mktemp -d)
  export MEETSTAGE_DATA_DIR="$work"
  # Into the box first, then the server: it and every thread it starts stay inside.
  BIN="$bin" MEMORY_DIR="$memory_dir" TOKIO_WORKER_THREADS=1 taskset -c 0 sh -c '
    for d in "$@"; do echo $$ >"$d/cgroup.procs"; done
    [ -n "$MEMORY_DIR" ] && echo 0 >"$MEMORY_DIR/memory.max_usage_in_bytes" && echo 0 >"$MEMORY_DIR/memory.failcnt"
    exec "$BIN/meetstage" serve' sh "${cgroup_dirs[@]}" &
  server=$!
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
  read -r event _ key < <("$bin/loadgen" seed --data-dir "$work" --no-record \
    --members "$members" --cookies "$work/cookies")
  cgroup_arg=()
  [ -n "$memory_dir" ] && cgroup_arg=(--memory-cgroup "$memory_dir")
  echo "== $n viewers"
  taskset -c 1 timeout 600 "$bin/loadgen" capacity --url "http://127.0.0.1:$port" \
    --event "$event" --key "$key" --cookies "$work/cookies" --clients "$clients" \
    --subscribers "$n" --seconds "$seconds" --server-pid "$server" "${cgroup_arg[@]}" || true
  kill "$server"; wait "$server" 2>/dev/null || true
  rm -rf "$work"
done
