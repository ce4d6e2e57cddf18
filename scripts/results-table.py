#!/usr/bin/env python3
"""The tables of docs/results.md from the output folder of examples/Makefile:
one row per scored run (NAME.rouge.json) with ROUGE-1/2/L/Lsum F (stemmed,
x100), the training run's steps, tokens/s and last validation loss (from
NAME.log.jsonl, for the models of the tags after the config name), the
sampler's seconds per document (NAME.sample.json), and the peak GPU memory of
the run's phases when a memory trace is given. Then sample outputs beside
their references.

Usage: scripts/results-table.py OUT [--phases phases.log --memory mem.csv]
                                [--samples RUN ... --count 3 --words 60]

phases.log lines are "UNIX_SECONDS phase-name [run]"; mem.csv is nvidia-smi's
`--query-gpu=timestamp,memory.used --format=csv,noheader -lms 1000` trace."""
import argparse
import datetime
import glob
import json
import os
import sys


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def yardstick_summary(log_path):
    """torch_train_reference.py's last stderr line: steps, train_s, tokens, sample_s, examples."""
    last = {}
    for line in open(log_path, encoding="utf-8"):
        line = line.strip()
        if line.startswith("{") and '"train_s"' in line:
            last = json.loads(line)
    if not last:
        return {}
    return {"steps": last["steps"], "tokens_per_s": last["tokens"] / last["train_s"],
            "seconds_per_doc": last["sample_s"] / max(last["examples"], 1)}


def training_summary(log_path):
    if not os.path.exists(log_path):
        other = log_path[: -len(".log.jsonl")] + ".log"
        return yardstick_summary(other) if os.path.exists(other) else {}
    rows = load_jsonl(log_path)
    train = [r for r in rows if r.get("type") == "train"]
    valid = [r for r in rows if r.get("type") == "valid"]
    end = next((r for r in rows if r.get("type") in ("end", "interrupted")), {})
    out = {"steps": train[-1]["step"] if train else 0}
    # The first interval holds start-up (and compilation of nothing, but cuBLAS
    # and pool warm-up): leave it out of the rate when there are others.
    rates = [r["tokens_per_s"] for r in train[1:]] or [r["tokens_per_s"] for r in train]
    if rates:
        out["tokens_per_s"] = sum(rates) / len(rates)
    if valid:
        out["valid_loss"] = valid[-1]["loss"]
    if "elapsed_s" in end:
        out["elapsed_s"] = end["elapsed_s"]
    return out


def peak_memory(phases_path, memory_path):
    """Peak MiB per run name: the maximum of the trace between the run's
    'train NAME' phase (or 'torch', the yardstick) and the next phase that is
    not 'sample NAME'."""
    if not (phases_path and memory_path and os.path.exists(phases_path) and os.path.exists(memory_path)):
        return {}
    phases = []
    for line in open(phases_path):
        parts = line.split()
        if len(parts) >= 2:
            phases.append((int(parts[0]), parts[1], parts[2] if len(parts) > 2 else ""))
    trace = []
    for line in open(memory_path):
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 2 or not parts[1].endswith("MiB"):
            continue
        when = datetime.datetime.strptime(parts[0], "%Y/%m/%d %H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
        trace.append((when.timestamp(), int(parts[1].split()[0])))
    peaks = {}
    for i, (t0, kind, name) in enumerate(phases):
        if kind == "torch":  # the yardstick's phase: training and sampling in one
            name = "torch"
        elif kind != "train":
            continue
        t1 = next((t for t, k, n in phases[i + 1:] if not (k == "sample" and n == name)), float("inf"))
        used = [m for t, m in trace if t0 <= t < t1]
        if used:
            peaks[name] = max(used)
    return peaks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--phases")
    ap.add_argument("--memory")
    ap.add_argument("--samples", action="append", help="run whose outputs are shown beside the references")
    ap.add_argument("--count", type=int, default=3)
    ap.add_argument("--words", type=int, default=60)
    a = ap.parse_args()
    peaks = peak_memory(a.phases, a.memory)
    print("| run | steps | train tokens/s | valid loss | R-1 | R-2 | R-L | R-Lsum | s / doc | peak GiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in sorted(glob.glob(os.path.join(a.out, "*.rouge.json"))):
        run = os.path.basename(path)[: -len(".rouge.json")]
        model = run.split(".")[0]  # sumpubmed-4k.ddpm200 -> sumpubmed-4k
        m = json.load(open(path))["mean"]
        t = training_summary(os.path.join(a.out, model + ".log.jsonl"))
        meta = os.path.join(a.out, run + ".sample.json")
        spd = json.load(open(meta))["stats"]["seconds_per_record"] if os.path.exists(meta) else t.get("seconds_per_doc")
        cells = [run, str(t.get("steps", "")),
                 f"{t['tokens_per_s']:,.0f}" if "tokens_per_s" in t else "",
                 f"{t['valid_loss']:.4f}" if "valid_loss" in t else ""]
        cells += [f"{100 * m[k]['fmeasure']:.2f}" for k in ("rouge1", "rouge2", "rougeL", "rougeLsum")]
        cells.append(f"{spd:.3f}" if spd is not None else "")
        cells.append(f"{peaks[model] / 1024:.1f}" if model in peaks else "")
        print("| " + " | ".join(cells) + " |")
    for run in a.samples or []:
        hyp = load_jsonl(os.path.join(a.out, run + ".hyp.jsonl"))
        print(f"\nSample outputs of `{run}` (first {a.words} words):\n")
        for i, r in enumerate(hyp[: a.count]):
            cut = lambda s: " ".join(s.split()[: a.words]) + (" …" if len(s.split()) > a.words else "")
            print(f"{i + 1}. **reference**: {cut(r['trg'])}\n   **output**: {cut(r['hyp']) or '(empty)'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
