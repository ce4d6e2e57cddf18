#!/usr/bin/env python3
"""PyTorch's compiled FlexAttention on mds's attention mask, the yardstick of
scripts/bench-attention-gpu.sh: query i sees key j iff |i - j| <= window, or i
or j is one of `globals` global tokens spread evenly over the example
(positions g*L/G). bf16 q/k/v/dout, every example full length. Times the
forward (of the autograd graph) and the backward (out.backward only), median of --reps
after --warmup, and counts FLOPs over the useful score entries as
bench_attention_gpu does (4*D forward, 10*D backward per entry). One JSON line
per configuration."""
import argparse
import json

import torch
from torch._dynamo.utils import counters
from torch.nn.attention.flex_attention import create_block_mask, flex_attention


def useful_entries(L, window, gpos):
    is_g = torch.zeros(L, dtype=torch.bool)
    is_g[gpos] = True
    i = torch.arange(L)
    lo = (i - window).clamp(min=0)
    hi = (i + window).clamp(max=L - 1)
    band = hi - lo + 1
    g = torch.tensor(gpos)
    g_in_band = ((g[None, :] >= lo[:, None]) & (g[None, :] <= hi[:, None])).sum(1)
    per_q = torch.where(is_g, torch.full_like(band, L), band + (len(gpos) - g_in_band))
    return int(per_q.sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq-len", type=int, action="append")
    ap.add_argument("--head-dim", type=int, action="append")
    ap.add_argument("--tokens", type=int, default=65536)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--globals", type=int, default=16)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    a = ap.parse_args()
    for D in a.head_dim or [64, 128]:
        for L in a.seq_len or [4096, 16384, 65536]:
            # A fresh compile per shape: each shape's mask_mod is a new closure,
            # so one compiled function would recompile per shape and, past
            # dynamo's recompile limit, run flex_attention eagerly (the eager
            # path builds the whole score matrix: tens of ms). The counters
            # below say whether that happened.
            torch._dynamo.reset()
            counters.clear()
            flex = torch.compile(flex_attention, dynamic=False)
            B, H = max(1, a.tokens // L), a.width // D
            gpos = [g * L // a.globals for g in range(a.globals)]
            is_g = torch.zeros(L, dtype=torch.bool, device="cuda")
            is_g[gpos] = True
            w = a.window

            def mask_mod(b, h, q, kv):
                return ((q - kv).abs() <= w) | is_g[q] | is_g[kv]

            bm = create_block_mask(mask_mod, B=None, H=None, Q_LEN=L, KV_LEN=L, device="cuda")
            mk = lambda: torch.randn(B, H, L, D, device="cuda", dtype=torch.bfloat16)
            q, k, v, dout = mk(), mk(), mk(), mk()
            for t in (q, k, v):
                t.requires_grad_(True)
            tf, tb = [], []
            for r in range(a.warmup + a.reps):
                # The forward of the training graph (inputs that need gradients):
                # a no_grad call compiles a second graph, and alternating the two
                # made torch.compile fall back to eager (81 ms instead of ~3).
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize()
                s.record()
                out = flex(q, k, v, block_mask=bm)
                e.record()
                torch.cuda.synchronize()
                f_ms = s.elapsed_time(e)
                s.record()
                out.backward(dout)
                e.record()
                torch.cuda.synchronize()
                b_ms = s.elapsed_time(e)
                q.grad = k.grad = v.grad = None
                if r >= a.warmup:
                    tf.append(f_ms)
                    tb.append(b_ms)
            tf.sort()
            tb.sort()
            f_ms, b_ms = tf[len(tf) // 2], tb[len(tb) // 2]
            entries = useful_entries(L, w, gpos) * B * H
            print(json.dumps({"impl": "flex", "gpu": torch.cuda.get_device_name(), "seq_len": L, "batch": B,
                              "heads": H, "head_dim": D, "window": w, "globals": a.globals,
                              "useful_entries": entries, "fwd_ms": round(f_ms, 4), "bwd_ms": round(b_ms, 4),
                              "fwd_tflops": round(4 * D * entries / (f_ms * 1e-3) / 1e12, 1),
                              "bwd_tflops": round(10 * D * entries / (b_ms * 1e-3) / 1e12, 1),
                              "fwd_ns_per_token": round(f_ms * 1e6 / (B * L), 3),
                              "bwd_ns_per_token": round(b_ms * 1e6 / (B * L), 3),
                              # > 1 graph or any break: the timing is not of one compiled kernel
                              "compiled_graphs": int(counters["stats"]["unique_graphs"]),
                              "graph_breaks": int(sum(counters["graph_break"].values()))}), flush=True)
            del q, k, v, dout, out, bm
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
