#!/usr/bin/env bash
# Reproduces the pretrained model shipped in examples/models/ (issue 10):
#   1. a 4,096-entry byte-level BPE tokenizer trained on the bundled QQP
#      training pairs (examples/data/qqp_small.train.jsonl, 2,000 pairs);
#   2. the splits encoded with the config's limits (64 source, 48 target tokens);
#   3. mds-train with --config (default examples/configs/qqp-paraphrase.json:
#      8.8M parameters, 6 layers x 256, 4 experts top-2; 6,000 steps of 128
#      pairs, 139 s on an H100) on --device (default auto: the GPU);
#   4. the EMA weights exported as a bf16 sampling checkpoint
#      (mds-inspect --export-sampling), sampled on the 100 test sources with
#      DPM-Solver++ (10 steps, seed 1) and scored (ROUGE, BLEU, DiffuSeq's
#      metrics), beside the copy-the-source baseline;
#   5. the export written again with that record in its metadata
#      (meta.export.about: data and hashes, config, steps, training time,
#      device, scores), to --out.
# The scores are measured twice: with the CPU backend (what scripts/demo.sh
# reproduces on any machine) and with the training device's backend.
#
# Usage: scripts/train-shipped-model.sh [--bin DIR] [--out FILE] [--work DIR]
#          [--config FILE] [--device NAME] [--steps N] [--warmup-steps N] [--max-seconds S] [--resume]
#   --bin DIR         folder with the mds tools (default build/)
#   --out FILE        the sampling checkpoint to write (default examples/models/qqp-paraphrase.mds)
#   --config FILE     model and training config (default examples/configs/qqp-paraphrase.json)
#   --work DIR        where the tokenizer, shards, training checkpoint and logs go (default: a temp folder)
#   --resume          continue the run whose files are in --work (its tokenizer, shards and checkpoint;
#                     --steps may extend or shorten the schedule) instead of starting afresh
#   --max-seconds S   stop training after S seconds of wall time (SIGINT: mds-train saves and stops), 0 = no limit
# Needs python3 (to assemble the metadata record) and sha256sum.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build
out=examples/models/qqp-paraphrase.mds
work=""
device=auto
steps=""
warmup=""
max_seconds=0
config=examples/configs/qqp-paraphrase.json
resume=0
while (($#)); do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup-steps) warmup=$2; shift 2 ;;
    --max-seconds) max_seconds=$2; shift 2 ;;
    --resume) resume=1; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "train-shipped-model: unknown argument $1" >&2; exit 2 ;;
  esac
done
for t in mds-tokenize mds-train mds-sample mds-eval mds-inspect; do
  [[ -x $bin/$t ]] || { echo "train-shipped-model: $bin/$t not found (build first: scripts/setup.sh)" >&2; exit 1; }
done
export PATH="$PWD/$bin:$PATH"
[[ -n $work ]] || work=$(mktemp -d)
mkdir -p "$work"
data=examples/data
log() { echo "[$(date +%H:%M:%S)] train-shipped-model: $*" >&2; }

if ((resume)); then
  [[ -f $work/model.mds ]] || { echo "train-shipped-model: --resume: no $work/model.mds" >&2; exit 2; }
else
  log "tokenizer and shards in $work"
  mds-tokenize train --vocab-size 4096 -o "$work/tok.mds" "$data/qqp_small.train.jsonl"
  for split in train valid test; do
    mds-tokenize encode -m "$work/tok.mds" --max-src-len 64 --max-trg-len 48 \
      -o "$work/$split.mds" "$data/qqp_small.$split.jsonl"
  done
  rm -f "$work/train.log.jsonl"
fi

log "training ($config, device $device)"
train_args=(--config "$config" --tokenizer "$work/tok.mds" --valid "$work/valid.mds" --device "$device"
            --log "$work/train.log.jsonl" --no-progress -o "$work/model.mds")
((resume)) && train_args+=(--resume "$work/model.mds")
[[ -n $steps ]] && train_args+=(--steps "$steps")
[[ -n $warmup ]] && train_args+=(--warmup-steps "$warmup")
status=0
if ((max_seconds > 0)); then
  timeout -s INT "$max_seconds" mds-train "${train_args[@]}" "$work/train.mds" || status=$?
  # 124: the time limit's SIGINT reached mds-train, which saved and stopped (130 when it reports the signal).
  if ((status != 0 && status != 124 && status != 130)); then exit "$status"; fi
else
  mds-train "${train_args[@]}" "$work/train.mds"
fi

gpu_name=""
if command -v nvidia-smi >/dev/null 2>&1; then gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 || true); fi

score() {  # model device tag
  local model=$1 dev=$2 tag=$3
  mds-sample -m "$model" --solver dpm++ --steps 10 --seed 1 --device "$dev" --threads 2 \
    --meta "$work/sample.$tag.meta.json" < "$data/qqp_small.test.jsonl" > "$work/test.$tag.hyp.jsonl"
  mds-eval rouge < "$work/test.$tag.hyp.jsonl" > "$work/rouge.$tag.json"
  mds-eval bleu < "$work/test.$tag.hyp.jsonl" > "$work/bleu.$tag.json"
  mds-eval diffuseq < "$work/test.$tag.hyp.jsonl" > "$work/diffuseq.$tag.json"
}

log "export, sample the test split, score"
mds-inspect "$work/model.mds" --export-sampling "$work/export.mds"
score "$work/export.mds" cpu cpu
trained_on=$(mds-inspect --json "$work/export.mds" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["units"][0]["meta"]["provenance"]["device"])')
if [[ $trained_on == cuda* ]]; then score "$work/export.mds" "$trained_on" gpu; fi
mds-eval rouge --hyp-field src < "$data/qqp_small.test.jsonl" > "$work/rouge.copy.json"
mds-eval bleu --hyp-field src < "$data/qqp_small.test.jsonl" > "$work/bleu.copy.json"
mds-eval diffuseq --hyp-field src < "$data/qqp_small.test.jsonl" > "$work/diffuseq.copy.json"

python3 - "$work" "$config" "$gpu_name" "$trained_on" > "$work/about.json" <<'PY'
import hashlib, json, os, sys
work, config, gpu, trained_on = sys.argv[1:5]
def load(name):
    p = os.path.join(work, name)
    return json.load(open(p)) if os.path.exists(p) else None
def scores(tag):
    r, b, d = load(f"rouge.{tag}.json"), load(f"bleu.{tag}.json"), load(f"diffuseq.{tag}.json")
    if r is None: return None
    return {"rouge1_f": r["mean"]["rouge1"]["fmeasure"], "rouge2_f": r["mean"]["rouge2"]["fmeasure"],
            "rougeL_f": r["mean"]["rougeL"]["fmeasure"], "sacrebleu": b["bleu"]["score"],
            "chrf": b["chrf"]["score"], "diffuseq_bleu": d["hyp"]["avg_bleu"], "diffuseq_rougeL": d["hyp"]["avg_rougeL"],
            "empty_hyps": sum(1 for l in open(os.path.join(work, f"test.{tag}.hyp.jsonl")) if not json.loads(l).get("hyp", "").strip())}
def sha(p): return hashlib.sha256(open(p, "rb").read()).hexdigest()
log = [json.loads(l) for l in open(os.path.join(work, "train.log.jsonl")) if l.strip()]
end = [e for e in log if e.get("type") == "end"]
valid = [e for e in log if e.get("type") == "valid"]
data = {f"examples/data/qqp_small.{s}.jsonl": sha(f"examples/data/qqp_small.{s}.jsonl") for s in ("train", "valid", "test")}
about = {
  "what": "MoE-DiffuSeq paraphrase model trained on the bundled QQP pairs (scripts/train-shipped-model.sh)",
  "data": {"train": "examples/data/qqp_small.train.jsonl (2,000 pairs)", "valid": "examples/data/qqp_small.valid.jsonl",
           "test": "examples/data/qqp_small.test.jsonl (100 pairs)", "sha256": data,
           "encode": "mds-tokenize train --vocab-size 4096; encode --max-src-len 64 --max-trg-len 48"},
  "config": config,
  "config_sha256": sha(config),
  "training": {"device": trained_on, "gpu": gpu, "steps": end[-1]["step"] if end else None,
               "wall_seconds": round(sum(e["elapsed_s"] for e in end), 1) if end else None,
               "segments": len(end),
               "tokens": end[-1].get("tokens") if end else None,
               "stopped_by_signal": end[-1].get("signal") if end else None,
               "last_valid": {k: v for k, v in valid[-1].items() if not isinstance(v, (list, dict))} if valid else None},
  "test_scores": {"sampler": "mds-sample --solver dpm++ --steps 10 --seed 1 (MBR off), 100 test sources",
                  "cpu_backend": scores("cpu"), "training_device_backend": scores("gpu")},
}
r, b, d = load("rouge.copy.json"), load("bleu.copy.json"), load("diffuseq.copy.json")
about["test_scores"]["copy_source_baseline"] = {"rouge1_f": r["mean"]["rouge1"]["fmeasure"], "rouge2_f": r["mean"]["rouge2"]["fmeasure"],
  "rougeL_f": r["mean"]["rougeL"]["fmeasure"], "sacrebleu": b["bleu"]["score"], "chrf": b["chrf"]["score"],
  "diffuseq_bleu": d["hyp"]["avg_bleu"], "diffuseq_rougeL": d["hyp"]["avg_rougeL"]}
json.dump(about, sys.stdout, indent=1)
PY
mkdir -p "$(dirname "$out")"
mds-inspect "$work/model.mds" --export-sampling "$out" --export-about "$work/about.json"
cat "$work/about.json" >&2
log "wrote $out ($(stat -c %s "$out") bytes)"
