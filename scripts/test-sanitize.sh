#!/usr/bin/env bash
# The CPU test suite built with AddressSanitizer + UndefinedBehaviorSanitizer
# (clang, build-asan/, no CUDA), then a short run of every libFuzzer target of
# tests/fuzz on its seed corpus, two at a time on two cores. Any sanitizer
# report, test failure or fuzzer finding fails the script; a fuzzer's crashing
# input is kept in build-asan/fuzz-artifacts/. CI runs it last (.ci/run).
# One test is left out of the sanitized run: TrainRealModel.TinyModelOverfits-
# SixtyFourPairs, a 300-step convergence check of the code that
# TrainRealModel.ResumeIsBitIdentical runs under the sanitizers; the plain suite
# (scripts/test.sh) runs it (docs/reliability.md, "Sanitizer build").
# MDS_SANITIZE_ALL=1 runs it too.
# Usage: scripts/test-sanitize.sh [SECONDS_PER_FUZZER]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
start=$(date +%s)
MDS_SETUP_FUZZ=1 scripts/setup.sh --packages-only
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DMDS_CUDA=OFF -DMDS_SANITIZE=ON -DMDS_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >&2
cmake --build build-asan -j"$jobs" >&2
built=$(date +%s)

# Leaks are findings too; UBSan aborts with a stack (-fno-sanitize-recover).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
skip=()
[[ ${MDS_SANITIZE_ALL:-0} == 1 ]] || skip=(-E '^TrainRealModel\.TinyModelOverfitsSixtyFourPairs$')
ctest --test-dir build-asan --output-on-failure -j"$jobs" "${skip[@]}"
tested=$(date +%s)

corpus=build-asan/fuzz-corpus
artifacts=build-asan/fuzz-artifacts
rm -rf "$corpus"
mkdir -p "$artifacts"
tests/fuzz/make-corpus.sh build-asan "$corpus" >&2
fuzz() {  # fuzz NAME: one target for $seconds s on its seeds; its log in build-asan/NAME.log
  local name=$1 extra=()
  # The CLI target's --help and error texts would flood the log.
  [[ $name == fuzz_cli ]] && extra=(-close_fd_mask=3)
  "build-asan/$name" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" "${extra[@]}" "$corpus/${name#fuzz_}" 2>"build-asan/$name.log"
}
report() {  # report NAME STATUS: the figures, or the finding and its input
  local name=$1 status=$2 log=build-asan/$1.log execs units secs
  if ((status != 0)); then
    tail -n 60 "$log" >&2
    echo "test-sanitize: $name found a fault: $artifacts" >&2
    return 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  units=$(sed -n 's/^stat::new_units_added: *//p' "$log")
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log")
  echo "test-sanitize: $name: ${execs:-?} executions, ${units:-?} new units, ${secs:-?} s" >&2
}
names=() pids=() failed=0
for fuzzer in build-asan/fuzz_*; do
  [[ -x $fuzzer && -f $fuzzer ]] || continue
  names+=("$(basename "$fuzzer")")
done
for ((i = 0; i < ${#names[@]}; i += jobs)); do
  pids=()
  for name in "${names[@]:i:jobs}"; do
    echo "test-sanitize: $name for ${seconds}s" >&2
    fuzz "$name" &
    pids+=($!)
  done
  for ((k = 0; k < ${#pids[@]}; ++k)); do
    status=0
    wait "${pids[k]}" || status=$?
    report "${names[i + k]}" "$status" || failed=1
  done
done
end=$(date +%s)
echo "test-sanitize: build $((built - start)) s, sanitized tests $((tested - built)) s, fuzzers $((end - tested)) s" >&2
exit "$failed"
