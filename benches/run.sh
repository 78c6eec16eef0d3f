#!/usr/bin/env bash
# Performance figures of sms-mfa, each reproducible by one command (benches/README.md).
#
#   benches/run.sh                 build, hello, sizes, coldstart and bench, in that order
#   benches/run.sh build           release build of the seven function binaries (and twilio-fake)
#   benches/run.sh sizes           stripped release binary sizes (x86_64)
#   benches/run.sh arm64           `cargo lambda build --release --arm64` and the bootstrap sizes
#   benches/run.sh coldstart [ARGS]  benches/coldstart.py under a local Runtime API stand-in; with
#                                  the venv's moto it also runs the (db) scenarios
#   benches/run.sh bench [ARGS]    criterion benches (shared/benches/hot_paths.rs); with the venv's
#                                  moto and tests/twilio-fake, the dynamodb and twilio groups too
#   benches/run.sh hello           builds benches/hello-lambda (the cold-start floor) into target/
#   benches/run.sh bloat [BIN]     which crates the binary's code comes from (an unstripped relink)
#   benches/run.sh compare-s       the same binaries and benches at opt-level "s" (target/profile-s)
#
# NO_LOCAL_STACK=1 skips moto and the Twilio fake (no DynamoDB/Twilio figures then).
# Results land in target/bench-results/ (not committed); benches/README.md quotes them.
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"
cd "$REPO_ROOT"

FUNCTIONS=(register login verify session phone account protected jwks web)
RESULTS="$REPO_ROOT/target/bench-results"
BIN_DIR="$REPO_ROOT/target/release"
TWILIO_FAKE_BIN="$BIN_DIR/twilio-fake"
TABLE="sms-mfa-bench"
mkdir -p "$RESULTS"

machine() {
  echo "machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p') ($(nproc) cores, $(uname -m)), $(uname -sr)"
  echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "rustc:   $(rustc --version)"
}

build() {
  local pkgs=() f
  for f in "${FUNCTIONS[@]}"; do pkgs+=(-p "$f"); done
  # The functions apart from twilio-fake, whose server features would otherwise be unified into
  # theirs: built together they resolve like `cargo lambda build` / `cargo run --bin` of each one.
  log "cargo build --release ${pkgs[*]}; cargo build --release -p twilio-fake"
  cargo build --release "${pkgs[@]}"
  cargo build --release -p twilio-fake
}

ensure_built() {
  local f
  for f in "${FUNCTIONS[@]}" twilio-fake; do
    [[ -x "$BIN_DIR/$f" ]] || { build; return; }
  done
}

sizes() {
  ensure_built
  {
    machine
    echo "profile: $(sed -n '/^\[profile.release\]/,/^\[/p' Cargo.toml | grep -v '^\[\|^#\|^$' | tr '\n' ' ')"
    printf '%-10s %10s %8s\n' binary bytes MiB
    local f bytes
    for f in "${FUNCTIONS[@]}"; do
      bytes="$(stat -c %s "$BIN_DIR/$f")"
      printf '%-10s %10d %8.2f\n' "$f" "$bytes" "$(echo "$bytes / 1048576" | bc -l)"
    done
    echo "(x86_64-unknown-linux-gnu, stripped by the release profile; file says:"
    file -b "$BIN_DIR/protected" | cut -c1-120
    echo ")"
  } | tee "$RESULTS/sizes.txt"
}

start_local_stack() {
  [[ "${NO_LOCAL_STACK:-0}" == 1 ]] && { log "NO_LOCAL_STACK=1: no local DynamoDB or Twilio fake"; return; }
  if [[ ! -x "$VENV_DIR/bin/moto_server" ]]; then
    log "no moto in $VENV_DIR (scripts/bootstrap.sh): DynamoDB figures are skipped"
    return
  fi
  install_cleanup_trap
  activate_venv
  start_moto
  create_table "$TABLE" >/dev/null
  export DYNAMODB_ENDPOINT="$MOTO_URL" TABLE_NAME="$TABLE"
  # moto is the local KMS too (the bench's `kms` group signs there).
  export KMS_ENDPOINT="$MOTO_URL" AWS_ENDPOINT_URL_KMS="$MOTO_URL"
  if [[ "${1:-}" == twilio ]]; then
    start_twilio_fake
    export TWILIO_FAKE_URL
  fi
}

coldstart() {
  ensure_built
  start_local_stack
  machine | tee "$RESULTS/coldstart.txt"
  python3 benches/coldstart.py --bin-dir "$BIN_DIR" --json "$RESULTS/coldstart.json" "$@" | tee -a "$RESULTS/coldstart.txt"
}

bench() {
  ensure_built  # the Twilio fake
  start_local_stack twilio
  machine | tee "$RESULTS/bench.txt"
  cargo bench -p sms-mfa --bench hot_paths -- "$@" 2>&1 | tee -a "$RESULTS/bench.txt"
}

# Which crates the code of one binary comes from: relinks it unstripped (only the binary crate
# is rebuilt; the release profile strips symbols), sums symbol sizes per crate, then relinks
# the stripped binary again. cargo-bloat does the same when it is installed; this needs only nm.
bloat() {
  local bin="${1:-register}" out="$RESULTS/bloat-${1:-register}"
  mkdir -p "$out"
  cargo rustc --release -p "$bin" --bin "$bin" -- -C strip=none -C debuginfo=0
  cp "$BIN_DIR/$bin" "$out/$bin.unstripped"
  cargo build --release -p "$bin"
  size -A "$out/$bin.unstripped" | awk '$2 > 100000' | tee "$out/sections.txt"
  nm -S --size-sort -C "$out/$bin.unstripped" >"$out/nm.txt"
  python3 benches/crate_sizes.py "$out/nm.txt" | tee "$out/crates.txt"
}

# What Lambda runs on Graviton: cargo-lambda cross-compiles with zig (both from the venv).
arm64() {
  activate_venv
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
  local pkgs=() f bytes
  for f in "${FUNCTIONS[@]}"; do pkgs+=(-p "$f"); done
  log "cargo lambda build --release --arm64 ${pkgs[*]}"
  cargo lambda build --release --arm64 "${pkgs[@]}"
  {
    machine
    printf '%-10s %10s %8s\n' binary bytes MiB
    for f in "${FUNCTIONS[@]}"; do
      bytes="$(stat -c %s "target/lambda/$f/bootstrap")"
      printf '%-10s %10d %8.2f\n' "$f" "$bytes" "$(echo "$bytes / 1048576" | bc -l)"
    done
    echo "(target/lambda/<function>/bootstrap; file says:"
    file -b target/lambda/protected/bootstrap | cut -c1-120
    echo ")"
  } | tee "$RESULTS/sizes-arm64.txt"
}

# opt-level "s" against the profile's 3: sizes, cold start and the CPU-bound benches, built into
# target/profile-s so target/release stays as it is. Run `coldstart`/`bench` for the 3 side.
compare_s() {
  local s=(env CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_TARGET_DIR="$REPO_ROOT/target/profile-s")
  local pkgs=() f
  for f in "${FUNCTIONS[@]}"; do pkgs+=(-p "$f"); done
  "${s[@]}" cargo build --release "${pkgs[@]}"
  {
    machine
    echo "opt-level s (target/profile-s/release) against 3 (target/release), bytes:"
    for f in "${FUNCTIONS[@]}"; do
      printf '%-10s s=%10d  3=%10s\n' "$f" "$(stat -c %s "target/profile-s/release/$f")" \
        "$(stat -c %s "$BIN_DIR/$f" 2>/dev/null || echo '?')"
    done
    python3 benches/coldstart.py --bin-dir target/profile-s/release --only register,session,protected,jwks
    "${s[@]}" cargo bench -p sms-mfa --bench hot_paths -- '^(jwt|argon2|json)/' 2>&1 | grep -E '^oneshot|time:|^[a-z0-9_]+/[a-z_]+$'
  } | tee "$RESULTS/compare-s.txt"
}

# The baseline: a hello-world lambda_http binary, same features, tokio flavor and profile.
hello() {
  log "building benches/hello-lambda"
  cargo build --release --manifest-path benches/hello-lambda/Cargo.toml --target-dir "$REPO_ROOT/target/hello-lambda"
}

cmd="${1:-all}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  build) build ;;
  sizes) sizes ;;
  coldstart) coldstart "$@" ;;
  bench) bench "$@" ;;
  bloat) bloat "$@" ;;
  hello) hello ;;
  arm64) arm64 ;;
  compare-s) compare_s ;;
  all)
    build
    hello
    sizes
    # Each in its own shell, so each starts (and stops) its own local stack.
    "$REPO_ROOT/benches/run.sh" coldstart
    "$REPO_ROOT/benches/run.sh" bench
    ;;
  *) die "unknown command $cmd (build | hello | sizes | arm64 | compare-s | coldstart | bench | bloat | all)" ;;
esac
