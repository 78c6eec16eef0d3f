#!/usr/bin/env python3
"""Cold start, warm CPU and peak memory of each function binary under a local Lambda Runtime API.

For every function this starts a stand-in for the Lambda Runtime API (an http.server on
127.0.0.1 serving GET /2018-06-01/runtime/invocation/next, POST .../invocation/{id}/response,
.../invocation/{id}/error and /2018-06-01/runtime/init/error), spawns the release binary with the
environment Lambda gives a function (AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, ...) plus
the app's, and records:

  first poll      spawn -> the first GET .../invocation/next (init done: config, keys, SDK clients)
  first response  spawn -> the first POST .../response (the first request, on a cold process)
  1st request     first event handed out -> its response (lazy work the first request pays)
  warm round trip event handed out -> response, over WARM further invocations (median), as the
                  harness sees it (includes the runtime client's HTTP and this Python server)
  CPU / warm inv  (utime+stime) and scheduler run time (/proc/PID/task/*/schedstat, ns) over
                  the WARM invocations / WARM; utime+stime tick at 10 ms, so it is coarse
  init CPU        scheduler run time from spawn to the first poll
  max RSS         VmHWM of /proc/PID/status after the warm invocations (and at first poll)

Every cold start is repeated RUNS times (median and p90), round robin over the functions.
Requests are chosen so that no function needs a database or Twilio (each fails validation before
any network call, except protected and
jwks, which answer 200 in full). With --dynamodb URL (a local DynamoDB holding --table) the
`login (db)` and `register (db)` scenarios run the whole use case: DynamoDB calls plus argon2.

    benches/coldstart.py [--bin-dir target/release] [--runs 10] [--warm 50] [--only protected,jwks]
                         [--dynamodb http://127.0.0.1:8000 --table sms-mfa-bench] [--json out.json]

Python 3 standard library and `openssl` (3.x, for the Ed25519 key and a signed access token).
"""

import argparse
import base64
import hashlib
import itertools
import http.server
import json
import math
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))
import make_events  # noqa: E402  (the API Gateway event builder of events/)
API = "/2018-06-01/runtime"
ISSUER = AUDIENCE = "sms-mfa"


# ------------------------------------------------------------------------------------------------
# Keys and tokens (openssl: Python's standard library has no Ed25519)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    def __init__(self, workdir: Path):
        self.path = workdir / "jwt-signing-key.pem"
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(self.path)], check=True)
        self.pem = self.path.read_text()
        der = subprocess.run(["openssl", "pkey", "-in", str(self.path), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        raw = der[-32:]
        # RFC 7638 thumbprint, as shared/src/adapters/jwt/mod.rs computes the kid.
        canonical = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % b64url(raw)
        self.kid = b64url(hashlib.sha256(canonical.encode()).digest())
        self.workdir = workdir

    def access_token(self, ttl_seconds=6 * 3600) -> str:
        now = int(time.time())
        header = {"alg": "EdDSA", "typ": "at+jwt", "kid": self.kid}
        claims = {"iss": ISSUER, "sub": str(uuid.uuid4()), "aud": AUDIENCE, "exp": now + ttl_seconds, "iat": now,
                  "jti": str(uuid.uuid4()), "amr": ["pwd", "sms"], "email": "ada@example.com"}
        signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            b64url(json.dumps(claims, separators=(",", ":")).encode())
        data = self.workdir / "jwt-signing-input"
        data.write_text(signing_input)
        signature = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", str(self.path), "-rawin", "-in", str(data)],
                                   check=True, capture_output=True).stdout
        return signing_input + "." + b64url(signature)


# ------------------------------------------------------------------------------------------------
# API Gateway HTTP API (payload format 2.0) events


def event(method, path, body=None, bearer=None):
    """The payload 2.0 event of scripts/make_events.py (one builder for both); a `str` body is
    sent as it is, anything else JSON-encoded."""
    raw = body if isinstance(body, str) else None
    return make_events.event("bench", method, path, body=None if raw is not None else body, raw_body=raw, bearer=bearer)


class Scenario:
    """One function binary and the request it gets: `make(n)` is the n-th event (0 = cold)."""

    def __init__(self, label, binary, expect, make, what, needs_db=False, path=None, env=None):
        self.label, self.binary, self.expect, self.make, self.what, self.needs_db = label, binary, expect, make, what, needs_db
        self.path = path  # a binary outside --bin-dir
        self.env = env or {}  # on top of the app's environment


def scenarios(key: SigningKey, run_tag: str, hello: Path, tls_env=None):
    token = key.access_token()
    # Unique across runs: every registration needs an email nobody has.
    serial = itertools.count()
    password = "correct horse battery staple"
    out = [
        # The floor: lambda_http's runtime with nothing else (benches/hello-lambda).
        Scenario("hello-world", "hello-lambda", 200, lambda n: event("GET", "/"),
                 "GET / on benches/hello-lambda (no config, no clients, no logging set-up) -> 200", path=hello),
        Scenario("hello-world multi-thread", "hello-lambda-mt", 200, lambda n: event("GET", "/"),
                 "the same on tokio's multi-thread runtime (the functions use current_thread) -> 200",
                 path=hello.with_name("hello-lambda-mt")),
        Scenario("register", "register", 400,
                 lambda n: event("POST", "/auth/register", {"email": "ada@example.com", "password": password,
                                                             "phone": "+442079460000"}),
                 "POST /auth/register, landline phone: JSON, Email, PasswordPolicy, Phone (libphonenumber) -> 400"),
        Scenario("login", "login", 400,
                 lambda n: event("POST", "/auth/login", {"email": "not-an-email", "password": password}),
                 "POST /auth/login, bad email: JSON + Email -> 400"),
        Scenario("verify", "verify", 400,
                 lambda n: event("POST", "/auth/verify", {"challenge_id": "ch_" + "0" * 32, "code": "12"}),
                 "POST /auth/verify, 2-digit code: JSON + OtpCode -> 400"),
        Scenario("session", "session", 400,
                 lambda n: event("POST", "/auth/refresh", '{"refresh_token": '),
                 "POST /auth/refresh, malformed JSON -> 400"),
        Scenario("phone", "phone", 401,
                 lambda n: event("POST", "/me/phone", {"phone": "+447911123456", "password": password}),
                 "POST /me/phone without a token -> 401"),
        Scenario("account", "account", 401,
                 lambda n: event("GET", "/me"),
                 "GET /me without a token -> 401"),
        Scenario("protected", "protected", 200,
                 lambda n: event("GET", "/protected", bearer=token),
                 "GET /protected with a valid access token: EdDSA verify -> 200"),
        Scenario("jwks", "jwks", 200,
                 lambda n: event("GET", "/.well-known/jwks.json"),
                 "GET /.well-known/jwks.json -> 200"),
        Scenario("web", "web", 200,
                 lambda n: event("GET", "/"),
                 "GET / (the hosted page, compiled in) -> 200"),
        # Whole use cases against a local DynamoDB (only with --dynamodb).
        Scenario("login (db)", "login", 401,
                 lambda n: event("POST", "/auth/login", {"email": f"nobody-{run_tag}-{next(serial)}@example.com",
                                                          "password": password}),
                 "POST /auth/login, unknown email: 2 UpdateItem + 2 GetItem + argon2 verify (dummy hash) -> 401",
                 needs_db=True),
        Scenario("register (db)", "register", 201,
                 lambda n: (lambda i: event("POST", "/auth/register", {"email": f"bench-{run_tag}-{i}@example.com",
                                                                        "password": password,
                                                                        "phone": "+447911123%03d" % (i % 1000)}))(next(serial)),
                 "POST /auth/register, new email: rate limit, argon2 hash, TransactWriteItems, challenge Put, "
                 "code to the log sender -> 201", needs_db=True),
    ]
    if tls_env:
        # The cold start a user feels: the first request's DynamoDB call opens a TLS connection
        # (handshake, certificate check against SSL_CERT_FILE's private CA) through a local TLS
        # endpoint in front of moto that adds 2 ms to every answer.
        out.append(Scenario("session (db, TLS + 2 ms)", "session", 401,
                            lambda n: event("POST", "/auth/refresh", {"refresh_token": "rt_" + b64url(os.urandom(32))}),
                            "POST /auth/refresh, unknown token: 1 GetItem over TLS (+2 ms injected) -> 401",
                            needs_db=True, env=tls_env))
    return out


# ------------------------------------------------------------------------------------------------
# /proc readings


def proc_status(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])  # kB
    except OSError:
        pass
    return None


def proc_cpu(pid):
    """(utime+stime in seconds, scheduler run time of all live threads in seconds)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
        run_ns = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                run_ns += int((task / "schedstat").read_text().split()[0])
            except OSError:
                pass
        return ticks / os.sysconf("SC_CLK_TCK"), run_ns / 1e9
    except OSError:
        return None, None


# ------------------------------------------------------------------------------------------------
# The Runtime API stand-in


class Run:
    """State of one cold start: the events to hand out and what the process did."""

    def __init__(self, scenario: Scenario, warm: int):
        self.scenario, self.warm = scenario, warm
        self.pid = None
        self.t_spawn = None
        self.polls = 0
        self.served = {}      # invocation index -> perf_counter_ns when handed out
        self.answered = {}    # invocation index -> perf_counter_ns when the response arrived
        self.statuses = []
        self.errors = []
        self.cpu_at = {}      # "first_poll" / "warm_start" / "warm_end" -> (ticks_s, run_s)
        self.rss = {}
        self.done = threading.Event()
        self.stop = threading.Event()
        self.lock = threading.Lock()


def read_body(handler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def make_handler(run: Run):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def reply(self, status, body: bytes, headers=()):
            head = [f"HTTP/1.1 {status} {http.server.BaseHTTPRequestHandler.responses[status][0]}",
                    "Content-Type: application/json", f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in headers]
            # One write: headers and body in the same segment.
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            self.wfile.flush()

        def do_GET(self):
            now = time.perf_counter_ns()
            if self.path != f"{API}/invocation/next":
                self.reply(404, b'{"errorMessage":"unknown path"}')
                return
            with run.lock:
                n = run.polls
                run.polls += 1
            if n == 0:
                run.t_first_poll = now
                while run.pid is None:  # Popen may not have returned yet in the parent
                    time.sleep(0.0001)
                run.cpu_at["first_poll"] = proc_cpu(run.pid)
                run.rss["first_poll"] = proc_status(run.pid, "VmHWM")
            if n == 1:
                run.cpu_at["warm_start"] = proc_cpu(run.pid)
            if n == 1 + run.warm:
                # The process is blocked on this poll: nothing moves while it is measured.
                run.cpu_at["warm_end"] = proc_cpu(run.pid)
                run.rss["warm_end"] = proc_status(run.pid, "VmHWM")
                run.rss["rss_now"] = proc_status(run.pid, "VmRSS")
                run.rss["threads"] = proc_status(run.pid, "Threads")
                run.done.set()
                run.stop.wait(30)
                self.close_connection = True
                return
            request_id = f"{uuid.uuid4()}"
            run.ids[request_id] = n
            body = json.dumps(run.scenario.make(n)).encode()
            deadline = int(time.time() * 1000) + 30_000
            run.served[n] = time.perf_counter_ns()
            self.reply(200, body, [
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                ("Lambda-Runtime-Invoked-Function-Arn",
                 f"arn:aws:lambda:us-east-1:123456789012:function:{run.scenario.binary}"),
                ("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"),
            ])

        def do_POST(self):
            now = time.perf_counter_ns()
            body = read_body(self)
            m = re.fullmatch(API + r"/invocation/([^/]+)/(response|error)", self.path)
            if m:
                n = run.ids.get(m.group(1))
                if m.group(2) == "response" and n is not None:
                    run.answered[n] = now
                    try:
                        run.statuses.append(json.loads(body).get("statusCode"))
                    except ValueError:
                        run.statuses.append(None)
                else:
                    run.errors.append(body.decode(errors="replace"))
                    if n is not None:
                        run.answered[n] = now
                self.reply(202, b'{"status":"OK"}')
                return
            if self.path == f"{API}/init/error":
                run.errors.append("init error: " + body.decode(errors="replace"))
                self.reply(202, b'{"status":"OK"}')
                run.done.set()
                return
            self.reply(404, b'{"errorMessage":"unknown path"}')

    return Handler


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def cold_start(binary: Path, scenario: Scenario, warm: int, app_env: dict, log_path: Path):
    run = Run(scenario, warm)
    run.ids = {}
    server = Server(("127.0.0.1", 0), make_handler(run))
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    env = dict(app_env)
    env.update(scenario.env)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "AWS_LAMBDA_FUNCTION_NAME": scenario.binary,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{scenario.binary}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[1]bench",
    })
    with open(log_path, "ab") as log:
        run.t_spawn = time.perf_counter_ns()
        proc = subprocess.Popen([str(binary)], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        run.pid = proc.pid
        deadline = time.monotonic() + 60
        while not run.done.wait(0.02):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
        exited = proc.poll()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        run.stop.set()
        server.shutdown()
        server.server_close()
    if exited is not None:
        run.errors.append(f"the process exited with status {exited} (log: {log_path})")
    elif not run.done.is_set():
        run.errors.append(f"timed out after {len(run.answered)} responses (log: {log_path})")
    return run


# ------------------------------------------------------------------------------------------------
# Statistics and report


def pct(values, p):
    """Nearest-rank percentile."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(scenario, runs, warm, binary):
    ms = lambda ns: ns / 1e6
    first_poll = [ms(r.t_first_poll - r.t_spawn) for r in runs]
    first_resp = [ms(r.answered[0] - r.t_spawn) for r in runs if 0 in r.answered]
    first_req = [ms(r.answered[0] - r.served[0]) for r in runs if 0 in r.answered]
    warm_rt = [ms(r.answered[n] - r.served[n]) for r in runs for n in range(1, warm + 1) if n in r.answered and n in r.served]
    cpu_ticks = [(r.cpu_at["warm_end"][0] - r.cpu_at["warm_start"][0]) / warm * 1e3 for r in runs]
    cpu_sched = [(r.cpu_at["warm_end"][1] - r.cpu_at["warm_start"][1]) / warm * 1e3 for r in runs]
    init_cpu = [r.cpu_at["first_poll"][1] * 1e3 for r in runs]
    hwm_end = [r.rss["warm_end"] / 1024 for r in runs]
    hwm_init = [r.rss["first_poll"] / 1024 for r in runs]
    statuses = sorted({s for r in runs for s in r.statuses}, key=str)
    return {
        "scenario": scenario.label, "binary": scenario.binary, "request": scenario.what,
        "expected_status": scenario.expect, "statuses_seen": statuses,
        "runs": len(runs), "warm_invocations": warm,
        "binary_bytes": binary.stat().st_size,
        "first_poll_ms": {"median": med(first_poll), "p90": pct(first_poll, 90), "min": min(first_poll)},
        "first_response_ms": {"median": med(first_resp), "p90": pct(first_resp, 90)},
        "first_request_ms": {"median": med(first_req), "p90": pct(first_req, 90)},
        "warm_round_trip_ms": {"median": med(warm_rt), "p90": pct(warm_rt, 90), "p99": pct(warm_rt, 99)},
        "cpu_per_warm_invocation_ms": {"utime_stime_median": med(cpu_ticks), "schedstat_median": med(cpu_sched),
                                       "schedstat_p90": pct(cpu_sched, 90)},
        "init_cpu_ms": {"median": med(init_cpu), "p90": pct(init_cpu, 90)},
        "max_rss_mib": {"after_warm_max": max(hwm_end), "after_warm_median": med(hwm_end), "at_first_poll_median": med(hwm_init),
                        "rss_after_warm_median": med([r.rss["rss_now"] / 1024 for r in runs]),
                        "threads_after_warm": max(r.rss["threads"] for r in runs)},
    }


def fmt(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}"


def print_table(results):
    print()
    hello = next((r for r in results if r["scenario"] == "hello-world"), None)
    floor = hello["first_poll_ms"]["median"] if hello else None
    init_floor = hello["init_cpu_ms"]["median"] if hello else None
    ratio = lambda r: "n/a" if not floor else f"{r['first_poll_ms']['median'] / floor:.2f}x"
    init_ratio = lambda r: "" if not init_floor else f" ({r['init_cpu_ms']['median'] / init_floor:.2f}x)"
    print("| function (request) | size MiB | first poll ms median / p90 | x hello | first response ms median / p90 "
          "| 1st request ms | warm round trip ms median / p99 | CPU/warm inv ms schedstat (utime+stime) "
          "| init CPU ms (x hello) | max RSS MiB (at first poll) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['scenario']} | {r['binary_bytes'] / 2**20:.2f} "
              f"| {fmt(r['first_poll_ms']['median'])} / {fmt(r['first_poll_ms']['p90'])} | {ratio(r)} "
              f"| {fmt(r['first_response_ms']['median'])} / {fmt(r['first_response_ms']['p90'])} "
              f"| {fmt(r['first_request_ms']['median'])} "
              f"| {fmt(r['warm_round_trip_ms']['median'], 3)} / {fmt(r['warm_round_trip_ms']['p99'], 3)} "
              f"| {fmt(r['cpu_per_warm_invocation_ms']['schedstat_median'], 3)} ({fmt(r['cpu_per_warm_invocation_ms']['utime_stime_median'], 1)}) "
              f"| {fmt(r['init_cpu_ms']['median'])}{init_ratio(r)} "
              f"| {fmt(r['max_rss_mib']['after_warm_max'], 1)} ({fmt(r['max_rss_mib']['at_first_poll_median'], 1)}) |")
    print()
    for r in results:
        print(f"- {r['scenario']}: {r['request']}; statuses seen {r['statuses_seen']}")


def tls_endpoint(workdir: Path, upstream: str, latency_ms: float):
    """A private CA, a certificate for 127.0.0.1 signed by it, and scripts/dynamodb_proxy.py
    serving TLS with it in front of `upstream`. Returns (process, https URL, CA file)."""
    ca_key, ca, key, csr, cert = (workdir / n for n in ("ca.key", "ca.pem", "tls.key", "tls.csr", "tls.pem"))
    ext = workdir / "tls.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n")
    quiet = {"check": True, "capture_output": True}
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=sms-mfa bench CA",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"], **quiet)
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1"], **quiet)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                    "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext)], **quiet)
    port_file = workdir / "tls-proxy.port"
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "scripts" / "dynamodb_proxy.py"), "--upstream", upstream,
                             "--port-file", str(port_file), "--tls-cert", str(cert), "--tls-key", str(key),
                             "--latency-ms", str(latency_ms)], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not (port_file.exists() and port_file.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the TLS endpoint in front of the local DynamoDB did not start")
        time.sleep(0.05)
    return proc, f"https://127.0.0.1:{port_file.read_text()}", ca


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--bin-dir", default=str(REPO_ROOT / "target" / "release"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument("--only", default="", help="comma-separated scenario labels or binaries")
    parser.add_argument("--dynamodb", default=os.environ.get("DYNAMODB_ENDPOINT"),
                        help="local DynamoDB endpoint for the (db) scenarios (default: $DYNAMODB_ENDPOINT)")
    parser.add_argument("--table", default=os.environ.get("TABLE_NAME", "sms-mfa-bench"))
    parser.add_argument("--hello", default=str(REPO_ROOT / "target" / "hello-lambda" / "release" / "hello-lambda"),
                        help="the hello-world baseline binary (benches/run.sh hello builds it); skipped when missing")
    parser.add_argument("--env", action="append", default=[], metavar="K=V",
                        help="one more variable for the binaries (e.g. MALLOC_ARENA_MAX=1); repeatable")
    parser.add_argument("--tls-latency-ms", type=float, default=2.0,
                        help="delay the TLS endpoint in front of --dynamodb adds to every answer (default 2)")
    parser.add_argument("--json", help="write the results here as JSON")
    parser.add_argument("--log-dir", default=str(REPO_ROOT / "target" / "coldstart-logs"))
    args = parser.parse_args()

    bin_dir = Path(args.bin_dir)
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="coldstart-"))
    key = SigningKey(workdir)
    run_tag = uuid.uuid4().hex[:8]

    big = "1000000"
    # What Lambda sets for a custom runtime, and the app's configuration. No HOME and nothing
    # from the caller's environment, so stray AWS_PROFILE / RUST_LOG values cannot change a run.
    # AWS_LAMBDA_INITIALIZATION_TYPE stays unset: the app refuses SMS_SENDER=log when it is set.
    app_env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "AKIDBENCHMARK",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_SESSION_TOKEN": "bench-session",
        "TABLE_NAME": args.table,
        # Nothing listens on port 9 (discard): init never connects, so timing it needs no DB.
        "AWS_ENDPOINT_URL_DYNAMODB": args.dynamodb or "http://127.0.0.1:9",
        "JWT_SIGNING_KEY": key.pem,
        "TOTP_ENCRYPTION_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "OTP_PROVIDER": "builtin",
        "SMS_SENDER": "log",
        # The (db) scenarios send thousands of requests from one IP within the hour.
        "LOGINS_PER_IP_HOUR": big, "REGISTRATIONS_PER_IP_HOUR": big, "SENDS_PER_IP_HOUR": big,
        "SENDS_GLOBAL_HOUR": big, "OTP_SENDS_PER_PHONE": big, "LOGIN_FAILURES_PER_ACCOUNT": big,
        "FACTOR_FAILURES_PER_ACCOUNT": big,
    }

    for kv in args.env:
        k, _, v = kv.partition("=")
        app_env[k] = v

    tls_proc, tls_env = None, None
    if args.dynamodb:
        tls_proc, tls_url, ca = tls_endpoint(workdir, args.dynamodb, args.tls_latency_ms)
        tls_env = {"AWS_ENDPOINT_URL_DYNAMODB": tls_url, "SSL_CERT_FILE": str(ca)}

    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    chosen = []
    for s in scenarios(key, run_tag, Path(args.hello), tls_env):
        if wanted and s.label not in wanted and s.binary not in wanted:
            continue
        if s.path is not None and not s.path.exists():
            print(f"skipping {s.label}: {s.path} is missing (benches/run.sh hello)", file=sys.stderr)
            continue
        if s.needs_db and not args.dynamodb:
            print(f"skipping {s.label}: no --dynamodb / DYNAMODB_ENDPOINT", file=sys.stderr)
            continue
        chosen.append(s)

    loadavg_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"# loadavg before: {loadavg_before}", file=sys.stderr)
    print(f"# cold start: {args.runs} runs per function, {args.warm} warm invocations each, binaries in {bin_dir}",
          file=sys.stderr)
    results, failures = [], []
    # Round robin: run i of every scenario before run i+1 of any, so that a change in the
    # machine's speed during the run (other tenants, frequency) reaches every function alike and
    # the ratios to hello-world compare like with like.
    live = []
    for s in chosen:
        binary = s.path or bin_dir / s.binary
        if not binary.exists():
            failures.append(f"{s.label}: {binary} does not exist (cargo build --release -p {s.binary})")
            continue
        log_path = log_dir / f"{s.binary}{'-db' if s.needs_db else ''}.log"
        log_path.write_bytes(b"")
        live.append((s, binary, log_path, []))
    for i in range(args.runs):
        for s, binary, log_path, runs in live:
            if len(runs) < i:
                continue  # this scenario failed already
            run = cold_start(binary, s, args.warm, app_env, log_path)
            bad = [st for st in run.statuses if st != s.expect]
            if run.errors or bad or not run.done.is_set():
                failures.append(f"{s.label} run {i}: errors {run.errors[:2]} unexpected statuses {bad[:3]}")
                continue
            runs.append(run)
    for s, binary, log_path, runs in live:
        if len(runs) == args.runs:
            r = summarize(s, runs, args.warm, binary)
            results.append(r)
            print(f"{s.label}: first poll {fmt(r['first_poll_ms']['median'])} ms, first response "
                  f"{fmt(r['first_response_ms']['median'])} ms, max RSS {fmt(r['max_rss_mib']['after_warm_max'], 1)} MiB",
                  file=sys.stderr)

    if tls_proc:
        tls_proc.kill()
        tls_proc.wait()
    print(f"loadavg after: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", file=sys.stderr)
    print_table(results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                                               "loadavg_before": loadavg_before,
                                               "loadavg_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
                                               "runs": args.runs, "warm": args.warm, "results": results}, indent=2))
    for f in failures:
        print("FAILED:", f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
