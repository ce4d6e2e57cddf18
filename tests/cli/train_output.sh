#!/usr/bin/env bash
# CLI golden test of mds-train's output guarantees (docs/training.md, "Output
# files"): a metrics log on a full disk stops the run with a checkpoint and
# exit 1 naming the log; a closed metrics pipe (`--log - | head -1`) stops it
# with a checkpoint and exit 141 (128 + SIGPIPE); `ulimit -f` reached by a
# checkpoint is exit 1 naming it, with no temp file left; a second trainer on
# the same -o fails at start naming the first.
source "$(dirname "$0")/common.bash"
cd "$tmp"

tiny_model_files 100000 1
common=("${tiny_train[@]}" --threads 1)
step_of() {  # step_of CHECKPOINT: the trainer step stored in it
  mds-inspect --json "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["units"][0]["meta"]["trainer"]["step"])'
}

# ---- --log on a full disk: exit 1 naming the log, after saving a checkpoint ----------
# (--steps 20: a build that ignores the failure must end, and fail this test.)
ln -s /dev/full full.jsonl
expect 1 "full.jsonl: write failed: No space left on device; training stopped at step 0 and the checkpoint full.mds was written" \
  mds-train "${common[@]}" -o full.mds --steps 20 --log full.jsonl train.mds
[ "$(step_of full.mds)" = 0 ] || fail "no checkpoint after the log failed"
# The metrics on stderr (no --log), stderr on a full disk: the status tells.
rc=0
mds-train "${common[@]}" -o full2.mds --steps 20 train.mds 2>/dev/full || rc=$?
[ "$rc" = 1 ] || fail "metrics on a full stderr: exit $rc, expected 1"
[ -e full2.mds ] || fail "metrics on a full stderr: no checkpoint"

# ---- a closed metrics pipe: exit 141 after saving a checkpoint ----------------------
set +o pipefail
mds-train "${common[@]}" -o pipe.mds --log - train.mds 2>pipe.err | head -n 1 >pipe.first
status=${PIPESTATUS[0]}
set -o pipefail
[ "$status" = 141 ] || fail "closed metrics pipe: exit $status, expected 141; $(cat pipe.err)"
grep -q '"type":"start"' pipe.first || fail "the first metrics line did not arrive: $(cat pipe.first)"
grep -q "mds-train: stopped at step [0-9]*: <stdout> (--log -): write failed: Broken pipe" pipe.err ||
  fail "closed metrics pipe message: $(cat pipe.err)"
grep -q "continue with --resume pipe.mds" pipe.err || fail "no resume hint: $(cat pipe.err)"
step=$(step_of pipe.mds)
[ -n "$step" ] || fail "no checkpoint after the metrics pipe closed"
expect 0 "done at step $((step + 1))" mds-train --resume pipe.mds -o pipe.mds --steps $((step + 1)) --threads 1 \
  --log /dev/null train.mds

# ---- ulimit -f reached by the checkpoint: exit 1 naming it, no temp file -----------
mkdir lim
rc=0
(ulimit -f 4 && exec mds-train "${common[@]}" -o lim/m.mds --steps 1 --log /dev/null train.mds) 2>lim.err || rc=$?
[ "$rc" = 1 ] || fail "ulimit -f: exit $rc, expected 1; $(cat lim.err)"
grep -q "lim/m.mds: write failed: File too large" lim.err || fail "ulimit -f message: $(cat lim.err)"
[ -z "$(ls -A lim)" ] || fail "ulimit -f left files behind: $(ls -A lim)"

# ---- two trainers on one -o: the second fails at start naming the first -------------
mds-train "${common[@]}" -o shared.mds --log first.jsonl train.mds 2>first.err &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT  # a failed check must not leave it training
for _ in $(seq 600); do
  grep -q '"type":"train"' first.jsonl 2>/dev/null && break
  sleep 0.1
done
grep -q '"type":"train"' first.jsonl || fail "the first trainer did not start: $(cat first.err)"
expect 1 "-o shared.mds: another run is writing this file: mds-train, pid $pid on host" \
  mds-train "${common[@]}" -o shared.mds --steps 1 --log second.jsonl train.mds
expect_err "holds the lock shared.mds.lock"
[ ! -s second.jsonl ] || fail "the second trainer trained: $(cat second.jsonl)"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" = 143 ] || fail "the first trainer: exit $status, expected 143; $(cat first.err)"
[ ! -e shared.mds.lock ] || fail "the lock file outlived its run"
expect 0 "done at step" mds-train "${common[@]}" -o shared.mds --steps 1 --log /dev/null train.mds
echo "train_output: all checks passed"
