#!/usr/bin/env bash
# One tranche of docs/results.md on a GPU machine: the long-document targets of
# examples/Makefile one after the other (each run gets the GPU alone, so runs
# compare at equal time), with a phase log and an nvidia-smi memory trace, then
# the tables (scripts/results-table.py).
#
# Usage: scripts/long-docs-run.sh OUT [TRAIN_SECONDS] [make variables...]
#   OUT            the Makefile's output folder (absolute or relative to here)
#   TRAIN_SECONDS  training budget per run (default 110)
# Needs: a CUDA build in build/ (or MDS=DIR among the make variables), python3
# with torch for the yardstick, nvidia-smi.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -ge 1 ]] || { sed -n '2,12p' "$0"; exit 2; }
out=$(mkdir -p "$1" && cd "$1" && pwd)
seconds=${2:-110}
shift $(( $# >= 2 ? 2 : 1 ))
phases=$out/phases.log memory=$out/mem.csv
: > "$phases"
nvidia-smi --query-gpu=timestamp,memory.used --format=csv,noheader -lms 1000 > "$memory" &
trace=$!
trap 'kill $trace 2>/dev/null' EXIT
phase() { echo "$(date +%s) $*" >> "$phases"; }
m() { make -C "$root/examples" OUT="$out" DEVICE=cuda TRAIN_SECONDS="$seconds" "$@" >> "$out/make.log" 2>&1 ||
      echo "long-docs-run: make $* failed (see $out/make.log)" >&2; }
phase tokenize; m "$out/train.mds" "$out/valid.mds" "$out/test.jsonl"
for c in sumpubmed-4k sumpubmed-4k-dense; do
  phase train $c; m "$out/$c.model.mds"
  phase sample $c; m $c
done
phase torch; m sumpubmed-torch
for c in sumpubmed-4k-nomoe sumpubmed-8k; do
  phase train $c; m "$out/$c.model.mds"
  phase sample $c; m $c
done
phase baselines; m sumpubmed-baselines
phase samplers; m sumpubmed-4k-samplers
phase ood; m sumpubmed-4k-ood
phase done
python3 "$root/scripts/results-table.py" "$out" --phases "$phases" --memory "$memory" \
  --samples sumpubmed-4k --samples sumpubmed-8k --samples torch
