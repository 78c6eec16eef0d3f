#!/usr/bin/env bash
# shellcheck disable=SC2119  # start_* helpers take optional arguments, not the script's
# Runs every test: cfn-lint on the template, then `cargo test --workspace --all-targets` with the
# real components running locally:
#   moto_server        local DynamoDB: tables sms-mfa-e2e, sms-mfa-e2e-tight, sms-mfa-store
#   twilio-fake        Twilio Verify v2 + Messaging
#   watch "default"    every function under cargo lambda watch, OTP_PROVIDER=twilio_verify,
#                      per-IP and global limits out of the way
#   watch "tight"      OTP_PROVIDER=builtin sending through the fake's Messaging API, a 2 s resend
#                      cooldown and 5 registrations per IP, for the limit tests
#   watch "scale"      like default, its DynamoDB behind scripts/dynamodb_proxy.py, which records
#                      the item of every read and write (tests/e2e/tests/scale.rs: no hot key)
# Everything it starts is stopped on exit; logs stay in .local/logs/.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -p e2e          # extra arguments go to cargo test
#   scripts/test.sh -- --nocapture
#
# Exit code: cargo test's (or 1 if the setup fails first).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/scripts/bootstrap.sh"
activate_venv
install_cleanup_trap
mkdir -p "$LOG_DIR"

# Cheap and deterministic: fail before the long build.
log "cfn-lint template.yaml"
cfn-lint template.yaml
# SAM's own validation (its transform, then its bundled linter), from a venv of its own: the
# SAM CLI pins dependencies that clash with moto's.
if [[ ! -x "$REPO_ROOT/.venv-sam/bin/sam" ]]; then
  log "installing aws-sam-cli into .venv-sam"
  python3 -m venv "$REPO_ROOT/.venv-sam"
  "$REPO_ROOT/.venv-sam/bin/python" -m pip install --quiet --disable-pip-version-check "aws-sam-cli>=1.130,<2"
fi
log "sam validate --lint"
SAM_CLI_TELEMETRY=0 "$REPO_ROOT/.venv-sam/bin/sam" validate --lint --template template.yaml --region us-east-1

log "cargo build --workspace --all-targets"
run_fg cargo build --workspace --all-targets
# cargo lambda watch starts each function with `cargo run --bin <name>`, whose features are
# resolved for that one package: build each the same way now, once, rather than under the tests.
for bin in "${FUNCTION_BINS[@]}"; do
  run_fg cargo build --quiet --bin "$bin"
done

ensure_jwt_key
start_moto
for table in sms-mfa-e2e sms-mfa-e2e-tight sms-mfa-store; do
  create_table "$table"
done
start_twilio_fake

DEFAULT_PORT="$(free_port)"
# Both stacks sign with .local/jwt.pem and the same issuer, so the tests check all tokens alike.
ISSUER="http://127.0.0.1:$DEFAULT_PORT"

new_stack_env "$DEFAULT_PORT" sms-mfa-e2e
STACK_ENV[JWT_ISSUER]="$ISSUER"
STACK_ENV[OTP_PROVIDER]=twilio_verify
STACK_ENV[REGISTRATIONS_PER_IP_HOUR]=100000
STACK_ENV[LOGINS_PER_IP_HOUR]=100000
STACK_ENV[SENDS_PER_IP_HOUR]=100000
STACK_ENV[SENDS_GLOBAL_HOUR]=100000
write_stack_env "$LOCAL_DIR/e2e-default.env"
log "stack default:"; describe_stack_env >&2
# --ignore-changes: files edited during a run must not restart functions under the tests.
start_watch default "$DEFAULT_PORT" "$LOCAL_DIR/e2e-default.env" --ignore-changes
DEFAULT_PID="$WATCH_PID"

TIGHT_PORT="$(free_port)"
new_stack_env "$TIGHT_PORT" sms-mfa-e2e-tight
STACK_ENV[JWT_ISSUER]="$ISSUER"
STACK_ENV[OTP_PROVIDER]=builtin
STACK_ENV[SMS_SENDER]=twilio
STACK_ENV[RESEND_COOLDOWN_SECONDS]=2
STACK_ENV[REGISTRATIONS_PER_IP_HOUR]=5
STACK_ENV[SENDS_PER_IP_HOUR]=1000
write_stack_env "$LOCAL_DIR/e2e-tight.env"
log "stack tight:"; describe_stack_env >&2
start_watch tight "$TIGHT_PORT" "$LOCAL_DIR/e2e-tight.env" --ignore-changes
TIGHT_PID="$WATCH_PID"

# The scale stack gets a moto of its own (moto deep-copies a table for every transaction and
# answers one request at a time): its 200 flows neither wait behind nor slow down the others.
SCALE_MOTO_PORT="$(free_port)"
start_bg moto-scale "$LOG_DIR/moto-scale.log" \
  python3 "$REPO_ROOT/scripts/dynamodb_local.py" --host 127.0.0.1 --port "$SCALE_MOTO_PORT"
wait_for_port "$SCALE_MOTO_PORT" 60 "$BG_PID" || die "moto (scale) did not start"
python3 "$REPO_ROOT/scripts/create_table.py" sms-mfa-e2e-scale --endpoint "http://127.0.0.1:$SCALE_MOTO_PORT"
PROXY_PORT="$(free_port)"
start_bg dynamodb-proxy "$LOG_DIR/dynamodb-proxy.log" \
  python3 "$REPO_ROOT/scripts/dynamodb_proxy.py" --upstream "http://127.0.0.1:$SCALE_MOTO_PORT" --port "$PROXY_PORT"
wait_for_port "$PROXY_PORT" 30 "$BG_PID" || die "the DynamoDB proxy did not start"
COUNTING_PROXY_URL="http://127.0.0.1:$PROXY_PORT"
SCALE_PORT="$(free_port)"
new_stack_env "$SCALE_PORT" sms-mfa-e2e-scale
STACK_ENV[AWS_ENDPOINT_URL_DYNAMODB]="$COUNTING_PROXY_URL"
STACK_ENV[JWT_ISSUER]="$ISSUER"
STACK_ENV[OTP_PROVIDER]=twilio_verify
STACK_ENV[REGISTRATIONS_PER_IP_HOUR]=100000
STACK_ENV[LOGINS_PER_IP_HOUR]=100000
STACK_ENV[SENDS_PER_IP_HOUR]=100000
STACK_ENV[SENDS_GLOBAL_HOUR]=100000  # 64 shards
write_stack_env "$LOCAL_DIR/e2e-scale.env"
log "stack scale:"; describe_stack_env >&2
start_watch scale "$SCALE_PORT" "$LOCAL_DIR/e2e-scale.env" --ignore-changes
SCALE_PID="$WATCH_PID"

E2E_URL="http://127.0.0.1:$DEFAULT_PORT/lambda-url"
E2E_SCALE_URL="http://127.0.0.1:$SCALE_PORT/lambda-url"
E2E_TIGHT_URL="http://127.0.0.1:$TIGHT_PORT/lambda-url"

print_watch_logs() {
  local name
  for name in default tight scale; do
    echo "----- tail of .local/logs/watch-$name.log -----" >&2
    tail -n "${LOG_TAIL_LINES:-80}" "$LOG_DIR/watch-$name.log" >&2 || true
  done
  echo "----- tail of .local/logs/twilio-fake.log -----" >&2
  tail -n 20 "$LOG_DIR/twilio-fake.log" >&2 || true
}

# The first request to a function runs `cargo run` (a no-op after the builds above): still,
# allow minutes.
log "waiting for the stacks (first requests compile)"
wait_for_watch "$E2E_URL" 1800 "$DEFAULT_PID" || { print_watch_logs; die "stack default is not answering"; }
wait_for_watch "$E2E_TIGHT_URL" 1800 "$TIGHT_PID" || { print_watch_logs; die "stack tight is not answering"; }
wait_for_watch "$E2E_SCALE_URL" 1800 "$SCALE_PID" || { print_watch_logs; die "stack scale is not answering"; }
log "warming every function (default)"; warm_functions "$E2E_URL" 900
log "warming every function (tight)"; warm_functions "$E2E_TIGHT_URL" 900
log "warming every function (scale)"; warm_functions "$E2E_SCALE_URL" 900

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

export DYNAMODB_ENDPOINT="$MOTO_URL"
export STORE_TEST_TABLE=sms-mfa-store
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local
unset AWS_PROFILE AWS_SESSION_TOKEN
export TWILIO_FAKE_URL
export E2E_URL E2E_TIGHT_URL E2E_SCALE_URL
export E2E_COUNTING_PROXY_URL="$COUNTING_PROXY_URL"  # the scale stack's DynamoDB proxy
export E2E_TABLE_NAME=sms-mfa-e2e E2E_TIGHT_TABLE_NAME=sms-mfa-e2e-tight
export E2E_JWT_ISSUER="$ISSUER"
export E2E_JWT_AUDIENCE=sms-mfa
export E2E_JWT_PUBLIC_KEY_PEM_FILE="$JWT_PUBLIC_KEY_FILE"

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
  MAX_EXAMPLES="${MAX_EXAMPLES:-10}" "$REPO_ROOT/scripts/schemathesis.sh" "$E2E_URL" || status=$?
  ((status == 0)) || { print_watch_logs; log "schemathesis found failures (exit $status); see .local/schemathesis/"; }
fi
exit "$status"
