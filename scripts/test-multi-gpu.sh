#!/usr/bin/env bash
# The NCCL half of data-parallel training (docs/distributed.md), for a machine
# with 2 or more GPUs: the three checks CI runs on the in-process
# communicator, now with NCCL through mds-train --gpus, and the scaling
# target. Writes a log and a Markdown table to --out.
#   A. 2 GPUs reproduce 1 GPU's loss curve at equal global batch (grad_accum 4, 20 steps, cuda-f32);
#   B. ZeRO-1 (--zero 1) matches plain data parallelism on 2 GPUs;
#   C. 10 steps on 2 GPUs with ZeRO-1, resumed for 10 more on 1 GPU, against 20 straight on 1 GPU;
#   D. scaling: tokens/s of the sumpubmed-4k config on 2 GPUs against 1 (target >= 0.9 x 2), when
#      --long-shard is given (a shard of 4,096-token sources, with its tokenizer).
# The GPU embedding gradient sums with float atomics, so runs differ in the last bits even on one GPU:
# the curves must agree to 1% (the first steps far closer); the script prints the largest difference.
#
# Usage: scripts/test-multi-gpu.sh [--bin DIR] [--out DIR] [--pairs JSONL(.zst)] [--long-shard SHARD --long-tokenizer TOK]
#        [--steps N]   (scaling steps per run, default 40)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/build"
out=""
pairs="$root/../shared/data/qqp_diffuseq/train.jsonl.zst"
long_shard="" long_tok=""
steps=40
while (($#)); do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --pairs) pairs=$2; shift 2 ;;
    --long-shard) long_shard=$2; shift 2 ;;
    --long-tokenizer) long_tok=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "test-multi-gpu: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $bin/mds-train ]] || { echo "test-multi-gpu: $bin/mds-train not found" >&2; exit 1; }
gpus=$(nvidia-smi -L 2>/dev/null | wc -l)
((gpus >= 2)) || { echo "test-multi-gpu: needs 2 GPUs, found $gpus" >&2; exit 1; }
[[ -n $out ]] || out=$(mktemp -d)
mkdir -p "$out"
cd "$out"
export PATH="$bin:$PATH" NCCL_NVLS_ENABLE=0
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/log.txt" >&2; }

# ---- data and a small config --------------------------------------------------
if [[ $pairs == *.zst ]]; then zstd -dc "$pairs"; else cat "$pairs"; fi | head -n 512 >pairs.jsonl
mds-tokenize train -q --vocab-size 2000 -o tok.mds pairs.jsonl
mds-tokenize encode -q -m tok.mds --max-src-len 64 --max-trg-len 64 -o train.mds pairs.jsonl
cat >small.json <<'JSON'
{"model": {"embed_dim": 64, "hidden_dim": 256, "layers": 4, "heads": 4, "ffn_dim": 1024, "time_embed_dim": 64,
           "time_hidden_dim": 256, "max_src_len": 64, "max_trg_len": 64, "attention_window": 16,
           "moe_experts": 4, "moe_top_k": 2, "diffusion_steps": 2000, "dropout": 0.1},
 "train": {"steps": 20, "batch_size": 16, "grad_accum": 4, "lr": 0.0005, "lr_schedule": "constant",
           "warmup_steps": 5, "log_every": 1, "valid_every": 0, "checkpoint_every": 0, "seed": 3}}
JSON
common=(--config small.json --tokenizer tok.mds --device cuda-f32 --no-progress train.mds)

compare() {  # compare NAME A.jsonl B.jsonl: prints and checks the largest relative difference
  python3 - "$@" <<'PY' | tee -a "$out/log.txt"
import json, sys
name, a, b = sys.argv[1:4]
la = [json.loads(l)["loss"] for l in open(a) if l.strip() and json.loads(l).get("type") == "train"]
lb = [json.loads(l)["loss"] for l in open(b) if l.strip() and json.loads(l).get("type") == "train"]
assert len(la) == len(lb) and la, f"{name}: {len(la)} vs {len(lb)} train lines"
d = [abs(x - y) / abs(x) for x, y in zip(la, lb)]
print(f"{name}: {len(la)} steps, largest relative loss difference {max(d):.2e} (step {d.index(max(d)) + 1}), "
      f"first step {d[0]:.2e}: {'ok' if max(d) < 1e-2 else 'FAILED'}")
sys.exit(0 if max(d) < 1e-2 else 1)
PY
}
status=0
log "A. 1 GPU against 2 GPUs"
mds-train --gpus 1 "${common[@]}" -o a1.mds --log a1.jsonl
mds-train --gpus 2 "${common[@]}" -o a2.mds --log a2.jsonl
compare "A: 2 GPUs vs 1" a1.jsonl a2.jsonl || status=1
log "B. ZeRO-1 against plain data parallelism"
mds-train --gpus 2 --zero 1 "${common[@]}" -o b.mds --log b.jsonl
compare "B: ZeRO-1 vs plain, 2 GPUs" a2.jsonl b.jsonl || status=1
log "C. 10 steps on 2 GPUs (ZeRO-1), resumed on 1"
mds-train --gpus 2 --zero 1 "${common[@]}" --steps 10 -o c.mds --log c.jsonl
mds-train --gpus 1 --resume c.mds --device cuda-f32 --no-progress train.mds --steps 20 -o c.mds --log c.jsonl
compare "C: 2 GPUs (ZeRO) -> 1 GPU vs 1 GPU" a1.jsonl c.jsonl || status=1

# ---- D. scaling -----------------------------------------------------------------------
if [[ -n $long_shard ]]; then
  [[ -n $long_tok ]] || { echo "test-multi-gpu: --long-shard needs --long-tokenizer" >&2; exit 2; }
  cfg="$root/examples/configs/sumpubmed-4k.json"
  scale=(--config "$cfg" --tokenizer "$long_tok" --device cuda --no-progress --steps "$steps"
         --set train.log_every=5 --set train.valid_every=0 --set train.checkpoint_every=0 --grad-accum 2 "$long_shard")
  log "D. scaling, sumpubmed-4k, $steps steps, grad_accum 2 (one micro-batch per GPU per update on 2 GPUs)"
  mds-train --gpus 1 "${scale[@]}" -o d1.mds --log d1.jsonl
  mds-train --gpus 2 "${scale[@]}" -o d2.mds --log d2.jsonl
  python3 - d1.jsonl d2.jsonl <<'PY' | tee -a "$out/log.txt"
import json, sys
def rate(f):
    lines = [json.loads(l) for l in open(f) if l.strip() and json.loads(l).get("type") == "train"]
    lines = lines[1:] or lines  # the first interval holds the warm-up
    return sum(l["tokens_per_s"] for l in lines) / len(lines)
one, two = rate(sys.argv[1]), rate(sys.argv[2])
print(f"D: tokens/s 1 GPU {one:,.0f}, 2 GPUs {two:,.0f}: {two / one:.2f}x (target >= 1.80x): "
      f"{'ok' if two >= 1.8 * one else 'below target'}")
PY
fi
nvidia-smi -L >>"$out/log.txt"
log "done: $out/log.txt"
exit $status
