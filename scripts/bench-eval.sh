#!/usr/bin/env bash
# Benchmark of `mds-eval rouge`: the first 1,000 pairs of
# shared/data/sumpubmed/train.jsonl.zst, reference = the abstract (trg),
# hypothesis = the first 300 words of the body (src, whitespace words joined
# by single spaces); ROUGE-1/2/L/Lsum with --stem, on 1 and 2 threads.
# Prints a Markdown table of pairs/s: "scoring" is mds-eval's own timing of
# the scoring phase (--timing, bootstrap off), "end to end" is the wall time
# of the whole process with the default bootstrap (1000 resamples) and JSON
# reading. Each figure is the best of --repeat runs (default 5).
#
# Usage: scripts/bench-eval.sh [--build DIR] [--shared DIR] [--repeat N] [--threads "1 2"]
# Needs python3 (to cut the first 300 words) and zstd.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
shared="${MDS_SHARED_DIR:-../shared}"
repeat=5
threads_list="1 2"
while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --shared) shared=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --threads) threads_list=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench-eval: unknown argument $1" >&2; exit 2 ;;
  esac
done
bin="$build/mds-eval"
data="$shared/data/sumpubmed/train.jsonl.zst"
[[ -x $bin ]] || { echo "bench-eval: $bin not found; build first (cmake --build $build --target mds-eval)" >&2; exit 1; }
[[ -r $data ]] || { echo "bench-eval: $data not readable" >&2; exit 1; }
command -v python3 > /dev/null || { echo "bench-eval: python3 is needed" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
input="$tmp/pairs.jsonl"
# zstd dies of SIGPIPE once head has its 1000 lines: that is expected.
{ zstd -dc "$data" 2> /dev/null || true; } | head -n 1000 > "$tmp/raw.jsonl"
python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    print(json.dumps({"hyp": " ".join(d["src"].split()[:300]), "trg": d["trg"]}))
' < "$tmp/raw.jsonl" > "$input"
pairs=$(wc -l < "$input")

now() { date +%s.%N; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "mds-eval rouge benchmark: $pairs pairs (sumpubmed train, hyp = first 300 words of src, ref = trg)"
echo "types rouge1,rouge2,rougeL,rougeLsum, --stem; machine: $(nproc) cores, ${cpu_model:-unknown CPU}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| threads | scoring s | scoring pairs/s | scoring CPU s | end-to-end s (bootstrap 1000) | end-to-end pairs/s |"
echo "|---:|---:|---:|---:|---:|---:|"
for t in $threads_list; do
  best_score="" best_wall="" best_cpu=""
  for ((r = 0; r < repeat; ++r)); do
    "$bin" rouge --stem --no-bootstrap --threads "$t" --timing "$input" > "$tmp/out.json" 2> "$tmp/err"
    s=$(sed -n 's/.* in \([0-9.]*\) s .*/\1/p' "$tmp/err")
    c=$(sed -n 's/.*, \([0-9.]*\) s CPU$/\1/p' "$tmp/err")
    start=$(now)
    "$bin" rouge --stem --threads "$t" "$input" > "$tmp/full.json"
    w=$(awk -v a="$(now)" -v b="$start" 'BEGIN { printf "%.6f", a - b }')
    if [[ -z $best_score ]] || lt "$s" "$best_score"; then best_score=$s; fi
    if [[ -z $best_wall ]] || lt "$w" "$best_wall"; then best_wall=$w; fi
    if [[ -z $best_cpu ]] || lt "$c" "$best_cpu"; then best_cpu=$c; fi
  done
  awk -v t="$t" -v s="$best_score" -v c="$best_cpu" -v w="$best_wall" -v n="$pairs" \
    'BEGIN { printf "| %s | %.3f | %.0f | %.3f | %.3f | %.0f |\n", t, s, n / s, c, w, n / w }'
done
echo
echo "Yardstick: rouge-score (Python) takes 56 s for this set on one core (18 pairs/s)."
