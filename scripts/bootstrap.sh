#!/usr/bin/env bash
# Installs the project's local tooling into .venv (gitignored), idempotently:
#   moto's server (local DynamoDB), boto3 + pyyaml (scripts/create_table.py), cfn-lint,
#   cargo-lambda + ziglang (cargo lambda watch/build), cryptography (key fallback without openssl),
#   PyJWT (interop tests), authlib (tests/oidc).
# A stamp file keyed on the requirement list makes a second run a no-op (well under a second).
# Exports nothing: other scripts source scripts/lib.sh and call activate_venv.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

# Bounded to the major versions checked with this project (see TOOLCHAIN.md in the handbook).
REQUIREMENTS=(
  "moto[server]>=5.1,<6"
  "boto3>=1.34,<2"
  "pyyaml>=6,<7"
  # cfn-lint 1.54+ dropped the SAM transform (aws-sam-translator) and then misses errors in
  # AWS::Serverless::* resources and circular dependencies that the transform exposes.
  "cfn-lint>=1.40,<1.54"
  "cargo-lambda>=1.8,<2"
  "ziglang>=0.13"
  "cryptography>=42"
  # A verifier nobody here wrote, for the interop tests (tests/interop/pyjwt_verify.py).
  "PyJWT>=2.8,<3"
  # An authenticator app for the e2e tests: TOTP codes computed independently of the service.
  "pyotp>=2.9,<3"
  # A relying party nobody here wrote, for tests/oidc (its Flask and requests clients use the
  # flask and requests that moto[server] brings).
  "authlib>=1.6,<2"
)

stamp_key() {
  # The key changes when the requirements or the interpreter change.
  { printf '%s\n' "${REQUIREMENTS[@]}"; "$PYTHON_BIN" --version 2>&1; } | sha256sum | cut -d' ' -f1
}

PYTHON_BIN="${PYTHON:-python3}"
command -v "$PYTHON_BIN" >/dev/null || die "bootstrap: $PYTHON_BIN not found (install python3 >= 3.9)"

stamp="$VENV_DIR/.bootstrap-stamp"
key="$(stamp_key)"
if [[ -x "$VENV_DIR/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]] \
   && [[ -x "$VENV_DIR/bin/moto_server" && -x "$VENV_DIR/bin/cargo-lambda" && -x "$VENV_DIR/bin/cfn-lint" ]]; then
  log "bootstrap: $VENV_DIR is up to date"
  exit 0
fi

if [[ ! -x "$VENV_DIR/bin/python" ]]; then
  log "bootstrap: creating $VENV_DIR"
  "$PYTHON_BIN" -m venv "$VENV_DIR"
fi
log "bootstrap: installing ${REQUIREMENTS[*]}"
"$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
printf '%s\n' "$key" >"$stamp"
log "bootstrap: done ($("$VENV_DIR/bin/cargo-lambda" lambda --version 2>/dev/null || echo 'cargo-lambda ?'), $("$VENV_DIR/bin/cfn-lint" --version))"
