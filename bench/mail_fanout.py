#!/usr/bin/env python3
"""Mail fan-out and outbox throughput, against a release build on loopback.

For N registrants (default 20 and 2,000): the latency of the request that cancels an event
(which must not grow with N: it writes one job row), then how fast the job loop turns that
into N delivered mails with the log transport (mails/s, rate limit lifted).

Usage: cargo build --release && python3 bench/mail_fanout.py [N ...]
"""
import http.cookiejar, json, os, sqlite3, subprocess, sys, tempfile, time, urllib.request, uuid

BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "meetstage")
PORT = 18090
BASE = f"http://127.0.0.1:{PORT}"


def client():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def call(op, method, path, body=None, csrf=None):
    headers = {"content-type": "application/json"}
    if csrf:
        headers["x-csrf-token"] = csrf
    req = urllib.request.Request(BASE + path, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    with op.open(req) as r:
        return json.loads(r.read() or b"null")


def main(sizes):
    data = tempfile.mkdtemp()
    env = dict(os.environ, MEETSTAGE_DATA_DIR=data, MEETSTAGE_BIND=f"127.0.0.1:{PORT}", RUST_LOG="warn",
               MEETSTAGE_MAIL_RATE="1000000", MEETSTAGE_RATE_LIMIT_USER="1000000", MEETSTAGE_RATE_LIMIT_AUTH="1000000",
               MEETSTAGE_RATE_LIMIT_ANONYMOUS="1000000")
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(BASE + "/readyz")
                break
            except Exception:
                time.sleep(0.1)
        org = client()
        call(org, "POST", "/api/v1/accounts", {"email": "org@bench.test", "display_name": "Org", "password": "bench passphrase 1"})
        subprocess.run([BIN, "admin", "create", "--email", "org@bench.test"], env=env, check=True, stdout=subprocess.DEVNULL)
        csrf = call(org, "GET", "/api/v1/session")["csrf_token"]
        db = sqlite3.connect(os.path.join(data, "meetstage.db"), timeout=30)
        mail_dir = os.path.join(data, "mail")
        print(f"{'registrants':>11} {'cancel request':>15} {'all mails delivered':>20} {'mails/s':>8}")
        for n in sizes:
            event = call(org, "POST", "/api/v1/events", {"title": f"Fan-out {n}", "start_local": "2031-01-01T10:00",
                                                       "time_zone": "UTC", "duration_minutes": 60}, csrf)["id"]
            now = int(time.time() * 1000)
            users = [(str(uuid.uuid4()), f"u{n}-{i}@bench.test") for i in range(n)]
            db.executemany("INSERT INTO users (id, email, display_name, password_hash, role, email_verified_at, created_at, updated_at) "
                           "VALUES (?, ?, 'U', '', 'member', 0, ?, ?)", [(u, e, now, now) for u, e in users])
            db.executemany("INSERT INTO registrations (event_id, user_id, status, created_at) VALUES (?, ?, 'registered', ?)",
                           [(event, u, now) for u, _ in users])
            db.commit()
            before = len(os.listdir(mail_dir))
            t0 = time.perf_counter()
            call(org, "POST", f"/api/v1/events/{event}/cancel", None, csrf)
            request_ms = (time.perf_counter() - t0) * 1000
            while len(os.listdir(mail_dir)) - before < n:
                time.sleep(0.01)
            total = time.perf_counter() - t0
            print(f"{n:>11} {request_ms:>12.1f} ms {total:>17.2f} s {n / total:>8.0f}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20, 2000])
