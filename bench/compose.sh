#!/usr/bin/env bash
# What composing a recording costs: a raw part as the embedded server writes it (a presenter's
# 720p camera, a 720p screen shared for the middle half, her microphone; VP8 and Opus), of
# SECONDS seconds, composed by `meetstage compose` pinned to one core (CPU 0), as the job
# after an event does. Prints the time taken as a multiple of the recording's duration (the
# target is at most 0.5). Usage: bench/compose.sh [seconds, default 300]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# ffmpeg does the work; meetstage only reads the timeline and ffmpeg's progress, so the
# test profile's binary (already built by scripts/test) measures the same.
cargo build --quiet --bin meetstage
bin="${CARGO_TARGET_DIR:-target}/debug/meetstage"
part="$work/raw/part-1000"
mkdir -p "$part"
user=0190-bench
quiet=(-hide_banner -loglevel error -y)
# The inputs are made first and are not measured (VP8 at about the bitrate a camera sends).
ffmpeg "${quiet[@]}" -f lavfi -i "testsrc2=size=1280x720:rate=30" -t "$seconds" \
  -c:v libvpx -deadline realtime -cpu-used 8 -b:v 1500k -f ivf "$part/$user-camera-1.ivf"
ffmpeg "${quiet[@]}" -f lavfi -i "smptehdbars=size=1280x720:rate=15" -t "$((seconds / 2))" \
  -c:v libvpx -deadline realtime -cpu-used 8 -b:v 800k -f ivf "$part/$user-screen-1.ivf"
ffmpeg "${quiet[@]}" -f lavfi -i "sine=frequency=300:sample_rate=48000" -t "$seconds" \
  -c:a libopus -b:a 48k -f ogg "$part/$user-mic-1.ogg"
{
  echo "{\"at\":1000,\"started\":true}"
  echo "{\"at\":1000,\"user\":\"$user\",\"track\":\"camera\",\"file\":\"$user-camera-1.ivf\"}"
  echo "{\"at\":1000,\"user\":\"$user\",\"track\":\"mic\",\"file\":\"$user-mic-1.ogg\"}"
  echo "{\"at\":$((1000 + seconds * 250)),\"user\":\"$user\",\"track\":\"screen\",\"file\":\"$user-screen-1.ivf\"}"
  echo "{\"at\":$((1000 + seconds * 1000)),\"stopped\":true}"
} > "$part/timeline.jsonl"
echo "composing ${seconds} s on CPU 0 ($(nproc) CPUs here)"
taskset -c 0 "$bin" compose --raw "$work/raw" --out "$work/out"
ls -l "$work/out/recording.mp4" | awk '{ printf "MP4: %.1f MB\n", $5 / 1e6 }'
du -sm "$work/out/hls" | awk '{ printf "HLS: %s MB\n", $1 }'
