#!/usr/bin/env bash
# Training benchmark (a script, not a test): CPU training throughput of
# mds-train for the tiny config (examples/configs/tiny.json) at packed lengths
# L = 256 and 1,024 on 1 and 2 threads. Every example is exactly L long: the
# sources are long SumPubMed articles cut to L - max_trg_len - 3 tokens.
# Prints a Markdown table: tokens/s counts packed positions (source, specials,
# target region) per second of update time, excluding the first interval.
#
# Usage: scripts/bench-train.sh [BUILD_DIR]   (default: build)
# Env:   MDS_SHARED_DIR (default ../shared), STEPS (default 12), BATCH (default 8),
#        LENGTHS (default "256 1024"), THREADS (default "1 2"), CONFIG (default
#        examples/configs/tiny.json).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:-build}" && pwd)
shared=${MDS_SHARED_DIR:-../shared}
steps=${STEPS:-12}
batch=${BATCH:-8}
lengths=${LENGTHS:-256 1024}
threads_list=${THREADS:-1 2}
data=$shared/data/sumpubmed/train.jsonl.zst
config=${CONFIG:-$PWD/examples/configs/tiny.json}
for need in "$build/mds-train" "$build/mds-tokenize" "$data" "$config"; do
  [[ -e $need ]] || { echo "bench-train: missing $need" >&2; exit 1; }
done
export PATH=$build:$PATH
trg=32
interval=$((steps / 2))

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mds-tokenize train -q --vocab-size 4096 -o "$tmp/tok.mds" "$data"
mds-tokenize encode -q -m "$tmp/tok.mds" -o "$tmp/train.mds" "$data"

echo "mds-train CPU training throughput, tiny config ($(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load $(cut -d' ' -f1 /proc/loadavg))"
echo
echo "| L | threads | batch | tokens/s | s/update | parameters |"
echo "|---:|---:|---:|---:|---:|---:|"
for L in $lengths; do
  src=$((L - trg - 3))
  for threads in $threads_list; do
    log=$tmp/log_${L}_$threads.jsonl
    # OpenBLAS would otherwise use every core for the GEMMs whatever --threads says.
    OPENBLAS_NUM_THREADS=$threads mds-train --config "$config" --tokenizer "$tmp/tok.mds" --set "model.max_src_len=$src" \
      --set "model.max_trg_len=$trg" --steps "$steps" --warmup-steps 0 --batch-size "$batch" --set "train.log_every=$interval" \
      --set train.valid_every=0 --set train.checkpoint_every=0 --threads "$threads" --no-progress \
      --log "$log" -o "$tmp/m.mds" "$tmp/train.mds" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    # The second train line covers updates interval+1..steps (warm caches).
    line=$(grep '"type":"train"' "$log" | sed -n 2p)
    tps=$(echo "$line" | grep -o '"tokens_per_s":[0-9.e+-]*' | cut -d: -f2)
    eps=$(echo "$line" | grep -o '"examples_per_s":[0-9.e+-]*' | cut -d: -f2)
    params=$(grep -o '"parameters":[0-9]*' "$log" | head -1 | cut -d: -f2)
    awk -v L="$L" -v t="$threads" -v b="$batch" -v tps="$tps" -v eps="$eps" -v p="$params" \
      'BEGIN { printf "| %d | %d | %d | %.0f | %.3f | %d |\n", L, t, b, tps, b / eps, p }'
  done
done
