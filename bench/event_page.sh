#!/usr/bin/env bash
# Event-page throughput: meetstage pinned to one core (TOKIO_WORKER_THREADS=1, CPU 0), wrk on
# the other core, 64 connections over loopback. Usage:
#   bench/event_page.sh sqlite            # or: bench/event_page.sh postgres
# Needs wrk (apt-get install wrk) and, for postgres, a server on 127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/.."
backend="${1:-sqlite}"
duration="${DURATION:-15s}"
port=18080
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

cargo build --release --quiet --bin meetstage
export MEETSTAGE_DATA_DIR="$work" MEETSTAGE_BIND="127.0.0.1:$port" MEETSTAGE_LOG_FORMAT=json RUST_LOG=warn
export MEETSTAGE_RATE_LIMIT_ANONYMOUS=100000000 MEETSTAGE_RATE_LIMIT_AUTH=100000000
if [ "$backend" = postgres ]; then
  admin="${MEETSTAGE_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres}"
  psql "$admin" -qc "DROP DATABASE IF EXISTS meetstage_bench WITH (FORCE)" -c "CREATE DATABASE meetstage_bench"
  export DATABASE_URL="${admin%/*}/meetstage_bench"
fi

TOKIO_WORKER_THREADS=1 taskset -c 0 target/release/meetstage serve &
server=$!
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

# One organizer and one event, made through the public API.
python3 - "$port" <<'PY'
import json, sys, urllib.request, http.cookiejar, subprocess, os, datetime
base = f"http://127.0.0.1:{sys.argv[1]}"
def client():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
def call(op, method, path, body=None, csrf=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json", **({"x-csrf-token": csrf} if csrf else {})})
    with op.open(req) as r:
        return json.loads(r.read() or b"null")
org = client()
call(org, "POST", "/api/v1/accounts", {"email": "org@bench.test", "display_name": "Org", "password": "bench passphrase 1"})
subprocess.run(["target/release/meetstage", "admin", "create", "--email", "org@bench.test"], check=True, stdout=subprocess.DEVNULL)
call(org, "POST", "/api/v1/session", {"email": "org@bench.test", "password": "bench passphrase 1"})  # sign-up does not log in
csrf = call(org, "GET", "/api/v1/session")["csrf_token"]
start = (datetime.datetime.utcnow() + datetime.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
event = call(org, "POST", "/api/v1/events", {"title": "Benchmark night", "description": "Line\n" * 40, "start_local": start,
             "time_zone": "Europe/Berlin", "duration_minutes": 90, "capacity": 100}, csrf)["id"]
open(os.environ["MEETSTAGE_DATA_DIR"] + "/event_id", "w").write(event)
PY
event=$(cat "$work/event_id")
url="http://127.0.0.1:$port/events/$event"
curl -fs -o /dev/null "$url"
echo "backend=$backend url=/events/<id> duration=$duration"
taskset -c 1 wrk -t1 -c64 -d"$duration" --latency "$url"
