#!/usr/bin/env python3
"""Checks an mds safetensors export in PyTorch: loads the weights that
`mds-inspect CHECKPOINT --export-safetensors OUT` wrote, runs the MoE-DiffuSeq
denoiser written here from scratch in PyTorch (float64) on the inputs that
`forward_reference CHECKPOINT REF.safetensors` saved, and compares its x0
prediction with the one mds computed. Run by scripts/check-safetensors-torch.sh.

The network follows lib/model (network.cpp, network_blocks.cpp, batch.cpp,
schedule.cpp) and the CPU kernels (lib/cpu/attention.cpp, topk.cpp,
moe_dispatch.cpp, activation.cpp): time MLP (SiLU), up-projection (tanh),
learned positions plus the time embedding, input LayerNorm, post-LN layers of
sliding-window + global attention and a dense GELU FFN or a top-k MoE, and the
down-projection (tanh). Needs only torch (the file is read with the json and
struct modules, not the safetensors package).

Usage: check-safetensors-torch.py EXPORT.safetensors REFERENCE.safetensors [--tol 1e-4]
Exit status 0 when every x0 value agrees within tol * (1 + |value|), else 1.
"""
import argparse
import json
import math
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16, "F16": torch.float16,
          "I32": torch.int32, "I64": torch.int64, "U8": torch.uint8}

# ModelConfig defaults (lib/model/config.h), for keys a config may leave out.
DEFAULTS = {"embed_dim": 128, "hidden_dim": 768, "layers": 12, "heads": 12, "ffn_dim": 3072, "time_embed_dim": 128,
            "time_hidden_dim": 512, "max_src_len": 1024, "max_trg_len": 256, "max_positions": 0,
            "layer_norm_eps": 1e-12, "attention_window": 256, "attention_dilation": [1], "global_target": False,
            "global_source_stride": 0, "moe_experts": 8, "moe_top_k": 2, "moe_every": 1,
            "moe_capacity_factor": 0.0, "moe_renormalize": True}


def load(path):
    """safetensors -> (dict name -> tensor, metadata dict), by the format's definition."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = memoryview(raw)[8 + n:]
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        dtype = DTYPES[t["dtype"]]
        if e == b:
            out[name] = torch.zeros(t["shape"], dtype=dtype)
        else:
            out[name] = torch.frombuffer(bytearray(data[b:e]), dtype=dtype).reshape(t["shape"]).clone()
    return out, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("export")
    ap.add_argument("reference")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    weights, meta = load(args.export)
    ref, ref_meta = load(args.reference)
    cfg = dict(DEFAULTS)
    cfg.update(json.loads(meta["mds.config"])["model"])
    if json.loads(ref_meta["mds.config"])["model"] != json.loads(meta["mds.config"])["model"]:
        sys.exit("the export and the reference come from different model configs")
    # mds samples with the EMA weights: take them when the export has them.
    ema = meta.get("mds.ema", "")

    def w(name):
        t = weights[ema + name] if ema and (ema + name) in weights else weights[name]
        return t.to(torch.float64)

    H, heads, d = cfg["hidden_dim"], cfg["heads"], cfg["embed_dim"]
    D = H // heads
    eps = cfg["layer_norm_eps"]
    dil = cfg["attention_dilation"]
    dil = [dil] * heads if isinstance(dil, int) else (dil * heads if len(dil) == 1 else dil)

    def lin(x, name, bias=True):
        y = x @ w(name + ".weight").T
        return y + w(name + ".bias") if bias else y

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), w(name + ".weight"), w(name + ".bias"), eps)

    def gelu(x):  # exact erf GELU (BERT)
        return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))

    x_t = ref["x_t"].to(torch.float64)              # [B, L, d]
    valid = ref["valid"].bool()                      # [B, L]
    times = ref["model_times"].to(torch.float64)     # [B]
    B, L, _ = x_t.shape

    # Global tokens (lib/model/batch.cpp global_positions): [CLS], every
    # stride-th source token, the source's [SEP], the target region if asked.
    is_global = torch.zeros(B, L, dtype=torch.bool)
    for b in range(B):
        length = int(valid[b].sum())
        start = length - cfg["max_trg_len"] - 1       # first target slot: src_len + 2
        g = {0}
        if cfg["global_source_stride"] > 0:
            g |= set(range(cfg["global_source_stride"], start - 1, cfg["global_source_stride"]))
        if start - 1 > 0:
            g.add(start - 1)
        if cfg["global_target"]:
            g |= set(range(start, length))
        is_global[b, sorted(g)] = True
    if not torch.equal(is_global, ref["is_global"].bool()):
        sys.exit("global positions differ from mds's: the pattern rule here is out of date")

    # Attention masks per head: a global query sees every valid key; any other
    # sees valid keys within window*dilation at multiples of the dilation, and
    # every valid global key (lib/cpu/attention.cpp).
    window = cfg["attention_window"] or L
    i = torch.arange(L)[:, None]
    j = torch.arange(L)[None, :]
    masks = []
    for h in range(heads):
        reach = min(window, L) * dil[h]
        in_window = ((j - i).abs() <= reach) & ((j - i) % dil[h] == 0)
        allowed = in_window[None] | is_global[:, None, :] | is_global[:, :, None]
        masks.append(allowed & valid[:, None, :])
    mask = torch.stack(masks, 1)                     # [B, heads, L, L]

    # Time embedding (schedule.cpp timestep_embedding): [cos(t f_k), sin(t f_k)].
    half = cfg["time_embed_dim"] // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    temb = torch.cat([torch.cos(times[:, None] * freqs), torch.sin(times[:, None] * freqs)], 1)
    time = lin(torch.nn.functional.silu(lin(temb, "time_embed.0")), "time_embed.2")          # [B, H]

    up = lin(torch.tanh(lin(x_t, "input_up_proj.0")), "input_up_proj.2")
    h = ln(up + w("position_embedding")[:L][None] + time[:, None, :], "input_layer_norm")

    for layer in range(cfg["layers"]):
        p = f"layer.{layer}."
        qkv = lin(h, p + "attention.qkv")
        q, k, v = (qkv[..., n * H:(n + 1) * H].reshape(B, L, heads, D).transpose(1, 2) for n in range(3))
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(D)
        scores = scores.masked_fill(~mask, float("-inf"))
        ctx = (torch.softmax(scores, -1) @ v).transpose(1, 2).reshape(B, L, H)
        h = ln(h + lin(ctx, p + "attention.out"), p + "attention.layer_norm")

        E, topk = cfg["moe_experts"], cfg["moe_top_k"]
        moe = E > 0 and layer % cfg["moe_every"] == cfg["moe_every"] - 1
        if not moe:
            y = lin(gelu(lin(h, p + "ffn.0")), p + "ffn.2")
        else:
            x = h.reshape(B * L, H)
            probs = torch.softmax(x @ w(p + "moe.router.weight").T, -1)
            # Top-k, ties to the lower expert index (topk.cpp): a stable sort.
            idx = torch.sort(probs, dim=-1, descending=True, stable=True).indices[:, :topk]
            gates = torch.gather(probs, 1, idx)
            if cfg["moe_renormalize"] and topk > 1:
                gates = gates / gates.sum(-1, keepdim=True)
            # Capacity (moe_dispatch.cpp): only valid tokens are routed; with a
            # capacity, all first choices (in token order) before any second.
            flat_valid = valid.reshape(-1)
            keep = flat_valid[:, None].expand(-1, topk).clone()
            if cfg["moe_capacity_factor"] > 0:
                routed = int(flat_valid.sum())
                cap = math.ceil(topk * routed / E * cfg["moe_capacity_factor"])
                count = [0] * E
                for c in range(topk):
                    for n in range(B * L):
                        if keep[n, c]:
                            e = int(idx[n, c])
                            keep[n, c] = count[e] < cap
                            count[e] += bool(keep[n, c])
            w1, b1, w2, b2 = w(p + "moe.w1"), w(p + "moe.b1"), w(p + "moe.w2"), w(p + "moe.b2")
            y = torch.zeros_like(x)
            for c in range(topk):
                for e in range(E):
                    rows = (idx[:, c] == e) & keep[:, c]
                    if rows.any():
                        out = gelu(x[rows] @ w1[e].T + b1[e]) @ w2[e].T + b2[e]
                        y[rows] += gates[rows, c:c + 1] * out
            y = y.reshape(B, L, H)
        h = ln(h + y, p + "ffn.layer_norm")

    x0 = lin(torch.tanh(lin(h, "output_down_proj.0")), "output_down_proj.2")
    want = ref["x0_hat"].to(torch.float64)
    err = ((x0 - want).abs() / (1.0 + want.abs())).max().item()
    print(json.dumps({"export": args.export, "weights": (ema + "*") if ema else "*", "batch": B, "seq_len": L,
                      "embed_dim": d, "mds_backend": ref_meta.get("device", "?"), "max_rel_err": err,
                      "tol": args.tol, "ok": err <= args.tol}))
    return 0 if err <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
