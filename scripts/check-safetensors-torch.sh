#!/usr/bin/env bash
# Checks that a model leaving mds as safetensors computes the same thing in
# PyTorch: exports CHECKPOINT with mds-inspect --export-safetensors (f32 and,
# for a training checkpoint, the EMA), saves one forward pass of mds's own
# denoiser with forward_reference, and compares it with the PyTorch
# implementation in check-safetensors-torch.py. Without CHECKPOINT it trains
# a tiny MoE model on the CPU first (a few seconds).
#
# Usage: scripts/check-safetensors-torch.sh [CHECKPOINT] [--device cpu|cuda|cuda-f32]
# Needs: a build in build/ (mds-inspect, mds-train, mds-tokenize, forward_reference)
# and python3 with torch. Exit status: 0 when the two agree.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MDS_BUILD_DIR:-$root/build}
ckpt= device=cpu
while (($#)); do
  case $1 in
    --device) device=$2; shift 2 ;;
    *) ckpt=$1; shift ;;
  esac
done
python3 -c "import torch" 2>/dev/null || { echo "check-safetensors-torch: python3 with torch is needed" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -z $ckpt ]]; then
  head -n 200 "$root/examples/data/qqp_small.train.jsonl" >"$work/pairs.jsonl"
  "$bin/mds-tokenize" train -q --vocab-size 400 -o "$work/tok.mds" "$work/pairs.jsonl"
  "$bin/mds-tokenize" encode -q -m "$work/tok.mds" --max-src-len 24 --max-trg-len 16 -o "$work/train.mds" \
    "$work/pairs.jsonl"
  # Two layers (dense, then MoE top-2 with a capacity), two dilations, strided globals.
  cat >"$work/run.json" <<'JSON'
{"model": {"embed_dim": 16, "hidden_dim": 32, "layers": 2, "heads": 2, "ffn_dim": 48, "time_embed_dim": 16,
           "time_hidden_dim": 32, "max_src_len": 24, "max_trg_len": 16, "attention_window": 3,
           "attention_dilation": [1, 2], "global_source_stride": 5, "moe_experts": 3, "moe_top_k": 2,
           "moe_every": 2, "moe_capacity_factor": 1.0, "diffusion_steps": 100, "dropout": 0.0},
 "train": {"steps": 20, "batch_size": 16, "lr": 0.003, "warmup_steps": 1, "log_every": 0, "checkpoint_every": 0}}
JSON
  "$bin/mds-train" --config "$work/run.json" --tokenizer "$work/tok.mds" --no-progress --device cpu \
    -o "$work/model.mds" "$work/train.mds" 2>/dev/null
  ckpt=$work/model.mds
fi
if "$bin/mds-inspect" --json "$ckpt" | grep -q '"export"'; then ema=(); else ema=(--export-ema); fi
"$bin/mds-inspect" "$ckpt" --export-safetensors "$work/model.safetensors" --export-dtype f32 "${ema[@]}"
"$bin/forward_reference" "$ckpt" "$work/reference.safetensors" --device "$device"
# bf16 tensor-core products on the GPU agree less closely than f32 ones.
tol=1e-4
[[ $device == cuda ]] && tol=3e-2
python3 "$root/scripts/check-safetensors-torch.py" "$work/model.safetensors" "$work/reference.safetensors" --tol "$tol"
