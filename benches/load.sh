#!/usr/bin/env bash
# A load run over HTTP through the local stack (benches/README.md, "Load over HTTP"):
# wrk against `cargo lambda watch --release`, with moto (DynamoDB) and tests/twilio-fake behind.
#
#   benches/load.sh            protected, login and verify, 20 s each
#   LOAD_SECONDS=60 LOAD_CONNECTIONS=2 benches/load.sh
#
# LOAD_CONNECTIONS (default 2, this machine's cores) is both wrk's connection count and cargo
# lambda's --concurrency: as on Lambda, each function instance serves one request at a time.
# The stack uses the builtin code provider with SMS through the fake's Messaging API, and limits
# raised so the runs measure the work rather than 429s. Needs wrk (`apt-get install wrk`).
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"
cd "$REPO_ROOT"

SECONDS_EACH="${LOAD_SECONDS:-20}"
CONNECTIONS="${LOAD_CONNECTIONS:-2}"
OUT="$REPO_ROOT/target/bench-results/load"
mkdir -p "$OUT"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"

install_cleanup_trap
activate_venv
ensure_jwt_key
start_moto
create_table sms-mfa-load >/dev/null
start_twilio_fake

PORT="$(free_port)"
new_stack_env "$PORT" sms-mfa-load
STACK_ENV[OTP_PROVIDER]=builtin
STACK_ENV[SMS_SENDER]=twilio
STACK_ENV[RUST_LOG]=warn
for var in OTP_MAX_ATTEMPTS OTP_SENDS_PER_PHONE LOGIN_FAILURES_PER_ACCOUNT REGISTRATIONS_PER_IP_HOUR \
           LOGINS_PER_IP_HOUR SENDS_PER_IP_HOUR SENDS_GLOBAL_HOUR; do
  STACK_ENV[$var]=100000000
done
write_stack_env "$LOCAL_DIR/load.env"
log "building the functions (release) and starting cargo lambda watch --release"
for bin in "${FUNCTION_BINS[@]}"; do run_fg cargo build --quiet --release --bin "$bin"; done
WATCH_CONCURRENCY="$CONNECTIONS" start_watch load "$PORT" "$LOCAL_DIR/load.env" --ignore-changes --release
BASE="http://127.0.0.1:$PORT/lambda-url"
wait_for_watch "$BASE" 900 "$WATCH_PID" || die "the stack is not answering"
warm_functions "$BASE" 300

setup="$(python3 benches/load_setup.py "$BASE" "$TWILIO_FAKE_URL")" || die "setting up the account failed"
eval "$setup"

# A wrk script: one request shape, and a count of the statuses seen.
lua() {
  local file="$OUT/$1.lua" method="$2" body="$3" header="$4"
  cat >"$file" <<LUA
wrk.method = "$method"
wrk.body = [[$body]]
wrk.headers["Content-Type"] = "application/json"
${header}
-- Each wrk thread counts the statuses it sees; done() gathers them from every thread.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + n end
  end
  for status, n in pairs(total) do io.write(string.format("status %d: %d\n", status, n)) end
end
LUA
  echo "$file"
}

run() {
  local name="$1" url="$2" script="$3"
  # Warm every instance first (the second connection starts a second instance).
  wrk -t1 -c"$CONNECTIONS" -d3s -s "$script" "$url" >/dev/null
  log "wrk $name: ${SECONDS_EACH}s, $CONNECTIONS connections"
  wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" --latency -s "$script" "$url" | tee "$OUT/$name.txt"
}

{
  echo "machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p') ($(nproc) cores), $(uname -sr)"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2), cargo-lambda $(cargo lambda --version | awk '{print $2}')"
} | tee "$OUT/machine.txt"

run protected "$BASE/protected/protected" \
  "$(lua protected GET "" "wrk.headers[\"Authorization\"] = \"Bearer $ACCESS_TOKEN\"")"
run login "$BASE/login/auth/login" \
  "$(lua login POST "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" "")"
run verify "$BASE/verify/auth/verify" \
  "$(lua verify POST "{\"challenge_id\":\"$CHALLENGE_ID\",\"code\":\"000000\"}" "")"

python3 - "$OUT" <<'PY' | tee "$OUT/summary.md"
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
print("| route (request → status) | requests/s | p50 ms | p90 ms | p99 ms | statuses |")
print("|---|---|---|---|---|---|")
what = {"protected": "GET /protected, valid token", "login": "POST /auth/login, right password",
        "verify": "POST /auth/verify, wrong code"}
def ms(v):
    n, unit = float(re.match(r"[\d.]+", v).group()), re.search(r"[a-z]+$", v).group()
    return n * {"us": 0.001, "ms": 1, "s": 1000}[unit]
for name in ["protected", "login", "verify"]:
    text = (out / f"{name}.txt").read_text()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
    pct = {p: ms(v) for p, v in re.findall(r"^\s+(50|90|99)%\s+(\S+)", text, re.M)}
    statuses = ", ".join(f"{s}×{n}" for s, n in re.findall(r"status (\d+): (\d+)", text))
    print(f"| {what[name]} | {float(rps):.0f} | {pct['50']:.2f} | {pct['90']:.2f} | {pct['99']:.2f} | {statuses} |")
PY
