#!/usr/bin/env bash
# The sliding-window + global attention kernel against PyTorch's compiled
# FlexAttention on the same mask and shapes, in one run on the same card:
# L = 4,096, 16,384 and 65,536 with batch x L = 65,536 tokens, window 256 per
# side, 16 global tokens, head width 64 (12 heads) and 128 (6 heads), bf16,
# forward and backward. TFLOP/s count the useful (unmasked) score entries only.
# Prints the JSON lines, then a Markdown table with the ratio mds / FlexAttention.
#
# Usage: scripts/bench-attention-gpu.sh [--bin DIR] [--out DIR] [--reps N]
#   --bin DIR   folder with bench_attention_gpu (default build/)
#   --out DIR   where the JSON lines and the table go (default: a temp folder)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/build"
out=""
reps=10
while (($#)); do
  case "$1" in
    --bin) bin=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "bench-attention-gpu: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x $bin/bench_attention_gpu ]] || { echo "bench-attention-gpu: $bin/bench_attention_gpu not found" >&2; exit 1; }
if [[ -z $out ]]; then out=$(mktemp -d); fi
mkdir -p "$out"
results="$out/attention.jsonl"
: > "$results"
"$bin/bench_attention_gpu" --reps "$reps" >> "$results"
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  python3 "$root/scripts/bench_attention_flex.py" --reps "$reps" >> "$results" 2> "$out/flex.err" ||
    echo "bench-attention-gpu: FlexAttention failed: $(tail -1 "$out/flex.err")" >&2
else
  echo "bench-attention-gpu: no CUDA torch: the FlexAttention columns stay empty" >&2
fi
python3 - "$results" <<'PY' | tee "$out/table.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
key = lambda r: (r["head_dim"], r["seq_len"])
mds = {key(r): r for r in rows if r["impl"] == "mds"}
flex = {key(r): r for r in rows if r["impl"] == "flex"}
gpu = next(iter(mds.values()))["gpu"] if mds else "?"
print(f"GPU: {gpu}\n")
print("| head dim | L | batch | pass | mds ms | Flex ms | mds / Flex speed | mds TFLOP/s | Flex TFLOP/s | mds ns/token |")
print("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
for k in sorted(mds):
    m, f = mds[k], flex.get(k)
    for p in ("fwd", "bwd"):
        fm = f"{f[p + '_ms']:.3f}" if f else "—"
        ratio = f"{f[p + '_ms'] / m[p + '_ms']:.2f}" if f else "—"
        ft = f"{f[p + '_tflops']:.0f}" if f else "—"
        print(f"| {k[0]} | {k[1]:,} | {m['batch']} | {p} | {m[p + '_ms']:.3f} | {fm} | {ratio} | "
              f"{m[p + '_tflops']:.0f} | {ft} | {m[p + '_ns_per_token']:.2f} |")
PY
