#!/usr/bin/env bash
# shellcheck disable=SC2119  # start_* helpers take optional arguments, not the script's
# Runs every test: cfn-lint and sam validate on the template, cargo fmt --check and cargo clippy
# (-D warnings), then `cargo test --workspace --all-targets` with the
# real components running locally:
#   moto_server        local DynamoDB: tables sms-mfa-e2e, sms-mfa-e2e-tight, sms-mfa-store;
#                      local KMS: the key alias/sms-mfa-e2e (RSA_2048, SIGN_VERIFY)
#   twilio-fake        Twilio Verify v2 + Messaging
#   watch "default"    every function under cargo lambda watch, OTP_PROVIDER=twilio_verify,
#                      per-IP and global limits out of the way; tokens signed RS256 in KMS
#                      (moto), as the template deploys it
#   watch "tight"      OTP_PROVIDER=builtin sending through the fake's Messaging API, a 2 s resend
#                      cooldown and 5 registrations per IP, for the limit tests; tokens signed
#                      EdDSA with the PEM .local/jwt.pem (the other signer adapter)
#   watch "scale"      like default, its DynamoDB behind scripts/dynamodb_proxy.py, which records
#                      the item of every read and write (tests/e2e/tests/scale.rs: no hot key)
#   watch "countries"  the default stack's settings and table plus SMS_ALLOWED_COUNTRIES=GB,IE:
#                      a challenge started on default can be resent through an allowlist
#   router per stack   tests/local-router: template.yaml's routes on their deployed paths in front
#                      of each watch; E2E_URL, E2E_TIGHT_URL, ... are the routers
#   interop            PyJWT and npm `jose` (tests/interop) verify the default stack's tokens
#   stream-pump        the default table's stream to its events function (scripts/stream_pump.py,
#                      as Lambda's event source would), the events onto a bus in moto, a rule
#                      to an SQS queue (tests/e2e/tests/lifecycle_events.rs)
# and, for the whole suite, schemathesis against the default stack, the browser tests
# (tests/browser, headless Chromium from Debian's packages, installed when missing) and the
# OpenID Connect relying parties nobody here wrote (tests/oidc: authlib, npm openid-client and
# examples/spa's oidc-client-ts, each signing in through Chromium on the default stack, whose
# OAUTH_CLIENTS registers them).
# Everything it starts is stopped on exit; logs stay in .local/logs/.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -p e2e          # extra arguments go to cargo test
#   scripts/test.sh -- --nocapture
#   scripts/test.sh --browser-only  # the stacks and the browser tests alone
#
# Exit code: cargo test's (or 1 if the setup fails first).
set -euo pipefail

BROWSER_ONLY=0
if [[ "${1:-}" == --browser-only ]]; then BROWSER_ONLY=1; shift; fi

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/scripts/bootstrap.sh"
activate_venv
# npm's `jose` for the interop tests, from the committed lock file, into a gitignored folder.
INTEROP_DIR="$REPO_ROOT/tests/interop"
if [[ ! -f "$INTEROP_DIR/node_modules/.package-lock.json" || "$INTEROP_DIR/package-lock.json" -nt "$INTEROP_DIR/node_modules/.package-lock.json" ]]; then
  command -v npm >/dev/null || die "npm (Node.js 20 or later) is needed for the interop tests"
  log "npm ci in tests/interop"
  (cd "$INTEROP_DIR" && npm ci --no-audit --no-fund --silent)
fi
install_cleanup_trap
mkdir -p "$LOG_DIR"

# Cheap and deterministic: fail before the long build.
log "cfn-lint template.yaml"
cfn-lint template.yaml
# SAM's own validation (its transform, then its bundled linter), from a venv of its own: the
# SAM CLI pins dependencies that clash with moto's (scripts/lib.sh, ensure_sam_cli).
ensure_sam_cli
log "sam validate --lint"
SAM_CLI_TELEMETRY=0 "$SAM_BIN" validate --lint --template template.yaml --region us-east-1

# Style and lints gate everything else (rustfmt.toml; clippy's default lints, warnings denied).
log "cargo fmt --check"
cargo fmt --all -- --check || die "cargo fmt would change the files above: run cargo fmt --all"
log "cargo clippy --workspace --all-targets -- -D warnings"
run_fg cargo clippy --workspace --all-targets -- -D warnings
log "imports point inward (scripts/check_layers.py)"
python3 "$REPO_ROOT/scripts/check_layers.py"

if ((BROWSER_ONLY == 0 && $# == 0)); then ensure_browser; fi
((BROWSER_ONLY == 0)) || ensure_browser

log "cargo build --workspace --all-targets"
run_fg cargo build --workspace --all-targets
# cargo lambda watch starts each function with `cargo run --bin <name>`, which resolves features
# for the whole workspace without dev-dependencies; the build above resolved them with. Build the
# functions that way now, once, rather than under the tests (one command: the same features as
# each alone). shared/Cargo.toml declares the features criterion (a dev-dependency) turns on, so
# every third-party crate is already built (issue 26): this compiles only sms-mfa without its
# `testing` feature and the nine binaries. Anything else here means a dependency change split the
# two resolutions again: benches/README.md, "CI build: one round", says how to find the feature.
function_args=()
for bin in "${FUNCTION_BINS[@]}" "${EVENT_BINS[@]}"; do function_args+=(--bin "$bin"); done
function_args+=(--bin sms-mfa-admin)  # the first administrator's tool, run by tests/e2e/tests/admin.rs
log "cargo build ${function_args[*]}"
run_fg cargo build "${function_args[@]}" 2>"$LOG_DIR/build-functions.log" \
  || { cat "$LOG_DIR/build-functions.log" >&2; die "cargo build of the functions failed"; }
unexpected="$(grep -E '^ *Compiling ' "$LOG_DIR/build-functions.log" \
              | grep -vE "^ *Compiling (sms-mfa|sms-mfa-admin|$(IFS='|'; echo "${FUNCTION_BINS[*]} ${EVENT_BINS[*]}" | tr ' ' '|')) v" || true)"
log "  compiled $(grep -cE '^ *Compiling ' "$LOG_DIR/build-functions.log" || true) crates (log: ${LOG_DIR#"$REPO_ROOT"/}/build-functions.log)"
if [[ -n "$unexpected" ]]; then
  log "warning: building the functions compiled dependencies again (benches/README.md, \"CI build: one round\"):"
  printf '%s\n' "$unexpected" >&2
fi

ensure_jwt_key
start_moto
for table in sms-mfa-e2e sms-mfa-e2e-tight sms-mfa-store; do
  create_table "$table"
done
start_twilio_fake
# The lifecycle events' bus (as the template deploys it), the events function's dead-letter
# queue, and a rule with an SQS target, as a team would add (README).
EVENT_BUS=sms-mfa-e2e-events
eval "$(python3 "$REPO_ROOT/scripts/create_event_bus.py" "$EVENT_BUS" --endpoint "$MOTO_URL")"
log "event bus $EVENT_BUS: rule source=sms-mfa -> $EVENTS_QUEUE_URL, dead letters -> $EVENTS_DLQ_URL"

KMS_PUBLIC_KEY_FILE="$LOCAL_DIR/kms-e2e.pub.pem"
create_kms_key alias/sms-mfa-e2e "$KMS_PUBLIC_KEY_FILE"

DEFAULT_PORT="$(free_port)"
DEFAULT_WATCH_PORT="$(free_port)"
# Each stack's issuer is its router's base URL, where its jwks function answers, so
# `{issuer}/.well-known/openid-configuration` and the jwks_uri in it work as behind API Gateway
# (verifiers in tests follow them).
ISSUER="http://127.0.0.1:$DEFAULT_PORT"

new_stack_env "$DEFAULT_PORT" sms-mfa-e2e
STACK_ENV[JWT_ISSUER]="$ISSUER"
# Signs in KMS through the alias, as the template's default does (RS256).
unset 'STACK_ENV[JWT_SIGNING_KEY]'
STACK_ENV[JWT_SIGNING_KMS_KEY_ID]=alias/sms-mfa-e2e
STACK_ENV[OTP_PROVIDER]=twilio_verify
STACK_ENV[REGISTRATIONS_PER_IP_HOUR]=100000
STACK_ENV[LOGINS_PER_IP_HOUR]=100000
STACK_ENV[SENDS_PER_IP_HOUR]=100000
STACK_ENV[SENDS_GLOBAL_HOUR]=100000
# The suite's fresh numbers are all +44771... and most of their codes are never entered: the
# pumping guard (at its defaults here) would pause that range. tests/e2e/tests/pumping.rs pumps
# French ranges instead, and checks that +44 stays open.
STACK_ENV[SMS_SAFE_PREFIXES]=+44
STACK_ENV[EVENT_BUS_NAME]="$EVENT_BUS"
# The apps that sign in through the default stack with OpenID Connect (tests/oidc, examples/spa):
# a confidential client (its secret random per run, only its SHA-256 configured) and two public.
E2E_AUTHLIB_CLIENT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
E2E_OAUTH_CLIENTS_FILE="$LOCAL_DIR/e2e-oauth-clients.json"
python3 - "$E2E_AUTHLIB_CLIENT_SECRET" >"$E2E_OAUTH_CLIENTS_FILE" <<'PY'
import hashlib, json, sys
secret = sys.argv[1]
print(json.dumps([
    {"client_id": "example-spa", "name": "Example SPA",
     "redirect_uris": ["http://127.0.0.1/callback.html"],
     "post_logout_redirect_uris": ["http://127.0.0.1/index.html"]},
    {"client_id": "authlib-app", "name": "Authlib Test App",
     "redirect_uris": ["http://127.0.0.1/authlib/callback"],
     "post_logout_redirect_uris": ["http://127.0.0.1/authlib/signed-out"],
     "client_secret_sha256": hashlib.sha256(secret.encode()).hexdigest()},
    {"client_id": "node-app", "name": "Node Test App",
     "redirect_uris": ["http://127.0.0.1/openid-client/callback"],
     "post_logout_redirect_uris": ["http://127.0.0.1/openid-client/signed-out"]},
]))
PY
STACK_ENV[OAUTH_CLIENTS]="$(cat "$E2E_OAUTH_CLIENTS_FILE")"
export E2E_AUTHLIB_CLIENT_SECRET E2E_OAUTH_CLIENTS_FILE
STACK_ENV[AWS_ENDPOINT_URL_EVENTBRIDGE]="$MOTO_URL"
write_stack_env "$LOCAL_DIR/e2e-default.env"
log "stack default:"; describe_stack_env >&2
# The countries stack: the same settings and table, with an allowlist.
COUNTRIES_PORT="$(free_port)" COUNTRIES_WATCH_PORT="$(free_port)"
STACK_ENV[SMS_ALLOWED_COUNTRIES]=GB,IE
write_stack_env "$LOCAL_DIR/e2e-countries.env"
# --ignore-changes: files edited during a run must not restart functions under the tests.
start_watch default "$DEFAULT_WATCH_PORT" "$LOCAL_DIR/e2e-default.env" --ignore-changes
DEFAULT_PID="$WATCH_PID"

TIGHT_PORT="$(free_port)"
TIGHT_WATCH_PORT="$(free_port)"
TIGHT_ISSUER="http://127.0.0.1:$TIGHT_PORT"
new_stack_env "$TIGHT_PORT" sms-mfa-e2e-tight
STACK_ENV[JWT_ISSUER]="$TIGHT_ISSUER"
STACK_ENV[OTP_PROVIDER]=builtin
STACK_ENV[SMS_SENDER]=twilio
STACK_ENV[RESEND_COOLDOWN_SECONDS]=2
STACK_ENV[REGISTRATIONS_PER_IP_HOUR]=5
STACK_ENV[SENDS_PER_IP_HOUR]=1000
STACK_ENV[SMS_SAFE_PREFIXES]=+44
write_stack_env "$LOCAL_DIR/e2e-tight.env"
log "stack tight:"; describe_stack_env >&2
start_watch tight "$TIGHT_WATCH_PORT" "$LOCAL_DIR/e2e-tight.env" --ignore-changes
TIGHT_PID="$WATCH_PID"
log "stack countries: the default stack's settings with SMS_ALLOWED_COUNTRIES=GB,IE"
start_watch countries "$COUNTRIES_WATCH_PORT" "$LOCAL_DIR/e2e-countries.env" --ignore-changes
COUNTRIES_PID="$WATCH_PID"

# The scale stack gets a moto of its own (moto deep-copies a table for every transaction and
# answers one request at a time): its 200 flows neither wait behind nor slow down the others.
SCALE_MOTO_PORT="$(free_port)"
start_bg moto-scale "$LOG_DIR/moto-scale.log" \
  python3 "$REPO_ROOT/scripts/dynamodb_local.py" --host 127.0.0.1 --port "$SCALE_MOTO_PORT"
wait_for_port "$SCALE_MOTO_PORT" 60 "$BG_PID" || die "moto (scale) did not start"
# No stream: nothing delivers this stack's events, and a stream only slows moto's transactions.
python3 "$REPO_ROOT/scripts/create_table.py" sms-mfa-e2e-scale --endpoint "http://127.0.0.1:$SCALE_MOTO_PORT" --no-stream
PROXY_PORT="$(free_port)"
start_bg dynamodb-proxy "$LOG_DIR/dynamodb-proxy.log" \
  python3 "$REPO_ROOT/scripts/dynamodb_proxy.py" --upstream "http://127.0.0.1:$SCALE_MOTO_PORT" --port "$PROXY_PORT"
wait_for_port "$PROXY_PORT" 30 "$BG_PID" || die "the DynamoDB proxy did not start"
COUNTING_PROXY_URL="http://127.0.0.1:$PROXY_PORT"
SCALE_PORT="$(free_port)" SCALE_WATCH_PORT="$(free_port)"
new_stack_env "$SCALE_PORT" sms-mfa-e2e-scale
STACK_ENV[AWS_ENDPOINT_URL_DYNAMODB]="$COUNTING_PROXY_URL"
STACK_ENV[JWT_ISSUER]="$ISSUER"
STACK_ENV[OTP_PROVIDER]=twilio_verify
STACK_ENV[REGISTRATIONS_PER_IP_HOUR]=100000
STACK_ENV[LOGINS_PER_IP_HOUR]=100000
STACK_ENV[SENDS_PER_IP_HOUR]=100000
STACK_ENV[SENDS_GLOBAL_HOUR]=100000  # 64 shards
# Its 200 flows all use one range (+44771): safe-listed, so the counts are the flows' own. The
# guard adds one write per code and one per completion in ranges it watches (benches/README.md).
STACK_ENV[SMS_SAFE_PREFIXES]=+44
write_stack_env "$LOCAL_DIR/e2e-scale.env"
log "stack scale:"; describe_stack_env >&2
start_watch scale "$SCALE_WATCH_PORT" "$LOCAL_DIR/e2e-scale.env" --ignore-changes
SCALE_PID="$WATCH_PID"

start_router default "$DEFAULT_PORT" "$DEFAULT_WATCH_PORT"
E2E_URL="$ROUTER_URL"
start_router tight "$TIGHT_PORT" "$TIGHT_WATCH_PORT"
E2E_TIGHT_URL="$ROUTER_URL"
start_router scale "$SCALE_PORT" "$SCALE_WATCH_PORT"
E2E_SCALE_URL="$ROUTER_URL"
start_router countries "$COUNTRIES_PORT" "$COUNTRIES_WATCH_PORT"
E2E_COUNTRIES_URL="$ROUTER_URL"
# Each watch directly, for the readiness and warm-up requests below.
DEFAULT_LAMBDA_URL="http://127.0.0.1:$DEFAULT_WATCH_PORT/lambda-url"
TIGHT_LAMBDA_URL="http://127.0.0.1:$TIGHT_WATCH_PORT/lambda-url"
SCALE_LAMBDA_URL="http://127.0.0.1:$SCALE_WATCH_PORT/lambda-url"
COUNTRIES_LAMBDA_URL="http://127.0.0.1:$COUNTRIES_WATCH_PORT/lambda-url"

print_watch_logs() {
  local name
  for name in default tight scale countries; do
    echo "----- tail of .local/logs/watch-$name.log -----" >&2
    tail -n "${LOG_TAIL_LINES:-80}" "$LOG_DIR/watch-$name.log" >&2 || true
    echo "----- tail of .local/logs/router-$name.log -----" >&2
    tail -n 20 "$LOG_DIR/router-$name.log" >&2 || true
  done
  echo "----- tail of .local/logs/twilio-fake.log -----" >&2
  tail -n 20 "$LOG_DIR/twilio-fake.log" >&2 || true
}

# The first request to a function runs `cargo run` (a no-op after the builds above): still,
# allow minutes.
log "waiting for the stacks (first requests compile)"
wait_for_watch "$DEFAULT_LAMBDA_URL" 1800 "$DEFAULT_PID" || { print_watch_logs; die "stack default is not answering"; }
wait_for_watch "$TIGHT_LAMBDA_URL" 1800 "$TIGHT_PID" || { print_watch_logs; die "stack tight is not answering"; }
wait_for_watch "$SCALE_LAMBDA_URL" 1800 "$SCALE_PID" || { print_watch_logs; die "stack scale is not answering"; }
wait_for_watch "$COUNTRIES_LAMBDA_URL" 1800 "$COUNTRIES_PID" || { print_watch_logs; die "stack countries is not answering"; }
log "warming every function (default)"; warm_functions "$DEFAULT_LAMBDA_URL" 900
log "warming every function (tight)"; warm_functions "$TIGHT_LAMBDA_URL" 900
log "warming every function (scale)"; warm_functions "$SCALE_LAMBDA_URL" 900
log "warming every function (countries)"; warm_functions "$COUNTRIES_LAMBDA_URL" 900

# The default stack's table stream to its events function, as Lambda's event source mapping
# would (scripts/stream_pump.py); tests stop delivery with the pause file and start it again.
EVENTS_PAUSE_FILE="$LOCAL_DIR/events-pump.paused"
rm -f "$EVENTS_PAUSE_FILE"
start_bg stream-pump "$LOG_DIR/stream-pump.log" \
  python3 "$REPO_ROOT/scripts/stream_pump.py" --endpoint "$MOTO_URL" --table sms-mfa-e2e \
    --invoke-url "http://127.0.0.1:$DEFAULT_WATCH_PORT/2015-03-31/functions/events/invocations" \
    --dead-letter-queue-url "$EVENTS_DLQ_URL" --pause-file "$EVENTS_PAUSE_FILE"
wait_for_line "$LOG_DIR/stream-pump.log" 'stream_pump: reading' 60 "$BG_PID" >/dev/null \
  || { tail -n 20 "$LOG_DIR/stream-pump.log" >&2; die "the stream pump did not start"; }

# tests/browser: headless Chromium through the default stack's router, codes from the fake.
# Screenshots of every step go to .local/screenshots/.
run_browser_tests() {
  local started=$SECONDS status=0
  log "browser tests (headless Chromium) against $E2E_URL"
  export E2E_URL TWILIO_FAKE_URL SCREENSHOT_DIR="$LOCAL_DIR/screenshots"
  # The admin view's test makes its administrator with sms-mfa-admin, as the README shows.
  export E2E_ADMIN_BIN="$REPO_ROOT/target/debug/sms-mfa-admin" E2E_DEFAULT_ENV_FILE="$LOCAL_DIR/e2e-default.env"
  run_fg python3 "$REPO_ROOT/tests/browser/test_pages.py" || status=$?
  log "browser tests took $((SECONDS - started)) s (exit $status)"
  return "$status"
}
# tests/oidc: relying parties nobody here wrote (authlib, npm openid-client, the example SPA with
# oidc-client-ts) sign in through the default stack's OpenID Connect provider in headless
# Chromium. OIDC_TESTS (e.g. "authlib_rp spa_test") picks modules or tests of tests/oidc/run.py.
run_oidc_tests() {
  local started=$SECONDS status=0
  log "OpenID Connect relying parties (tests/oidc) against $E2E_URL"
  export E2E_URL TWILIO_FAKE_URL SCREENSHOT_DIR="$LOCAL_DIR/screenshots" E2E_INTEROP_DIR="$INTEROP_DIR"
  export E2E_AUTHLIB_CLIENT_SECRET E2E_OAUTH_CLIENTS_FILE
  # shellcheck disable=SC2086  # a list of test names
  run_fg python3 "$REPO_ROOT/tests/oidc/run.py" ${OIDC_TESTS:-} || status=$?
  log "OpenID Connect tests took $((SECONDS - started)) s (exit $status)"
  return "$status"
}
if ((BROWSER_ONLY)); then
  status=0
  run_browser_tests || status=$?
  run_oidc_tests || status=$?
  ((status == 0)) || print_watch_logs
  exit "$status"
fi

# Default to the whole workspace and all targets unless the arguments choose packages/targets
# (only the arguments before `--` are cargo's).
want_workspace=1 want_all_targets=1
for arg in "$@"; do
  [[ "$arg" == "--" ]] && break
  case "$arg" in
    -p|-p*|--package|--package=*|--workspace|--all|--exclude|--exclude=*) want_workspace=0 ;;
    --lib|--bins|--bin|--bin=*|--tests|--test|--test=*|--examples|--example|--example=*|\
    --benches|--bench|--bench=*|--all-targets|--doc) want_all_targets=0 ;;
  esac
done
# --no-fail-fast: one failing test binary must not hide the results of the others.
cargo_args=(test --no-fail-fast)
((want_workspace)) && cargo_args+=(--workspace)
((want_all_targets)) && cargo_args+=(--all-targets)
cargo_args+=("$@")

export DYNAMODB_ENDPOINT="$MOTO_URL" KMS_ENDPOINT="$MOTO_URL"
export STORE_TEST_TABLE=sms-mfa-store
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
unset AWS_PROFILE AWS_SESSION_TOKEN
export TWILIO_FAKE_URL
export E2E_URL E2E_TIGHT_URL E2E_SCALE_URL E2E_COUNTRIES_URL
export E2E_COUNTING_PROXY_URL="$COUNTING_PROXY_URL"  # the scale stack's DynamoDB proxy
# The function logs (stdout of every instance) of the default stack: the operations tests count
# the metric and audit lines of their own requests in it.
export E2E_DEFAULT_LOG="$LOG_DIR/watch-default.log"
export E2E_TIGHT_LOG="$LOG_DIR/watch-tight.log"  # the tight stack's (tests/e2e/tests/log_masking.rs)
export E2E_TABLE_NAME=sms-mfa-e2e E2E_TIGHT_TABLE_NAME=sms-mfa-e2e-tight
# sms-mfa-admin as built above, and the default stack's env file it runs with (as the README shows).
export E2E_ADMIN_BIN="$REPO_ROOT/target/debug/sms-mfa-admin" E2E_DEFAULT_ENV_FILE="$LOCAL_DIR/e2e-default.env"
# The lifecycle events of the default stack (tests/e2e/tests/lifecycle_events.rs).
export E2E_EVENTS_ENDPOINT="$MOTO_URL" E2E_EVENT_BUS_NAME="$EVENT_BUS" E2E_EVENTS_QUEUE_URL="$EVENTS_QUEUE_URL"
export E2E_EVENTS_DLQ_URL="$EVENTS_DLQ_URL" E2E_EVENTS_PAUSE_FILE="$EVENTS_PAUSE_FILE"
export E2E_JWT_ISSUER="$ISSUER"
export E2E_JWT_AUDIENCE=sms-mfa
# The default stack's public key as moto's GetPublicKey gave it to the setup, not the service.
export E2E_JWT_PUBLIC_KEY_PEM_FILE="$KMS_PUBLIC_KEY_FILE"
export E2E_KMS_ENDPOINT="$MOTO_URL" E2E_JWT_KMS_KEY_ID="$KMS_KEY_ARN"
export E2E_TIGHT_JWT_ISSUER="$TIGHT_ISSUER"
export E2E_TIGHT_JWT_SIGNING_KEY_PEM_FILE="$JWT_KEY_FILE" E2E_TIGHT_JWT_PUBLIC_KEY_PEM_FILE="$JWT_PUBLIC_KEY_FILE"
# Verifiers nobody here wrote (tests/e2e/tests/interop.rs runs them).
export E2E_INTEROP_PYTHON="$VENV_DIR/bin/python" E2E_INTEROP_DIR="$INTEROP_DIR"

log "cargo ${cargo_args[*]}"
status=0
run_fg cargo "${cargo_args[@]}" || status=$?
if ((status != 0)); then
  print_watch_logs
  log "cargo test failed (exit $status); full logs in ${LOG_DIR#"$REPO_ROOT"/}/"
  exit "$status"
fi

# The whole suite (no arguments): schemathesis generates requests from openapi.yaml against the
# default stack and fails on any 5xx or any answer that breaks the documented schema.
if (($# == 0)); then
  log "schemathesis against the default stack"
  # A real account's token, so every Bearer route is exercised past its 401.
  ACCESS_TOKEN="$(python3 "$REPO_ROOT/scripts/bearer_token.py" "$E2E_URL" "$TWILIO_FAKE_URL")" \
    || die "could not sign up the account schemathesis uses"
  ACCESS_TOKEN="$ACCESS_TOKEN" MAX_EXAMPLES="${MAX_EXAMPLES:-10}" "$REPO_ROOT/scripts/schemathesis.sh" "$E2E_URL" --single-base || status=$?
  ((status == 0)) || { print_watch_logs; log "schemathesis found failures (exit $status); see .local/schemathesis/"; }
  browser_status=0
  run_browser_tests || browser_status=$?
  ((browser_status == 0)) || { print_watch_logs; log "the browser tests failed (exit $browser_status); screenshots in .local/screenshots/"; status=$browser_status; }
  oidc_status=0
  run_oidc_tests || oidc_status=$?
  ((oidc_status == 0)) || { print_watch_logs; log "the OpenID Connect tests failed (exit $oidc_status); screenshots in .local/screenshots/oidc-*"; status=$oidc_status; }
fi
exit "$status"
