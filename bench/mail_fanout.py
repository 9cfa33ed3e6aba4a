#!/usr/bin/env python3
"""Mail fan-out and outbox throughput, against a release build on loopback.

For N registrants (default 20 and 2,000): the latency of the request that takes an event live
(which must not grow with N: it writes one job row), then how fast the job loop turns that
"we're live" fan-out into N delivered mails (mails/s, rate limit lifted), once with the log
transport (.eml files) and once with the SMTP transport talking to a minimal SMTP sink in this
script (one connection pool, loopback).

Usage: cargo build --release && python3 bench/mail_fanout.py [N ...]
"""
import datetime
import asyncio, http.cookiejar, json, os, sqlite3, subprocess, sys, tempfile, threading, time
import urllib.request, uuid

BIN = os.environ.get("MEETSTAGE_BIN") or os.path.join(os.path.dirname(__file__), "..", "target", "release", "meetstage")
PORT = 18090
SMTP_PORT = 18025
BASE = f"http://127.0.0.1:{PORT}"


class SmtpSink:
    """Accepts every message; counts them."""

    def __init__(self):
        self.count = 0
        loop = asyncio.new_event_loop()
        started = threading.Event()

        async def serve():
            await asyncio.start_server(self.session, "127.0.0.1", SMTP_PORT)
            started.set()

        threading.Thread(target=lambda: (loop.run_until_complete(serve()), loop.run_forever()), daemon=True).start()
        started.wait()

    async def session(self, reader, writer):
        writer.write(b"220 sink ESMTP\r\n")
        while line := await reader.readline():
            cmd = line[:4].upper()
            if cmd in (b"EHLO", b"HELO"):
                writer.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif cmd == b"DATA":
                writer.write(b"354 end with .\r\n")
                while (await reader.readline()) not in (b".\r\n", b""):
                    pass
                self.count += 1
                writer.write(b"250 queued\r\n")
            elif cmd == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()
        writer.close()


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


def run(transport, sizes, sink):
    data = tempfile.mkdtemp()
    env = dict(os.environ, MEETSTAGE_DATA_DIR=data, MEETSTAGE_BIND=f"127.0.0.1:{PORT}", RUST_LOG="warn",
               MEETSTAGE_MAIL_RATE="1000000", MEETSTAGE_RATE_LIMIT_USER="1000000", MEETSTAGE_RATE_LIMIT_AUTH="1000000",
               MEETSTAGE_RATE_LIMIT_ANONYMOUS="1000000", MEETSTAGE_MAILER=transport,
               MEETSTAGE_SMTP_URL=f"smtp://127.0.0.1:{SMTP_PORT}")
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    mail_dir = os.path.join(data, "mail")
    delivered = (lambda: sink.count) if transport == "smtp" else (lambda: len(os.listdir(mail_dir)))
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
        call(org, "POST", "/api/v1/session", {"email": "org@bench.test", "password": "bench passphrase 1"})  # sign-up does not log in
        csrf = call(org, "GET", "/api/v1/session")["csrf_token"]
        db = sqlite3.connect(os.path.join(data, "meetstage.db"), timeout=30)
        time.sleep(0.5)  # let the verification mail go out first
        for n in sizes:
            start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
            event = call(org, "POST", "/api/v1/events", {"title": f"Fan-out {n}", "start_local": start,
                                                       "time_zone": "UTC", "duration_minutes": 60}, csrf)["id"]
            now = int(time.time() * 1000)
            users = [(str(uuid.uuid4()), f"u{n}-{i}@bench.test") for i in range(n)]
            db.executemany("INSERT INTO users (id, email, display_name, password_hash, role, email_verified_at, created_at, updated_at) "
                           "VALUES (?, ?, 'U', '', 'member', 0, ?, ?)", [(u, e, now, now) for u, e in users])
            db.executemany("INSERT INTO registrations (event_id, user_id, status, created_at) VALUES (?, ?, 'registered', ?)",
                           [(event, u, now) for u, _ in users])
            db.commit()
            call(org, "POST", f"/api/v1/events/{event}/green-room", None, csrf)
            time.sleep(0.3)  # the event-created mail is out of the way
            before = delivered()
            t0 = time.perf_counter()
            call(org, "POST", f"/api/v1/events/{event}/go-live", None, csrf)
            request_ms = (time.perf_counter() - t0) * 1000
            while delivered() - before < n:
                time.sleep(0.005)
            total = time.perf_counter() - t0
            print(f"{transport:>9} {n:>11} {request_ms:>12.1f} ms {total:>17.2f} s {n / total:>8.0f}")
    finally:
        server.terminate()
        server.wait()


def main(sizes):
    sink = SmtpSink()
    print(f"{'transport':>9} {'registrants':>11} {'go-live request':>15} {'all mails delivered':>20} {'mails/s':>8}")
    for transport in ("log", "smtp"):
        run(transport, sizes, sink)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20, 2000])
