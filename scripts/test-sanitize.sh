#!/usr/bin/env bash
# The CPU test suite built with AddressSanitizer + UndefinedBehaviorSanitizer
# (clang, build-asan/, no CUDA), then a short run of every libFuzzer target of
# tests/fuzz on its seed corpus. Any sanitizer report, test failure or fuzzer
# finding fails the script; a fuzzer's crashing input is kept in
# build-asan/fuzz-artifacts/. Not yet part of CI (.ci/run): issue 14.
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
ctest --test-dir build-asan --output-on-failure -j"$jobs"
tested=$(date +%s)

corpus=build-asan/fuzz-corpus
artifacts=build-asan/fuzz-artifacts
rm -rf "$corpus"
mkdir -p "$artifacts"
tests/fuzz/make-corpus.sh build-asan "$corpus" >&2
for fuzzer in build-asan/fuzz_*; do
  [[ -x $fuzzer && -f $fuzzer ]] || continue
  name=$(basename "$fuzzer")
  extra=()
  # The CLI target's --help and error texts would flood the log.
  [[ $name == fuzz_cli ]] && extra=(-close_fd_mask=3)
  echo "test-sanitize: $name for ${seconds}s" >&2
  "$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$name-" "${extra[@]}" "$corpus/${name#fuzz_}" 2>"build-asan/$name.log" ||
    { tail -n 60 "build-asan/$name.log" >&2; echo "test-sanitize: $name found a fault: $artifacts" >&2; exit 1; }
  grep -E '^stat::(number_of_executed_units|new_units_added)|^#[0-9]+ +DONE' "build-asan/$name.log" >&2 || true
done
end=$(date +%s)
echo "test-sanitize: build $((built - start)) s, sanitized tests $((tested - built)) s, fuzzers $((end - tested)) s" >&2
