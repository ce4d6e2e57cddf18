#!/usr/bin/env bash
# GPU benchmark: mds against the PyTorch yardstick (docs/design.md §7) in one run,
# on the same card, at the §7 shapes (tokens per batch 32,768; 12 layers,
# H = 768, 12 heads, 8 experts top-2, F = 3072, window 256 per side, 16
# global tokens, vocabulary 32,768, d_emb 128):
#   - training step, sliding window + MoE, at L = 1k, 4k, 16k, 32k;
#   - denoising step (forward, EMA weights), sliding window + MoE, at L = 1k, 4k, 16k;
#   - training step, dense attention + dense FFN (DiffuSeq), at L = 1k, 4k.
# mds runs the `bench_model` program (scripts/bench_model.cpp) on the "cuda"
# backend; PyTorch runs ../shared/bench/torch_reference.py (bf16 autocast,
# torch.compile). The measured bf16 GEMM peak (cuBLAS through torch.mm,
# 8192^3) is the MFU denominator for both. Prints the JSON lines, then a
# Markdown table with both figures, the ratio and the MFU.
#
# Usage: scripts/bench-gpu.sh [--bin DIR] [--torch-ref FILE] [--out DIR] [--steps N] [--budget S] [--quick]
#   --bin DIR        folder with bench_model and libmds.so (default build/)
#   --torch-ref FILE torch_reference.py (default ../shared/bench/torch_reference.py)
#   --out DIR        where the JSON lines and the table go (default: a temp folder, printed)
#   --budget S       wall-clock budget in seconds (default 560): a PyTorch run
#                    (each compiles its graph, 30-90 s) is started only while
#                    the budget has room for it; skipped ones are listed
#   --quick          L = 1k only (a smoke run)
# Meant to finish within 10 minutes on an H100/H200; the machine must have
# python3 with torch for the yardstick (mds alone runs without it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/build"
torch_ref="$root/../shared/bench/torch_reference.py"
out=""
steps=10
budget=560
quick=0
while (($#)); do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --torch-ref) torch_ref=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench-gpu: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $bin/bench_model ]] || { echo "bench-gpu: $bin/bench_model not found (cmake --build build --target bench_model)" >&2; exit 1; }
if [[ -z $out ]]; then out=$(mktemp -d); fi
mkdir -p "$out"
have_torch=0
if [[ -r $torch_ref ]] && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then have_torch=1; fi
((have_torch)) || echo "bench-gpu: no torch_reference.py or no CUDA torch: the yardstick columns stay empty" >&2

train_lens="1024 4096 16384 32768" sample_lens="1024 4096 16384" dense_lens="1024 4096"
((quick)) && train_lens=1024 sample_lens=1024 dense_lens=1024
results="$out/results.jsonl"
: > "$results"
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

if ((have_torch)); then
  log "bf16 GEMM peak"
  python3 - >> "$results" <<'PY'
import json, torch
n = 8192
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
for _ in range(5):
    a @ b
torch.cuda.synchronize()
ts = []
for _ in range(20):
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record(); a @ b; e.record(); torch.cuda.synchronize()
    ts.append(s.elapsed_time(e) / 1e3)
ts.sort()
print(json.dumps({"impl": "gemm_peak", "tflops": round(2 * n**3 / ts[len(ts) // 2] / 1e12, 1),
                  "gpu": torch.cuda.get_device_name()}), flush=True)
PY
fi

run_mds() {  # mode attn ffn lengths...
  local mode=$1 attn=$2 ffn=$3
  shift 3
  local args=()
  for L in "$@"; do args+=(--seq-len "$L"); done
  log "mds $mode $attn/$ffn L=$*"
  "$bin/bench_model" --device cuda --mode "$mode" --attn "$attn" --ffn "$ffn" --steps "$steps" --warmup 3 "${args[@]}" \
    >> "$results" || log "bench_model failed ($mode $attn/$ffn)"
}
started=$SECONDS
torch_estimate=90  # seconds one torch_reference.py run may take, compile included
run_torch() {  # mode attn ffn L
  ((have_torch)) || return 0
  if ((SECONDS - started + torch_estimate > budget)); then
    log "torch $1 $2/$3 L=$4 skipped: the ${budget} s budget has no room"
    echo "{\"impl\": \"torch\", \"ok\": false, \"mode\": \"$1\", \"attn\": \"$2\", \"ffn\": \"$3\", \"seq_len\": $4, \"error\": \"not run (time budget)\"}" >> "$results"
    return 0
  fi
  log "torch $1 $2/$3 L=$4"
  timeout 300 python3 "$torch_ref" --mode "$1" --attn "$2" --ffn "$3" --seq-len "$4" --compile --steps "$steps" \
    >> "$results" 2> "$out/torch_$1_$2_$3_$4.err" || log "torch_reference failed ($1 $2/$3 L=$4): $(tail -1 "$out/torch_$1_$2_$3_$4.err")"
}

run_mds train sliding moe $train_lens
run_mds sample sliding moe $sample_lens
run_mds train dense dense $dense_lens
# Most important first, in case the budget runs out.
for L in $train_lens; do run_torch train sliding moe "$L"; done
for L in $sample_lens; do run_torch sample sliding moe "$L"; done
for L in $dense_lens; do run_torch train dense dense "$L"; done

python3 - "$results" <<'PY' | tee "$out/table.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
peak = next((r for r in rows if r.get("impl") == "gemm_peak"), None)
gpu = peak["gpu"] if peak else "?"
P = peak["tflops"] if peak else None
def key(r):
    return (r.get("mode"), r.get("attn"), r.get("ffn"), r.get("seq_len"))
mds = {key(r): r for r in rows if r.get("impl") == "mds"}
torch = {key(r): r for r in rows if r.get("impl", "torch") == "torch"}
print(f"GPU: {gpu}; measured bf16 GEMM peak {P} TFLOP/s (cuBLAS, 8192^3)" if P else "GPU: ? (no torch)")
print()
print("| step | attention / FFN | L | batch | mds tok/s | PyTorch tok/s | mds / PyTorch | mds MFU | PyTorch MFU | mds peak GiB | PyTorch peak GiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for k in sorted(set(mds) | set(torch), key=lambda k: (k[0] != "train", k[1] != "sliding", k[3])):
    m, t = mds.get(k), torch.get(k)
    def tok(r):
        if r is None: return "—"
        return f"{r['tokens_per_s']:,.0f}" if r.get("ok") else r.get("error", "failed")[:40]
    def mfu(r):
        return f"{100 * r['model_tflops'] / P:.1f}%" if (r and r.get("ok") and P) else "—"
    def mem(r):
        return f"{r['peak_gib']:.1f}" if (r and r.get("ok")) else "—"
    ratio = f"{m['tokens_per_s'] / t['tokens_per_s']:.2f}" if (m and t and m.get("ok") and t.get("ok")) else "—"
    batch = (m or t).get("batch", "")
    step = "training" if k[0] == "train" else "denoising"
    print(f"| {step} | {k[1]} / {k[2]} | {k[3]:,} | {batch} | {tok(m)} | {tok(t)} | {ratio} | {mfu(m)} | {mfu(t)} | {mem(m)} | {mem(t)} |")
PY
log "results in $out"
