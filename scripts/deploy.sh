#!/usr/bin/env bash
# Builds every function for Lambda (arm64) and deploys the stack: `sam build`, then `sam deploy`.
# Works from a fresh clone. Like scripts/test.sh it installs what it needs on first use:
# cargo-lambda and zig into .venv (scripts/bootstrap.sh), the SAM CLI into .venv-sam, and the
# Rust target aarch64-unknown-linux-gnu (rustup). Both venvs are put on PATH for the build, so
# `sam build` finds cargo-lambda and cargo-lambda finds zig.
#
#   scripts/deploy.sh --guided       # the first time: asks for the stack name, region, Twilio
#                                    # credentials and the other parameters (template.yaml) and
#                                    # can save the answers to samconfig.toml
#   scripts/deploy.sh                # later deploys, with samconfig.toml's answers
#   scripts/deploy.sh --parameter-overrides SendsGlobalHour=5000
#   scripts/deploy.sh --build-only   # `sam build` alone: no AWS account needed
#
# Every argument (except --build-only) goes to `sam deploy`. Prerequisites: a Rust toolchain
# through rustup, python3 (3.9+), and for a deploy AWS credentials that the SAM CLI can use
# (environment variables, AWS_PROFILE or --profile, or the default profile of ~/.aws); the script
# checks them (AWS STS GetCallerIdentity) before the build. The build takes ~15 min clean on
# 2 cores: nine release binaries, each one fat-LTO link of ~1 min or more, relinked after any
# change in shared/ (benches/README.md, "The profile"). Exit code: the failing step's.
set -euo pipefail

BUILD_ONLY=0
if [[ "${1:-}" == --build-only ]]; then BUILD_ONLY=1; shift; fi
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 0
fi

# shellcheck source=scripts/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
cd "$REPO_ROOT"

LAMBDA_TARGET=aarch64-unknown-linux-gnu

# --- Prerequisites that nothing here can install --------------------------------------------

command -v cargo >/dev/null \
  || die "cargo not found: install Rust with rustup (https://rustup.rs), then run this again"
command -v rustup >/dev/null \
  || die "rustup not found: the arm64 build needs the target $LAMBDA_TARGET, which rustup installs (https://rustup.rs)"
command -v python3 >/dev/null || die "python3 not found: install Python 3.9 or later"

# --- Tools, installed on first use -----------------------------------------------------------

"$REPO_ROOT/scripts/bootstrap.sh"
activate_venv
ensure_sam_cli

# `cargo lambda build --release --arm64` (what `sam build` runs for each function) cross-compiles.
if ! rustup target list --installed | grep -qx "$LAMBDA_TARGET"; then
  log "rustup target add $LAMBDA_TARGET (once)"
  rustup target add "$LAMBDA_TARGET" \
    || die "could not add the Rust target $LAMBDA_TARGET: run \`rustup target add $LAMBDA_TARGET\` and see its error"
fi

# The project's venv first: cargo-lambda finds zig through `python3 -m ziglang`, so the first
# python3 on PATH must be .venv's (scripts/lib.sh, activate_venv); then .venv-sam for `sam`.
export PATH="$VENV_DIR/bin:$SAM_VENV_DIR/bin:$PATH"
hash -r
export SAM_CLI_TELEMETRY="${SAM_CLI_TELEMETRY:-0}"
command -v cargo-lambda >/dev/null || die "cargo-lambda is not in ${VENV_DIR#"$REPO_ROOT"/}/bin: run scripts/bootstrap.sh"
python3 -c 'import ziglang' 2>/dev/null || die "zig (the ziglang wheel) is not in ${VENV_DIR#"$REPO_ROOT"/}: run scripts/bootstrap.sh"

# --- AWS credentials and region, before the long build ----------------------------------------

# check_aws SAM_DEPLOY_ARGS... : the SAM CLI (boto3) must find credentials that AWS accepts,
# for the profile and region sam deploy will use; says which account it will deploy to.
check_aws() {
  local region_in_config=0
  if [[ -f samconfig.toml ]] && grep -Eq '^[[:space:]]*region[[:space:]]*=' samconfig.toml; then
    region_in_config=1
  fi
  SAMCONFIG_HAS_REGION="$region_in_config" "$SAM_VENV_DIR/bin/python" - "$@" <<'PY'
import os
import sys

import boto3
import botocore.config
import botocore.exceptions

args = sys.argv[1:]


def option(name):
    """The value of --name X or --name=X in sam deploy's arguments, if given."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def fail(message):
    print(f"deploy: {message}", file=sys.stderr)
    sys.exit(1)


guided = "--guided" in args or "-g" in args
profile = option("--profile")
try:
    session = boto3.Session(profile_name=profile)
except botocore.exceptions.ProfileNotFound as e:
    fail(f"{e}: name a profile of ~/.aws/config, or leave --profile out")

if session.get_credentials() is None:
    fail(
        "no AWS credentials found. Give the SAM CLI some, then run this again: "
        "`aws configure` (access keys), `aws sso login --profile NAME` with AWS_PROFILE=NAME or "
        "--profile NAME, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) "
        "in the environment"
    )

region = option("--region") or session.region_name
if not region and not guided and os.environ.get("SAMCONFIG_HAS_REGION") != "1":
    fail(
        "no AWS region: pass --region (e.g. --region eu-west-1), set AWS_DEFAULT_REGION, or "
        "deploy once with --guided, which saves it in samconfig.toml"
    )

config = botocore.config.Config(connect_timeout=10, read_timeout=20, retries={"max_attempts": 2})
try:
    identity = session.client("sts", region_name=region or "us-east-1", config=config).get_caller_identity()
except botocore.exceptions.ClientError as e:
    fail(f"AWS refused the credentials ({e.response['Error'].get('Code')}: "
         f"{e.response['Error'].get('Message')}); refresh them (e.g. `aws sso login`) and run this again")
except botocore.exceptions.BotoCoreError as e:
    fail(f"could not check the AWS credentials: {e}")

where = region or "the region that --guided asks for"
print(f"deploy: AWS account {identity['Account']} as {identity['Arn']}, region {where}", file=sys.stderr)
PY
}

if ((!BUILD_ONLY)); then
  log "checking AWS credentials (STS GetCallerIdentity)"
  check_aws "$@" || exit 1
fi

# --- Build and deploy ----------------------------------------------------------------------------

log "sam validate --lint"
"$SAM_BIN" validate --lint --template template.yaml --region "${AWS_DEFAULT_REGION:-us-east-1}"

# samconfig.toml holds the build settings (no parallel builds: each function is one fat-LTO link).
log "sam build (cargo lambda build --release --arm64, one function after another)"
install_cleanup_trap
run_fg "$SAM_BIN" build
trap - EXIT INT TERM HUP

if ((BUILD_ONLY)); then
  log "built into .aws-sam/build/; deploy with scripts/deploy.sh [--guided]"
  exit 0
fi

# In the foreground, with the terminal: --guided asks questions and the change set is confirmed
# (samconfig.toml: confirm_changeset).
log "sam deploy $*"
"$SAM_BIN" deploy "$@"
