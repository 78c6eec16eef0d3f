# shellcheck shell=bash
# Shared helpers for scripts/*.sh. Source it; it defines functions and a few variables only.
#
#   REPO_ROOT  the workspace root          VENV_DIR  the python venv (scripts/bootstrap.sh fills it)
#   LOCAL_DIR  .local/ (gitignored state)  LOG_DIR   .local/logs/ (moto, twilio-fake, watch logs)
#
# Every background process goes through start_bg, which starts it in its own session/process
# group and remembers it; install_cleanup_trap makes sure all of them (and their children) die
# when the calling script exits, is interrupted (Ctrl-C) or is terminated.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="${VENV_DIR:-$REPO_ROOT/.venv}"
LOCAL_DIR="$REPO_ROOT/.local"
LOG_DIR="$LOCAL_DIR/logs"

# Every variable the functions read (API.md "Configuration"). Watch processes start with these
# unset, so a stray value in the caller's shell never leaks into a stack: the env file decides.
CONFIG_VARS=(
  TABLE_NAME AWS_ENDPOINT_URL_DYNAMODB OTP_PROVIDER SMS_SENDER
  TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_VERIFY_SERVICE_SID TWILIO_MESSAGING_SERVICE_SID
  TWILIO_FROM_NUMBER TWILIO_SECRET_ARN TWILIO_VERIFY_BASE_URL TWILIO_API_BASE_URL
  JWT_ISSUER JWT_AUDIENCE JWT_SIGNING_KEY JWT_SIGNING_KEY_SECRET_ARN JWT_PUBLIC_KEY JWT_VERIFY_KEYS
  JWT_SIGNING_KMS_KEY_ID JWT_VERIFY_KMS_KEY_IDS AWS_ENDPOINT_URL_KMS OTP_HASH_KEY OTP_HASH_KEY_SECRET_ARN
  ACCESS_TOKEN_TTL_SECONDS REFRESH_TOKEN_TTL_SECONDS OTP_TTL_SECONDS OTP_MAX_ATTEMPTS
  RESEND_COOLDOWN_SECONDS OTP_SENDS_PER_PHONE LOGIN_FAILURES_PER_ACCOUNT
  REGISTRATIONS_PER_IP_HOUR LOGINS_PER_IP_HOUR SENDS_PER_IP_HOUR SENDS_GLOBAL_HOUR
  SECURITY_NOTIFICATIONS
  TOTP_ENCRYPTION_KEY TOTP_KEY_SECRET_ARN TOTP_ISSUER FACTOR_FAILURES_PER_ACCOUNT RESET_FAILURES_PER_EMAIL
  CHALLENGE_MAX_AGE_SECONDS REMEMBERED_DEVICE_DAYS
  SMS_ALLOWED_COUNTRIES METRICS_NAMESPACE
  SMS_SAFE_PREFIXES PUMPING_PREFIX_DIGITS PUMPING_WINDOW_SECONDS PUMPING_MIN_SENDS PUMPING_MIN_CONVERSION_PERCENT
  EVENT_BUS_NAME AWS_ENDPOINT_URL_EVENTBRIDGE
  OAUTH_CLIENTS SSO_SESSION_TTL_SECONDS AUTHORIZATION_CODE_TTL_SECONDS
)

# The twilio-fake's fixed fake credentials (tests/twilio-fake).
FAKE_TWILIO_ACCOUNT_SID="AC00000000000000000000000000000000"
FAKE_TWILIO_AUTH_TOKEN="fake-auth-token"
FAKE_TWILIO_VERIFY_SERVICE_SID="VA00000000000000000000000000000000"
FAKE_TWILIO_MESSAGING_SERVICE_SID="MG00000000000000000000000000000000"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

activate_venv() {
  [[ -f "$VENV_DIR/bin/activate" ]] || die "no venv at $VENV_DIR: run scripts/bootstrap.sh"
  # shellcheck disable=SC1091
  source "$VENV_DIR/bin/activate"
  # cargo-lambda finds zig through `python3 -m ziglang`: the venv's python3 must come first.
  hash -r
}

# ---------------------------------------------------------------------------------------------
# Background processes and cleanup

BG_PIDS=()
BG_NAMES=()

# start_bg NAME LOGFILE CMD... : runs CMD in its own session (so its whole process group can be
# killed), stdout+stderr to LOGFILE; sets BG_PID.
start_bg() {
  local name="$1" logfile="$2"; shift 2
  mkdir -p "$(dirname "$logfile")"
  : >"$logfile"
  # A background job of a non-interactive shell is not a group leader, so setsid does not fork:
  # $! is the new session's leader and its id is the process group id.
  setsid "$@" >>"$logfile" 2>&1 </dev/null &
  BG_PID=$!
  BG_PIDS+=("$BG_PID")
  BG_NAMES+=("$name")
  log "started $name (pid $BG_PID, log ${logfile#"$REPO_ROOT"/})"
}

# run_fg CMD... : runs CMD and returns its status, like a plain command, but interruptibly: bash
# defers traps while a foreground child runs, so a TERM to the script would wait for a long
# `cargo test` or a curl that waits on a compile. Here the script waits with the `wait` builtin,
# which a signal interrupts, and the cleanup trap stops CMD and its children (FG_PID).
FG_PID=""
run_fg() {
  local status=0
  "$@" &
  FG_PID=$!
  wait "$FG_PID" || status=$?
  FG_PID=""
  return "$status"
}

# All descendants of a pid (children first walked breadth-first), from /proc via ps.
descendants() {
  local queue=("$@") out=() pid kids
  while ((${#queue[@]})); do
    pid="${queue[0]}"; queue=("${queue[@]:1}")
    kids="$(ps -o pid= --ppid "$pid" 2>/dev/null || true)"
    for k in $kids; do out+=("$k"); queue+=("$k"); done
  done
  ((${#out[@]})) && printf '%s\n' "${out[@]}"
  return 0
}

# is_alive PID : running (a zombie waiting to be reaped counts as gone).
is_alive() {
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$stat" && "$stat" != Z* ]]
}

# wait_gone TENTHS PID... : until none of the PIDs runs, at most TENTHS tenths of a second.
wait_gone() {
  local tenths="$1" pid alive; shift
  for _ in $(seq 1 "$tenths"); do
    alive=0
    for pid in "$@"; do is_alive "$pid" && alive=1 && break; done
    ((alive)) || return 0
    sleep 0.1
  done
  return 1
}

cleanup_bg() {
  local status=$?
  trap - EXIT INT TERM HUP
  local all=() pid
  if [[ -n "$FG_PID" ]]; then
    while read -r d; do [[ -n "$d" ]] && all+=("$d"); done < <(descendants "$FG_PID")
    all+=("$FG_PID")
  fi
  ((${#BG_PIDS[@]} + ${#all[@]})) || return "$status"
  # Collect the descendants first: some tools (cargo lambda watch) start children in process
  # groups of their own, which killing our groups would miss.
  for pid in "${BG_PIDS[@]}"; do
    all+=("$pid")
    while read -r d; do [[ -n "$d" ]] && all+=("$d"); done < <(descendants "$pid")
  done
  # Politely first (watch stops its function instances itself), then every process left.
  for pid in "${BG_PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  if [[ -n "$FG_PID" ]]; then kill -TERM "$FG_PID" 2>/dev/null || true; fi
  wait_gone 30 "${all[@]}" || for pid in "${all[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  if ! wait_gone 30 "${all[@]}"; then
    for pid in "${BG_PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
    for pid in "${all[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  fi
  wait 2>/dev/null || true
  if ((${#BG_NAMES[@]})); then log "stopped: ${BG_NAMES[*]}"; fi
  return "$status"
}

install_cleanup_trap() {
  trap cleanup_bg EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}

# ---------------------------------------------------------------------------------------------
# Ports and readiness

port_is_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# free_port [PREFERRED] : PREFERRED if it is free, otherwise a free port from the kernel.
free_port() {
  if [[ -n "${1:-}" ]] && port_is_free "$1"; then echo "$1"; return; fi
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_for_port PORT TIMEOUT_SECONDS [PID] : until something listens on 127.0.0.1:PORT.
wait_for_port() {
  local port="$1" timeout="$2" pid="${3:-}" deadline=$((SECONDS + $2))
  while ((SECONDS < deadline)); do
    if (: </dev/tcp/127.0.0.1/"$port") 2>/dev/null; then return 0; fi
    if [[ -n "$pid" ]] && ! is_alive "$pid"; then
      log "process $pid exited before listening on port $port"; return 1
    fi
    sleep 0.2
  done
  log "nothing listens on 127.0.0.1:$port after ${timeout}s"; return 1
}

# wait_for_line FILE REGEX TIMEOUT_SECONDS [PID] : prints the first line of FILE matching REGEX.
wait_for_line() {
  local file="$1" regex="$2" timeout="$3" pid="${4:-}" deadline=$((SECONDS + $3)) line
  while ((SECONDS < deadline)); do
    if line="$(grep -E -m1 -- "$regex" "$file" 2>/dev/null)"; then printf '%s\n' "$line"; return 0; fi
    if [[ -n "$pid" ]] && ! is_alive "$pid"; then
      log "process $pid exited before printing /$regex/ (see $file)"; return 1
    fi
    sleep 0.2
  done
  log "no line /$regex/ in $file after ${timeout}s"; return 1
}

# ---------------------------------------------------------------------------------------------
# Services

# start_moto [PREFERRED_PORT] : local DynamoDB and KMS (one moto server answers every AWS
# service; KMS signs for real); sets MOTO_PORT, MOTO_URL. Prefers the project's
# scripts/dynamodb_local.py (moto with requests serialized, so conditional writes and
# transactions are atomic as in DynamoDB); plain `moto_server` otherwise.
start_moto() {
  MOTO_PORT="$(free_port "${1:-}")"
  if [[ -f "$REPO_ROOT/scripts/dynamodb_local.py" ]]; then
    start_bg moto "$LOG_DIR/moto.log" \
      python3 "$REPO_ROOT/scripts/dynamodb_local.py" --host 127.0.0.1 --port "$MOTO_PORT"
  else
    start_bg moto "$LOG_DIR/moto.log" moto_server -H 127.0.0.1 -p "$MOTO_PORT"
  fi
  wait_for_port "$MOTO_PORT" 60 "$BG_PID" || { tail -n 20 "$LOG_DIR/moto.log" >&2; die "moto did not start"; }
  MOTO_URL="http://127.0.0.1:$MOTO_PORT"
  log "moto (local DynamoDB) at $MOTO_URL"
}

# create_kms_key ALIAS PUBLIC_PEM_FILE [SPEC] : a SIGN_VERIFY key (default RSA_2048, like the
# template's) in the moto server, with ALIAS; its public key (GetPublicKey) goes to
# PUBLIC_PEM_FILE. Sets KMS_KEY_ARN.
create_kms_key() {
  KMS_KEY_ARN="$(python3 "$REPO_ROOT/scripts/create_kms_key.py" --endpoint "$MOTO_URL" --alias "$1" \
                 --public-pem "$2" --spec "${3:-RSA_2048}")" || die "could not create a KMS key in moto"
  log "KMS key $1 ($KMS_KEY_ARN)"
}

# create_table NAME : creates NAME in the moto server from template.yaml's definition.
create_table() {
  python3 "$REPO_ROOT/scripts/create_table.py" "$1" --endpoint "$MOTO_URL"
}

TWILIO_FAKE_BIN="$REPO_ROOT/target/debug/twilio-fake"

# start_twilio_fake [PREFERRED_PORT] : sets TWILIO_FAKE_URL. Builds the fake when missing.
start_twilio_fake() {
  if [[ ! -x "$TWILIO_FAKE_BIN" ]]; then
    log "building twilio-fake"
    (cd "$REPO_ROOT" && cargo build -p twilio-fake --bin twilio-fake)
  fi
  local port line
  port="$(free_port "${1:-}")"
  start_bg twilio-fake "$LOG_DIR/twilio-fake.log" "$TWILIO_FAKE_BIN" --port "$port"
  line="$(wait_for_line "$LOG_DIR/twilio-fake.log" 'twilio-fake listening on http://' 60 "$BG_PID")" \
    || { tail -n 20 "$LOG_DIR/twilio-fake.log" >&2; die "twilio-fake did not start"; }
  TWILIO_FAKE_URL="$(grep -Eo 'http://[^[:space:]]+' <<<"$line" | head -n1)"
  TWILIO_FAKE_URL="${TWILIO_FAKE_URL%/}"
  log "twilio-fake at $TWILIO_FAKE_URL"
}

JWT_KEY_FILE="$LOCAL_DIR/jwt.pem"
JWT_PUBLIC_KEY_FILE="$LOCAL_DIR/jwt.pub.pem"

# ensure_jwt_key : .local/jwt.pem (PKCS#8 PEM Ed25519 private key) and .local/jwt.pub.pem (SPKI).
ensure_jwt_key() {
  mkdir -p "$LOCAL_DIR"
  if [[ ! -s "$JWT_KEY_FILE" ]]; then
    (umask 077
     if command -v openssl >/dev/null; then
       openssl genpkey -algorithm ed25519 -out "$JWT_KEY_FILE"
     else
       python3 - "$JWT_KEY_FILE" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
pem = Ed25519PrivateKey.generate().private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
open(sys.argv[1], "wb").write(pem)
PY
     fi)
    log "generated ${JWT_KEY_FILE#"$REPO_ROOT"/}"
    rm -f "$JWT_PUBLIC_KEY_FILE"
  fi
  if [[ ! -s "$JWT_PUBLIC_KEY_FILE" || "$JWT_PUBLIC_KEY_FILE" -ot "$JWT_KEY_FILE" ]]; then
    if command -v openssl >/dev/null; then
      openssl pkey -in "$JWT_KEY_FILE" -pubout -out "$JWT_PUBLIC_KEY_FILE"
    else
      python3 - "$JWT_KEY_FILE" "$JWT_PUBLIC_KEY_FILE" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
open(sys.argv[2], "wb").write(key.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
PY
    fi
  fi
}

# write_env_file FILE KEY=VALUE... : a dotenv file for `cargo lambda watch --env-file`.
# Its parser (env-file-reader) keeps real newlines inside double quotes (a PEM key spans lines)
# and unescapes \" but not \\, and expands nothing: so values are written as they are, in double
# quotes, with " escaped; a backslash is refused rather than guessed at.
write_env_file() {
  local file="$1"; shift
  mkdir -p "$(dirname "$file")"
  (umask 077; : >"$file")
  local kv key value
  for kv in "$@"; do
    key="${kv%%=*}"; value="${kv#*=}"
    [[ "$key" =~ ^[A-Z_][A-Z0-9_]*$ ]] || die "bad env name: $key"
    [[ "$value" != *\\* ]] || die "$key: backslashes are not supported in env file values"
    printf '%s="%s"\n' "$key" "${value//\"/\\\"}" >>"$file"
  done
}

# ---------------------------------------------------------------------------------------------
# Stack environments: STACK_ENV (an associative array) holds one stack's settings.

# new_stack_env PORT TABLE : the settings every local stack shares. Twilio points at the fake
# (TWILIO_FAKE_URL), DynamoDB and KMS at moto (MOTO_URL), the signing key is .local/jwt.pem
# (a stack that signs in KMS unsets JWT_SIGNING_KEY and sets JWT_SIGNING_KMS_KEY_ID).
new_stack_env() {
  local port="$1" table="$2"
  unset STACK_ENV
  declare -gA STACK_ENV=(
    [TABLE_NAME]="$table"
    [AWS_ENDPOINT_URL_DYNAMODB]="$MOTO_URL"
    [AWS_ENDPOINT_URL_KMS]="$MOTO_URL"
    [AWS_REGION]=us-east-1
    [AWS_ACCESS_KEY_ID]=local
    [AWS_SECRET_ACCESS_KEY]=local
    [TWILIO_ACCOUNT_SID]="$FAKE_TWILIO_ACCOUNT_SID"
    [TWILIO_AUTH_TOKEN]="$FAKE_TWILIO_AUTH_TOKEN"
    [TWILIO_VERIFY_SERVICE_SID]="$FAKE_TWILIO_VERIFY_SERVICE_SID"
    [TWILIO_MESSAGING_SERVICE_SID]="$FAKE_TWILIO_MESSAGING_SERVICE_SID"
    [TWILIO_VERIFY_BASE_URL]="$TWILIO_FAKE_URL"
    [TWILIO_API_BASE_URL]="$TWILIO_FAKE_URL"
    [JWT_ISSUER]="http://127.0.0.1:$port"
    [JWT_AUDIENCE]=sms-mfa
    [JWT_SIGNING_KEY]="$(cat "$JWT_KEY_FILE")"
    # Seals authenticator secrets; a fresh one per stack (its table is fresh too).
    [TOTP_ENCRYPTION_KEY]="$(head -c 32 /dev/urandom | base64)"
    [RUST_LOG]=info
  )
}

# stack_env_from_environment : every configuration variable (and RUST_LOG) set in this shell
# overrides the stack's value, e.g. `OTP_PROVIDER=twilio_verify scripts/local.sh`.
stack_env_from_environment() {
  local var
  for var in "${CONFIG_VARS[@]}" RUST_LOG; do
    if [[ -n "${!var+x}" ]]; then STACK_ENV[$var]="${!var}"; fi
  done
}

# write_stack_env FILE : STACK_ENV as a dotenv file (sorted; empty values left out).
write_stack_env() {
  local file="$1" key kvs=()
  while read -r key; do
    [[ -n "$key" && -n "${STACK_ENV[$key]}" ]] && kvs+=("$key=${STACK_ENV[$key]}")
  done < <(printf '%s\n' "${!STACK_ENV[@]}" | sort)
  write_env_file "$file" "${kvs[@]}"
}

# describe_stack_env : KEY=VALUE lines for the log, secrets and keys elided.
describe_stack_env() {
  local key
  while read -r key; do
    case "$key" in
      JWT_SIGNING_KEY|TWILIO_AUTH_TOKEN|AWS_SECRET_ACCESS_KEY|TOTP_ENCRYPTION_KEY|OTP_HASH_KEY) echo "  $key=<set>" ;;
      *) echo "  $key=${STACK_ENV[$key]}" ;;
    esac
  done < <(printf '%s\n' "${!STACK_ENV[@]}" | sort)
}

# ---------------------------------------------------------------------------------------------
# cargo lambda watch

# Function binaries served by `cargo lambda watch` (one per functions/<name>).
FUNCTION_BINS=(register login verify session phone protected jwks account web admin oauth)
# Functions invoked with a non-HTTP event (cargo lambda watch's invoke endpoint,
# /2015-03-31/functions/<bin>/invocations): built with the others, never warmed over HTTP.
EVENT_BINS=(events)

# watch_cmd PORT ENV_FILE [EXTRA ARGS...] : sets WATCH_CMD, the `cargo lambda watch` command line
# serving every binary at http://127.0.0.1:PORT/lambda-url/<bin>/<rest>. --concurrency lets
# several instances of one function run at once, as Lambda scales out (race tests need it).
# The configuration variables and any AWS profile of the caller's shell are removed first, since
# the functions inherit watch's environment: the env file alone decides.
watch_cmd() {
  local port="$1" env_file="$2"; shift 2
  local unset_args=() var
  for var in "${CONFIG_VARS[@]}" AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_DEFAULT_REGION; do
    unset_args+=(-u "$var")
  done
  WATCH_CMD=(env -C "$REPO_ROOT" "${unset_args[@]}" cargo lambda watch -A 127.0.0.1 -P "$port"
             --concurrency "${WATCH_CONCURRENCY:-8}" --env-file "$env_file" "$@")
}

# start_watch NAME PORT ENV_FILE [EXTRA ARGS...] : in the background, log in .local/logs/;
# sets WATCH_PID once it listens (it compiles a function on that function's first request).
start_watch() {
  local name="$1" port="$2" env_file="$3"; shift 3
  watch_cmd "$port" "$env_file" "$@"
  start_bg "watch-$name" "$LOG_DIR/watch-$name.log" "${WATCH_CMD[@]}"
  WATCH_PID="$BG_PID"
  wait_for_port "$port" 60 "$WATCH_PID" \
    || { tail -n 30 "$LOG_DIR/watch-$name.log" >&2; die "watch-$name did not start"; }
}

# http_status URL MAX_SECONDS : sets HTTP_CODE to the status of GET URL, 000 without an answer.
# (Not a $(...) function: the script must stay interruptible while curl waits.)
http_status() {
  local out
  out="$(mktemp)"
  run_fg curl -s -o /dev/null -w '%{http_code}' --max-time "$2" "$1" >"$out" 2>/dev/null || true
  HTTP_CODE="$(cat "$out")"; rm -f "$out"
  HTTP_CODE="${HTTP_CODE:-000}"
}

# wait_for_watch BASE_URL TIMEOUT_SECONDS [PID] : until the jwks function answers over HTTP with
# any status (the first request to a function compiles it, so this can take minutes).
wait_for_watch() {
  local base="$1" timeout="$2" pid="${3:-}" deadline=$((SECONDS + $2)) code left
  while ((SECONDS < deadline)); do
    left=$((deadline - SECONDS)); ((left > 0)) || left=1
    http_status "$base/jwks/.well-known/jwks.json" "$left"; code="$HTTP_CODE"
    if [[ -n "$code" && "$code" != "000" ]]; then
      log "$base answers (jwks: HTTP $code)"
      return 0
    fi
    if [[ -n "$pid" ]] && ! is_alive "$pid"; then
      log "cargo lambda watch (pid $pid) exited"; return 1
    fi
    sleep 1
  done
  log "$base did not answer within ${timeout}s"; return 1
}

# warm_functions BASE_URL TIMEOUT_SECONDS : one request to every function, so each has an instance
# running (and compiled) before tests that measure time (cooldowns, expiries) start.
warm_functions() {
  local base="$1" timeout="$2" bin code
  for bin in "${FUNCTION_BINS[@]}"; do
    http_status "$base/$bin/__warmup" "$timeout"; code="$HTTP_CODE"
    log "  $bin: HTTP ${code:-000}"
  done
}

# ---------------------------------------------------------------------------------------------
# The local router (tests/local-router): template.yaml's routes on their deployed paths, in front
# of a `cargo lambda watch`, with the caller's address as requestContext.http.sourceIp.

ROUTER_BIN="$REPO_ROOT/target/debug/local-router"

# start_router NAME PORT WATCH_PORT : in the background, log in .local/logs/router-NAME.log;
# sets ROUTER_URL once it listens. Builds the router when missing.
start_router() {
  local name="$1" port="$2" watch_port="$3" line
  if [[ ! -x "$ROUTER_BIN" ]]; then
    log "building local-router"
    (cd "$REPO_ROOT" && cargo build --quiet -p local-router --bin local-router)
  fi
  start_bg "router-$name" "$LOG_DIR/router-$name.log" \
    "$ROUTER_BIN" --template "$REPO_ROOT/template.yaml" --watch "http://127.0.0.1:$watch_port" --port "$port"
  line="$(wait_for_line "$LOG_DIR/router-$name.log" 'local-router listening on http://' 30 "$BG_PID")" \
    || { tail -n 20 "$LOG_DIR/router-$name.log" >&2; die "router-$name did not start"; }
  ROUTER_URL="$(grep -Eo 'http://[^[:space:]]+' <<<"$line" | head -n1)"
  log "router-$name at $ROUTER_URL (in front of watch on port $watch_port)"
}

# ---------------------------------------------------------------------------------------------
# The SAM CLI (sam validate in scripts/test.sh, sam build and deploy in scripts/deploy.sh), from a
# venv of its own: the SAM CLI pins dependencies that clash with moto's.

SAM_VENV_DIR="$REPO_ROOT/.venv-sam"
SAM_BIN="$SAM_VENV_DIR/bin/sam"
SAM_CLI_REQUIREMENT="aws-sam-cli>=1.130,<2"

# ensure_sam_cli : installs the SAM CLI into .venv-sam when it is not there yet.
ensure_sam_cli() {
  if [[ ! -x "$SAM_BIN" ]]; then
    log "installing aws-sam-cli into .venv-sam"
    python3 -m venv "$SAM_VENV_DIR"
    "$SAM_VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "$SAM_CLI_REQUIREMENT"
  fi
}

# ---------------------------------------------------------------------------------------------
# The browser tests: Debian's Chromium and its WebDriver, selenium in the venv.

SELENIUM_REQUIREMENT="selenium>=4.20,<5"

ensure_browser() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    command -v apt-get >/dev/null || die "chromium and chromedriver are missing, and there is no apt-get to install them"
    local sudo=()
    ((EUID == 0)) || sudo=(sudo)
    log "installing chromium and chromium-driver (apt)"
    "${sudo[@]}" apt-get install -y --no-install-recommends chromium chromium-driver >"$LOG_DIR/apt-chromium.log" 2>&1 \
      || { "${sudo[@]}" apt-get update >>"$LOG_DIR/apt-chromium.log" 2>&1 \
           && "${sudo[@]}" apt-get install -y --no-install-recommends chromium chromium-driver >>"$LOG_DIR/apt-chromium.log" 2>&1; } \
      || { tail -n 20 "$LOG_DIR/apt-chromium.log" >&2; die "could not install chromium"; }
  fi
  if ! python3 -c 'import selenium' 2>/dev/null; then
    log "installing $SELENIUM_REQUIREMENT into ${VENV_DIR#"$REPO_ROOT"/}"
    python3 -m pip install --quiet --disable-pip-version-check "$SELENIUM_REQUIREMENT"
  fi
}
