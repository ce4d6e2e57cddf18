#!/usr/bin/env bash
# Benchmark of mds-sample: speed and quality of each sampler on a held-back
# split of a bundled data set (default examples/data/qqp_small: train on its
# train split, generate for its test split).
#
# Unless --model is given, it first trains a model (on --device):
# - mds-tokenize trains a tokenizer (--vocab-size, default 4000) and encodes the train split;
# - mds-train runs --config (default examples/configs/tiny.json) for --train-steps steps
#   (default 3000), or for --train-seconds of wall-clock time (SIGTERM: mds-train writes
#   its checkpoint and stops), which compares trainers at equal GPU time.
# --train FILE / --test FILE replace the bundled data set's splits (JSONL, {"src","trg"}).
#
# Then, for each sampler (ddpm 2000, ddpm 200, dpm++ 10, dpm++ 20 by default), it
# runs mds-sample on the test split and reports:
# - seconds per example;
# - denoising-step tokens per second: batch rows x packed length per model call,
#   over the whole generation time and over the time inside the network alone;
# - DiffuSeq's BLEU (sentence BLEU-4, smoothing method 4, averaged; `mds-eval diffuseq`)
#   and ROUGE-L F (`mds-eval rouge`) against the references.
#
# Prints a Markdown table; the machine and load are printed above it.
#
# Usage: scripts/bench-sample.sh [--build DIR] [--data NAME] [--train FILE] [--test FILE] [--model CKPT]
#          [--config FILE] [--vocab-size N] [--train-steps N] [--train-seconds S] [--max-src-len N]
#          [--max-trg-len N] [--limit N] [--threads N] [--batch-size N] [--device NAME]
#          [--samplers "ddpm:2000 dpm++:10 ..."] [--keep DIR]
# Needs python3 (to read the JSON summaries).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build
data=qqp_small
model=""
train_steps=3000
limit=0
threads=0
batch=50
device=cpu
config=examples/configs/tiny.json
vocab=4000
train_seconds=0
max_src=64
max_trg=32
train_file=""
test_file=""
samplers="ddpm:2000 ddpm:200 dpm++:10 dpm++:20"
keep=""
while (($#)); do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    --train-steps) train_steps=$2; shift 2 ;;
    --train-seconds) train_seconds=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --vocab-size) vocab=$2; shift 2 ;;
    --max-src-len) max_src=$2; shift 2 ;;
    --max-trg-len) max_trg=$2; shift 2 ;;
    --train) train_file=$2; shift 2 ;;
    --test) test_file=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --samplers) samplers=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "bench-sample: unknown argument $1" >&2; exit 2 ;;
  esac
done
build=$(cd "$build" && pwd)
for b in mds-tokenize mds-train mds-sample mds-eval; do
  [[ -x $build/$b ]] || { echo "bench-sample: $build/$b not found; build first" >&2; exit 1; }
done
abspath() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
train="$root/examples/data/$data.train.jsonl"
test="$root/examples/data/$data.test.jsonl"
[[ -n $train_file ]] && train=$(abspath "$train_file") && data=$(basename "$train_file")
[[ -n $test_file ]] && test=$(abspath "$test_file")
[[ -r $train && -r $test ]] || { echo "bench-sample: cannot read $train or $test" >&2; exit 1; }
config=$(abspath "$config")
command -v python3 > /dev/null || { echo "bench-sample: python3 is needed" >&2; exit 1; }
[[ -n $model ]] && model=$(cd "$(dirname "$model")" && pwd)/$(basename "$model")

if [[ -n $keep ]]; then
  mkdir -p "$keep"
  tmp=$(cd "$keep" && pwd)
else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
fi
cd "$tmp"
now() { date +%s.%N; }
since() { awk -v a="$(now)" -v b="$1" 'BEGIN { printf "%.1f", a - b }'; }

if ((limit > 0)); then head -n "$limit" "$test" > test.jsonl; else cp "$test" test.jsonl; fi
examples=$(wc -l < test.jsonl)

if [[ -z $model ]]; then
  start=$(now)
  "$build/mds-tokenize" train -q --vocab-size "$vocab" -o tok.mds "$train"
  "$build/mds-tokenize" encode -q -m tok.mds --max-src-len "$max_src" --max-trg-len "$max_trg" -o train.mds "$train"
  budget=()
  ((train_seconds > 0)) && budget=(timeout --preserve-status -s TERM "$train_seconds")
  status=0
  "${budget[@]}" "$build/mds-train" --config "$config" --tokenizer tok.mds -o model.mds \
    --steps "$train_steps" --set train.log_every=100 --set train.valid_every=0 --set train.checkpoint_every=0 \
    --threads "$threads" --device "$device" --no-progress --log train.log train.mds 2> train.err || status=$?
  # 143: stopped by the time budget's SIGTERM, after writing the checkpoint.
  if ((status != 0 && status != 143)); then echo "bench-sample: mds-train failed ($status): $(cat train.err)" >&2; exit 1; fi
  model=$tmp/model.mds
  steps_done=$(grep -o '"step":[0-9]*' train.log | tail -1 | cut -d: -f2 || true)
  trained="trained here: $(basename "$config"), ${steps_done:-?} steps (last logged) on $(wc -l < "$train") pairs in $(since "$start") s on $device"
else
  trained="given: $model"
fi

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
echo "mds-sample benchmark: $examples held-back examples of $data (test split), model $trained"
echo "device $device, threads $threads (0 = all), batch size $batch; machine: $(nproc) cores, ${cpu_model:-unknown CPU}; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| sampler | steps | s / example | denoising-step tokens/s (whole step) | (network alone) | BLEU (DiffuSeq) | ROUGE-L F |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for spec in $samplers; do
  solver=${spec%%:*} steps=${spec##*:}
  tag="${solver/++/pp}_$steps"
  "$build/mds-sample" -m "$model" --solver "$solver" --steps "$steps" --batch-size "$batch" --threads "$threads" \
    --device "$device" -q --meta "$tag.meta.json" test.jsonl > "$tag.jsonl"
  "$build/mds-eval" diffuseq "$tag.jsonl" > "$tag.diffuseq.json"
  "$build/mds-eval" rouge --no-bootstrap "$tag.jsonl" > "$tag.rouge.json"
  python3 - "$tag" "$solver" "$steps" <<'PY'
import json, sys
tag, solver, steps = sys.argv[1:4]
meta = json.load(open(tag + ".meta.json"))
st = meta["stats"]
bleu = json.load(open(tag + ".diffuseq.json"))["hyp"]["avg_bleu"]
rl = json.load(open(tag + ".rouge.json"))["mean"]["rougeL"]["fmeasure"]
whole = st["denoised_tokens"] / st["generate_seconds"]
print(f"| {solver} | {steps} | {st['seconds_per_record']:.4f} | {whole:,.0f} | "
      f"{st['denoised_tokens_per_second']:,.0f} | {bleu:.4f} | {rl:.4f} |")
PY
done
# The copy baseline (docs/design.md §7): the source itself as the hypothesis.
python3 -c 'import json,sys
for l in open(sys.argv[1]):
    if l.strip():
        r = json.loads(l); r["hyp"] = r["src"]; print(json.dumps(r, ensure_ascii=False))' test.jsonl > copy.jsonl
"$build/mds-eval" diffuseq copy.jsonl > copy.diffuseq.json
"$build/mds-eval" rouge --no-bootstrap copy.jsonl > copy.rouge.json
python3 - <<'PY'
import json
bleu = json.load(open("copy.diffuseq.json"))["hyp"]["avg_bleu"]
rl = json.load(open("copy.rouge.json"))["mean"]["rougeL"]["fmeasure"]
print(f"| copy the source (baseline) | — | — | — | — | {bleu:.4f} | {rl:.4f} |")
PY
echo
echo "s / example: mds-sample's wall time over the records. Denoising-step tokens/s: packed tokens (batch rows x"
echo "packed length) per model call, summed over calls, over the generation time (whole step: network, solver,"
echo "rounding, decode) or over the time inside the network alone."
