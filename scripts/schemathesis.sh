#!/usr/bin/env bash
# Property-based API testing of a running stack against openapi.yaml, with schemathesis (PyPI).
# Optional: not part of scripts/test.sh. Start a stack first (scripts/local.sh), then:
#
#   scripts/schemathesis.sh http://127.0.0.1:9000/lambda-url            # cargo lambda watch
#   scripts/schemathesis.sh http://127.0.0.1:9000/lambda-url --max-examples 50 --seed 1
#   ACCESS_TOKEN=eyJ... scripts/schemathesis.sh http://127.0.0.1:9000/lambda-url
#
# `cargo lambda watch` serves each function under BASE_URL/<function>/, so a per-run copy of
# openapi.yaml gets a path-level `servers` entry BASE_URL/<x-lambda-function> for every path
# (OpenAPI allows servers per path; schemathesis honours them when no --url is given). For a
# deployed API, where every route shares one base URL, pass --single-base.
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

usage() { sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }
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

# The per-run spec: path-level servers, plus the list of "METHOD function path" to warm up.
WARMUP="$(python - "$REPO_ROOT/openapi.yaml" "$SPEC" "$BASE_URL" "$SINGLE_BASE" <<'PY'
import sys, yaml
source, target, base, single = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
with open(source) as f:
    spec = yaml.safe_load(f)
spec["servers"] = [{"url": base}]
methods = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
for path, item in spec["paths"].items():
    functions = {op["x-lambda-function"] for m, op in item.items() if m in methods}
    if len(functions) != 1:
        sys.exit(f"{path}: operations name different functions {sorted(functions)}; cannot pick one server")
    function = functions.pop()
    if not single:
        item["servers"] = [{"url": f"{base}/{function}", "description": f"the {function} function"}]
    for m in methods:
        if m in item:
            print(m.upper(), function, path)
with open(target, "w") as f:
    yaml.safe_dump(spec, f, sort_keys=False, allow_unicode=True)
PY
)"
log "spec for this run: ${SPEC#"$REPO_ROOT"/}"

# cargo lambda watch builds a function on its first request, which can take minutes: answer
# one request per function before the clock of any test case starts.
declare -A warmed=()
while read -r method function path; do
  [[ -n "${warmed[$function]:-}" ]] && continue
  url="$BASE_URL$path"
  ((SINGLE_BASE)) || url="$BASE_URL/$function$path"
  log "warming up $function ($method $url)"
  status="$(curl -s -o /dev/null -w '%{http_code}' --max-time "${WARMUP_TIMEOUT:-900}" -X "$method" "$url" || true)"
  [[ "$status" =~ ^[1-5][0-9][0-9]$ ]] || die "$function does not answer at $url (is the stack running?)"
  log "  $function answered $status"
  warmed[$function]=1
done <<<"$WARMUP"

ARGS=(
  run "$SPEC"
  --checks not_a_server_error,response_schema_conformance
  --max-examples "${MAX_EXAMPLES:-20}"
  --request-timeout "${REQUEST_TIMEOUT:-30}"
  --generation-database "$OUT_DIR/examples.db"
  --report junit,har
  --report-dir "$OUT_DIR/report"
  --no-color
)
[[ -n "${ACCESS_TOKEN:-}" ]] && ARGS+=(--header "Authorization: Bearer $ACCESS_TOKEN")

log "schemathesis ${ARGS[*]} $*"
status=0
schemathesis "${ARGS[@]}" "$@" || status=$?
if ((status)); then
  log "schemathesis found problems (exit $status); requests and responses in ${OUT_DIR#"$REPO_ROOT"/}/report/"
else
  log "schemathesis: no 5xx, every response as documented"
fi
exit "$status"
