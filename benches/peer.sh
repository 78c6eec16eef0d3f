#!/usr/bin/env bash
# CPU per warm invocation of protected against the Node baseline and a bare lambda_http binary,
# all under the peer folder's Runtime API stand-in (rapid.py), interleaved in one run. protected
# runs twice: with one token repeated (its verified-token cache hits) and with 600 different
# tokens cycled (every check in full).
#
#   PEER_DIR=/path/to/shared/peer benches/peer.sh     # default: ../shared/peer of the repo
#   ROUNDS=3 N=2000 REPEAT=3 benches/peer.sh
#
# The peer folder is copied to target/peer first (npm install writes node_modules there, not
# into the shared folder). Needs node + npm, openssl, and target/release/protected
# (benches/run.sh build). Output: target/bench-results/peer.txt and peer-*.json.
set -euo pipefail

source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/lib.sh"
cd "$REPO_ROOT"

PEER_DIR="${PEER_DIR:-$REPO_ROOT/../shared/peer}"
[[ -f "$PEER_DIR/rapid.py" ]] || die "no rapid.py in $PEER_DIR (set PEER_DIR)"
WORK="$REPO_ROOT/target/peer"
RESULTS="$REPO_ROOT/target/bench-results"
ROUNDS="${ROUNDS:-3}" N="${N:-2000}" REPEAT="${REPEAT:-3}"
mkdir -p "$WORK" "$RESULTS"

# The peer folder, without anything npm made.
(cd "$PEER_DIR" && tar --exclude=node_modules --exclude=events -cf - .) | (cd "$WORK" && tar -xf -)
if [[ ! -d "$WORK/node-baseline/node_modules" ]]; then
  log "npm install (node-baseline)"
  (cd "$WORK/node-baseline" && npm install --no-audit --no-fund >/dev/null)
fi
(cd "$WORK/node-baseline" && JWT_SECRET=bench-secret node make-events.mjs >/dev/null)

HELLO="$REPO_ROOT/target/peer-hello/release/peer-rust"
if [[ ! -x "$HELLO" ]]; then
  log "building the peer's rust-hello"
  # Its own workspace: the copy sits under this repository's target/.
  grep -q '^\[workspace\]' "$WORK/rust-hello/Cargo.toml" || printf '\n[workspace]\n' >>"$WORK/rust-hello/Cargo.toml"
  cargo build --release --manifest-path "$WORK/rust-hello/Cargo.toml" --target-dir "$REPO_ROOT/target/peer-hello"
fi
[[ -x target/release/protected ]] || die "no target/release/protected (benches/run.sh build)"

# Our protected's event and key: a valid EdDSA access token, as benches/coldstart.py makes them.
python3 - "$WORK" <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, "benches")
import coldstart
work = Path(sys.argv[1])
key = coldstart.SigningKey(work)
(work / "protected-rust.json").write_text(json.dumps(coldstart.event("GET", "/protected", bearer=key.access_token())))
(work / "jwt-signing-key.pem").write_text(key.pem)
# 600 different tokens, cycled: more than the instance's cache keeps (512), so every one of the
# warm invocations pays the full signature check.
with open(work / "protected-rust-new.jsonl", "w") as f:
    for _ in range(600):
        f.write(json.dumps(coldstart.event("GET", "/protected", bearer=key.access_token())) + "\n")
PY

rapid() { python3 "$WORK/rapid.py" --n "$N" --repeat "$REPEAT" "$@"; }
run_hello() { rapid --cmd "$HELLO" --function hello --event "$WORK/node-baseline/events/protected.json"; }
run_rust() {
  rapid --cmd "$REPO_ROOT/target/release/protected" --function protected --event "$WORK/protected-rust.json" \
    --env "JWT_SIGNING_KEY=$(cat "$WORK/jwt-signing-key.pem")" --env JWT_ISSUER=sms-mfa --env JWT_AUDIENCE=sms-mfa \
    --env TABLE_NAME=unused
}
run_new() {
  rapid --cmd "$REPO_ROOT/target/release/protected" --function protected --event-list "$WORK/protected-rust-new.jsonl" \
    --env "JWT_SIGNING_KEY=$(cat "$WORK/jwt-signing-key.pem")" --env JWT_ISSUER=sms-mfa --env JWT_AUDIENCE=sms-mfa \
    --env TABLE_NAME=unused
}
run_node() {
  rapid --cmd "$WORK/node-baseline/bootstrap" --function protected --env HANDLER=protected --env JWT_SECRET=bench-secret \
    --event "$WORK/node-baseline/events/protected.json"
}

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), loadavg $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
  echo "rapid.py --n $N --repeat $REPEAT; CPU = utime+stime of the process tree over the $N warm invocations"
  for round in $(seq 1 "$ROUNDS"); do
    for who in hello rust new node; do
      out="$RESULTS/peer-$who-$round.json"
      "run_$who" >"$out"
      python3 - "$who" "$round" "$out" <<'PY'
import json, sys
who, rnd, path = sys.argv[1:]
s = json.load(open(path))
w = s["warm"]
print(f"round {rnd} {who:5s} cpu_us/inv {w['function_cpu_us_per_invocation']:7.1f}  duration median {w['duration_ms']['median']} ms"
      f"  t_init median {s['cold']['t_init_ms']['median']} ms  status {w['status_codes']}  load {s['loadavg_before_after']}")
PY
    done
  done
  python3 - "$RESULTS" "$ROUNDS" <<'PY'
import json, sys
res, rounds = sys.argv[1], int(sys.argv[2])
cpu = lambda who, r: json.load(open(f"{res}/peer-{who}-{r}.json"))["warm"]["function_cpu_us_per_invocation"]
for r in range(1, rounds + 1):
    print(f"round {r}: node / rust protected = {cpu('node', r) / cpu('rust', r):.2f}x (repeated token), "
          f"{cpu('node', r) / cpu('new', r):.2f}x (every token new); rust protected - hello = {cpu('rust', r) - cpu('hello', r):.1f} us")
PY
} | tee "$RESULTS/peer.txt"
