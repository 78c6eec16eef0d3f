#!/usr/bin/env bash
# shellcheck disable=SC2119  # start_* helpers take optional arguments, not the script's
# Runs sms-mfa on this machine: moto (local DynamoDB), the Twilio fake, every function under
# `cargo lambda watch` (reloads on code changes), and the local router in front of it, which
# serves template.yaml's routes on their deployed paths: open http://127.0.0.1:9000/ for the
# hosted pages, or curl http://127.0.0.1:9000/auth/register. Ctrl-C stops everything.
#
#   scripts/local.sh                              # codes are printed in this log (SMS_SENDER=log)
#   OTP_PROVIDER=twilio_verify scripts/local.sh   # codes go through the Twilio Verify fake
#   LOCAL_SIGNING=kms scripts/local.sh            # tokens signed RS256 in moto's KMS, as deployed
#                                                 # (default: EdDSA with the PEM .local/jwt.pem)
#
# Any configuration variable of API.md set in the shell overrides the local default
# (e.g. RESEND_COOLDOWN_SECONDS=5, RUST_LOG=debug). PORT (9000: the router, the one base URL),
# WATCH_PORT (9001: cargo lambda watch, for `cargo lambda invoke`) and MOTO_PORT (8000) pick the
# ports; a busy port is replaced by a free one.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$REPO_ROOT"

"$REPO_ROOT/scripts/bootstrap.sh"
activate_venv
install_cleanup_trap
mkdir -p "$LOG_DIR"

ensure_jwt_key
log "cargo build -p twilio-fake"
cargo build --quiet -p twilio-fake --bin twilio-fake
start_moto "${MOTO_PORT:-8000}"
TABLE="${TABLE_NAME:-sms-mfa-local}"
create_table "$TABLE"
start_twilio_fake

PORT_WANTED="${PORT:-9000}"
PORT="$(free_port "$PORT_WANTED")"
[[ "$PORT" == "$PORT_WANTED" ]] || log "port $PORT_WANTED is busy: using $PORT"
WATCH_PORT="$(free_port "${WATCH_PORT:-9001}")"
[[ "$WATCH_PORT" != "$PORT" ]] || WATCH_PORT="$(free_port)"

# Every function compiled now, once, rather than on the first click (cargo lambda watch runs
# `cargo run --bin <name>`, so each is built the same way).
log "cargo build of the router and every function (the first time takes minutes)"
cargo build --quiet -p local-router --bin local-router
for bin in "${FUNCTION_BINS[@]}" "${EVENT_BINS[@]}"; do cargo build --quiet --bin "$bin"; done

# Lifecycle events (README "Lifecycle events for your backend"): a bus in moto with a rule to an
# SQS queue, and the table's stream delivered to the events function as Lambda would.
EVENT_BUS=sms-mfa-local-events
eval "$(python3 "$REPO_ROOT/scripts/create_event_bus.py" "$EVENT_BUS" --endpoint "$MOTO_URL")"

new_stack_env "$PORT" "$TABLE"
STACK_ENV[OTP_PROVIDER]=builtin
# Local development only: the template cannot deploy this sender.
STACK_ENV[SMS_SENDER]=log
if [[ "${LOCAL_SIGNING:-pem}" == kms ]]; then
  create_kms_key alias/sms-mfa-local "$LOCAL_DIR/kms-local.pub.pem"
  unset 'STACK_ENV[JWT_SIGNING_KEY]'
  STACK_ENV[JWT_SIGNING_KMS_KEY_ID]=alias/sms-mfa-local
  # No PEM to derive the builtin code-hash key from: a random one for this run.
  STACK_ENV[OTP_HASH_KEY]="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
fi
STACK_ENV[EVENT_BUS_NAME]="$EVENT_BUS"
STACK_ENV[AWS_ENDPOINT_URL_EVENTBRIDGE]="$MOTO_URL"
stack_env_from_environment
ENV_FILE="$LOCAL_DIR/local.env"
write_stack_env "$ENV_FILE"
start_bg stream-pump "$LOG_DIR/stream-pump.log" \
  python3 "$REPO_ROOT/scripts/stream_pump.py" --endpoint "$MOTO_URL" --table "$TABLE" \
    --invoke-url "http://127.0.0.1:$WATCH_PORT/2015-03-31/functions/events/invocations" \
    --dead-letter-queue-url "$EVENTS_DLQ_URL"

start_router local "$PORT" "$WATCH_PORT"
BASE="$ROUTER_URL"
cat >&2 <<EOF

sms-mfa runs locally (settings in ${ENV_FILE#"$REPO_ROOT"/}, logs in ${LOG_DIR#"$REPO_ROOT"/}/):
$(describe_stack_env)

  Every route of template.yaml, on its deployed path under $BASE:
$(sed -n 's/^  /    /p' "$LOG_DIR/router-local.log")

  DynamoDB (moto): $MOTO_URL   Twilio fake: $TWILIO_FAKE_URL   cargo lambda watch: port $WATCH_PORT
  Lifecycle events: bus $EVENT_BUS in moto, a rule to $EVENTS_QUEUE_URL (scripts/stream_pump.py
  delivers the table's stream; its log: ${LOG_DIR#"$REPO_ROOT"/}/stream-pump.log)

Try:
  curl -s $BASE/auth/register -H 'content-type: application/json' \\
    -d '{"email":"ada@example.com","password":"correct horse battery staple","phone":"+447400123456"}'
  cargo lambda invoke register -A 127.0.0.1 -P $WATCH_PORT --data-file events/register.json

  Open $BASE/ in a browser: create an account, then enter the code printed in this log.

Ctrl-C stops everything.

EOF

# In the foreground: Ctrl-C reaches watch and its functions; the trap stops the rest.
watch_cmd "$WATCH_PORT" "$ENV_FILE"
"${WATCH_CMD[@]}"
