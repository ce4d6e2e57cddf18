#!/usr/bin/env python3
"""How fast cuBLAS runs the expert products of an mds training step in each
operand precision, and what the fp32 passes around them cost: the question
behind docs/perf-notes.md's "the bf16 cast bought nothing". PyTorch's matmul
is a thin call into cuBLAS, so its precision settings select the same kernels
mds's CUDA backend asks for:

  fp32-fast16bf  fp32 operands and output, CUBLAS_COMPUTE_32F_FAST_16BF
                 (torch.set_float32_matmul_precision("medium")), mds's default
  fp32-tf32      fp32 operands, TF32 tensor cores ("high")
  bf16           bf16 operands and output, fp32 accumulation

for the three products of a grouped linear layer with one expert's rows
(forward x W^T, data gradient dY W, weight gradient dY^T x), and the
elementwise passes of the same layer over fp32 and bf16 [rows, out] tensors
(bias add, exact GELU forward, a zero fill). Median of --reps after --warmup,
one JSON line per measurement.

Usage: python3 scripts/bench_gemm_modes.py [--rows 8192] [--in 768] [--out 3072] [--reps 20]"""
import argparse
import json

import torch


def timed(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=8192, help="rows of one expert (tokens x top-k / experts)")
    ap.add_argument("--in", dest="din", type=int, default=768)
    ap.add_argument("--out", dest="dout", type=int, default=3072)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args()
    n, k, m = a.rows, a.din, a.dout
    dev = torch.device("cuda")
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__}))
    for mode in ("fp32-fast16bf", "fp32-tf32", "bf16"):
        torch.set_float32_matmul_precision({"fp32-fast16bf": "medium", "fp32-tf32": "high", "bf16": "highest"}[mode])
        dt = torch.bfloat16 if mode == "bf16" else torch.float32
        x = torch.randn(n, k, device=dev, dtype=dt)
        w = torch.randn(m, k, device=dev, dtype=dt)
        dy = torch.randn(n, m, device=dev, dtype=dt)
        for name, fn in (("forward x W^T", lambda: x @ w.t()),
                         ("data dY W", lambda: dy @ w),
                         ("weight dY^T x", lambda: dy.t() @ x)):
            ms = timed(fn, a.reps, a.warmup)
            print(json.dumps({"mode": mode, "product": name, "rows": n, "in": k, "out": m, "ms": round(ms, 4),
                              "tflops": round(2 * n * k * m / ms / 1e9, 1)}))
    torch.set_float32_matmul_precision("highest")
    for dt in (torch.float32, torch.bfloat16):
        y = torch.randn(n, m, device=dev, dtype=dt)
        b = torch.randn(m, device=dev, dtype=dt)
        for name, fn in (("bias add (in place)", lambda: y.add_(b)),
                         ("exact GELU", lambda: torch.nn.functional.gelu(y)),
                         ("zero fill", lambda: y.zero_())):
            ms = timed(fn, a.reps, a.warmup)
            print(json.dumps({"pass": name, "dtype": str(dt).split(".")[1], "rows": n, "cols": m, "ms": round(ms, 4),
                              "gb_per_s": round(y.numel() * y.element_size() * (1 if name == "zero fill" else 2)
                                                / ms / 1e6, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
