# Shared scaffolding of the CLI golden tests (tests/cli/*.sh source this file;
# its name does not end in .sh, so CMake does not register it as a test).
# Gives strict mode, a temporary folder $tmp removed on exit, and:
#   fail MESSAGE           report and exit 1
#   run CMD...             run CMD, keep its status in $rc, stdout in $tmp/out, stderr in $tmp/err
#   expect_rc N            the last run exited N
#   expect_out / expect_err TEXT   its stdout / stderr holds the fixed string TEXT
#   expect STATUS TEXT CMD...      run + expect_rc + expect_err in one
#   expect_re STATUS REGEX CMD...  the same with a grep basic regular expression
#   check_help_and_man PROGRAM     --help, the man page and --version agree
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
run() {
  rc=0
  "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
}
expect_rc() { [[ $rc == "$1" ]] || fail "expected exit $1, got $rc (stderr: $(cat "$tmp/err"))"; }
expect_out() { grep -qF -- "$1" "$tmp/out" || fail "stdout lacks '$1': $(cat "$tmp/out")"; }
expect_err() { grep -qF -- "$1" "$tmp/err" || fail "stderr lacks '$1': $(cat "$tmp/err")"; }
# check_run GREP_MODE STATUS TEXT CMD...: the body of expect (-F) and expect_re (-G).
check_run() {
  local mode=$1 want=$2 text=$3
  shift 3
  run "$@"
  [[ $rc == "$want" ]] || fail "'$*' exited $rc, expected $want; stderr: $(cat "$tmp/err")"
  grep -q "$mode" -- "$text" "$tmp/err" || fail "'$*': stderr lacks '$text'; stderr: $(cat "$tmp/err")"
}
expect() { check_run -F "$@"; }
# check_help_and_man PROGRAM: --help has the usage line, every flag it lists is
# in man/PROGRAM.1, and --version names the program.
check_help_and_man() {
  local prog=$1
  "$prog" --help >"$tmp/help.txt" || fail "$prog --help exited $?"
  grep -q "Usage: $prog" "$tmp/help.txt" || fail "$prog --help lacks the usage line"
  sed 's/\\//g' "$MDS_SOURCE_DIR/man/$prog.1" >"$tmp/man.txt"
  local flag
  for flag in $(grep -oE -- '--[a-z][a-z0-9+-]+' "$tmp/help.txt" | sort -u); do
    grep -qF -- "$flag" "$tmp/man.txt" || fail "man/$prog.1 does not document $flag"
  done
  "$prog" --version | grep -q "^$prog " || fail "$prog --version does not name the program"
}
expect_re() { check_run -G "$@"; }
# tiny_model_files STEPS [LOG_EVERY]: in the current folder, the inputs of a
# seconds-long CPU training run: pairs.jsonl (64 bundled QQP pairs), tok.mds
# (320 entries), train.mds (32 + 32 tokens) and run.json (1 layer x 32, 2
# experts top-1, STEPS steps, metrics every LOG_EVERY steps, default 0 = none);
# tiny_train holds the mds-train flags that use them (deterministic CPU backend).
tiny_model_files() {
  local steps=$1 log_every=${2:-0}
  head -n 64 "$MDS_SOURCE_DIR/examples/data/qqp_small.train.jsonl" >pairs.jsonl
  mds-tokenize train -q --vocab-size 320 -o tok.mds pairs.jsonl
  mds-tokenize encode -q -m tok.mds --max-src-len 32 --max-trg-len 32 -o train.mds pairs.jsonl
  cat >run.json <<JSON
{"model": {"embed_dim": 16, "hidden_dim": 32, "layers": 1, "heads": 2, "ffn_dim": 64, "time_embed_dim": 16,
           "time_hidden_dim": 32, "max_src_len": 32, "max_trg_len": 32, "attention_window": 8,
           "moe_experts": 2, "moe_top_k": 1, "diffusion_steps": 100},
 "train": {"steps": $steps, "batch_size": 8, "lr": 0.001, "warmup_steps": 1, "log_every": $log_every,
           "checkpoint_every": 0}}
JSON
  tiny_train=(--config run.json --tokenizer tok.mds --no-progress --device cpu)
}
