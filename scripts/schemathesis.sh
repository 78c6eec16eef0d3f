#!/usr/bin/env bash
# Property-based API testing of a running stack against openapi.yaml, with schemathesis (PyPI).
# scripts/test.sh runs it against its default stack; by hand, start a stack first (scripts/local.sh), then:
#
#   scripts/schemathesis.sh http://127.0.0.1:9000 --single-base         # scripts/local.sh (router)
#   scripts/schemathesis.sh http://127.0.0.1:9001/lambda-url --max-examples 50 --seed 1  # bare watch
#   ACCESS_TOKEN=eyJ... scripts/schemathesis.sh http://127.0.0.1:9000 --single-base
#
# `cargo lambda watch` serves each function under BASE_URL/<function>/, so every operation is
# sent to BASE_URL/<its x-lambda-function>/<path>: a per-run copy of openapi.yaml prefixes each
# path with its function (`/auth/register` becomes `/register/auth/register`) and schemathesis
# gets `--url BASE_URL`. (Path-level `servers` would say the same, but schemathesis only honours
# them for a schema loaded from a URL, and insists on --url, which overrides them, for a file.)
# For the local router or a deployed API, where every route shares one base URL, pass
# --single-base after BASE_URL.
#
# Checks: not_a_server_error (no 5xx) and response_schema_conformance (every answer matches the
# status and schema documented for it). MAX_EXAMPLES (20) bounds the cases per operation.
# ACCESS_TOKEN, when set, is sent as `Authorization: Bearer ...` on every request, so the Bearer
# routes are exercised past the token check. Extra arguments go to `schemathesis run`.
# Reports (JUnit, and a HAR file with every request and response to replay failures) go to
# .local/schemathesis/. Exit code: schemathesis's (non-zero when a check failed).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$REPO_ROOT"

usage() { sed -n '2,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }
[[ $# -ge 1 && "$1" != -h && "$1" != --help ]] || usage
BASE_URL="${1%/}"; shift
[[ "$BASE_URL" =~ ^https?:// ]] || die "BASE_URL must be an http(s) URL, got: $BASE_URL"
SINGLE_BASE=0
if [[ "${1:-}" == --single-base ]]; then SINGLE_BASE=1; shift; fi

# Bounded like the other tools in scripts/bootstrap.sh (checked with 4.32).
SCHEMATHESIS_REQUIREMENT="schemathesis>=4.32,<5"
[[ -x "$VENV_DIR/bin/python" ]] || "$REPO_ROOT/scripts/bootstrap.sh"
activate_venv
if ! command -v schemathesis >/dev/null; then
  log "installing $SCHEMATHESIS_REQUIREMENT into ${VENV_DIR#"$REPO_ROOT"/}"
  python -m pip install --quiet --disable-pip-version-check "$SCHEMATHESIS_REQUIREMENT"
fi

OUT_DIR="$LOCAL_DIR/schemathesis"
mkdir -p "$OUT_DIR"
SPEC="$OUT_DIR/openapi.run.yaml"

# The per-run spec, plus the list of "METHOD path function" to warm up.
WARMUP="$(python - "$REPO_ROOT/openapi.yaml" "$SPEC" "$BASE_URL" "$SINGLE_BASE" <<'PY'
import sys, yaml
source, target, base, single = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
with open(source) as f:
    spec = yaml.safe_load(f)
spec["servers"] = [{"url": base}]
methods = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
paths = {}
for path, item in spec["paths"].items():
    # One path may be served by several functions (GET /me: account; OPTIONS /me, the CORS
    # preflight: oauth): without --single-base each function's operations get a path of their own.
    by_function = {}
    for m in methods:
        if m in item:
            by_function.setdefault(item[m]["x-lambda-function"], {})[m] = item[m]
    common = {k: v for k, v in item.items() if k not in methods}
    for function, ops in by_function.items():
        served = path if single else f"/{function}{path}"
        paths.setdefault(served, dict(common)).update(ops)
        for m in ops:
            print(m.upper(), served, function)
spec["paths"] = paths
with open(target, "w") as f:
    yaml.safe_dump(spec, f, sort_keys=False, allow_unicode=True)
PY
)"
log "spec for this run: ${SPEC#"$REPO_ROOT"/}"

# cargo lambda watch builds a function on its first request, which can take minutes: answer
# one request per function before the clock of any test case starts.
declare -A warmed=()
while read -r method path function; do
  [[ -n "${warmed[$function]:-}" ]] && continue
  url="$BASE_URL$path"
  log "warming up $method $url"
  status="$(curl -s -o /dev/null -w '%{http_code}' --max-time "${WARMUP_TIMEOUT:-900}" -X "$method" "$url" || true)"
  [[ "$status" =~ ^[1-5][0-9][0-9]$ ]] || die "nothing answers at $url (is the stack running?)"
  log "  answered $status"
  warmed[$function]=1
done <<<"$WARMUP"

ARGS=(
  run "$SPEC"
  --url "$BASE_URL"
  --checks "not_a_server_error,response_schema_conformance"
  --max-examples "${MAX_EXAMPLES:-20}"
  --request-timeout "${REQUEST_TIMEOUT:-30}"
  --generation-database "$OUT_DIR/examples.db"
  --report "junit,har"
  --report-dir "$OUT_DIR/report"
  --no-color
)
# cargo lambda watch (not the service, and not API Gateway) answers a request whose text body is
# not valid UTF-8 with its own 500 problem document, without invoking the function. Those few
# failures say nothing about sms-mfa: a hook drops exactly them (and reports each); every other
# 5xx still fails the run. Not installed with --single-base, i.e. against a real API.
if ((!SINGLE_BASE)); then
  cat >"$OUT_DIR/hooks.py" <<'PY'
import sys
import schemathesis

EMULATOR_500 = b'"type":"https://httpstatuses.com/500"'


@schemathesis.hook
def filter_failure(context, failure, case, response):
    body = response.request.body
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogateescape")
    try:
        (body or b"").decode("utf-8")
        return True
    except UnicodeDecodeError:
        pass
    if response.status_code == 500 and EMULATOR_500 in response.content:
        print(f"[schemathesis.sh] ignored: cargo lambda watch refused a non-UTF-8 body "
              f"({case.method} {case.path})", file=sys.stderr)
        return False
    return True
PY
  export SCHEMATHESIS_HOOKS="$OUT_DIR/hooks.py"
fi

log "schemathesis ${ARGS[*]} $*${ACCESS_TOKEN:+ (with an Authorization header)}"
[[ -n "${ACCESS_TOKEN:-}" ]] && ARGS+=(--header "Authorization: Bearer $ACCESS_TOKEN")
# From OUT_DIR: schemathesis keeps its crash cache (for `st replay`) in ./.schemathesis.
status=0
(cd "$OUT_DIR" && schemathesis "${ARGS[@]}" "$@") || status=$?
if ((status)); then
  log "schemathesis found problems (exit $status); requests and responses in ${OUT_DIR#"$REPO_ROOT"/}/report/;" \
    "replay a case with: (cd ${OUT_DIR#"$REPO_ROOT"/} && st replay ID)"
else
  log "schemathesis: no 5xx, every response as documented"
fi
exit "$status"
