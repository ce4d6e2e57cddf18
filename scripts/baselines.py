#!/usr/bin/env python3
"""Extractive baselines for summarisation, read from JSONL {"src", "trg"} on
stdin and written as the same records with a "hyp" field (what mds-eval reads):

  lead    the first sentences of the source, up to the mean reference length in
          words over the input (the LEAD baseline of the summarisation papers);
  random  sentences of the source drawn at random (seeded), kept in source
          order, up to the same length.

Sentences end after '.', '!' or '?' followed by white space. A record whose
source has no sentence boundary contributes its first words.

Usage: scripts/baselines.py lead|random [--seed N] < test.jsonl > hyp.jsonl"""
import argparse
import json
import random
import re
import sys

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def take(sentences, budget):
    out, words = [], 0
    for s in sentences:
        if words >= budget:
            break
        out.append(s)
        words += len(s.split())
    return out


def main():
    ap = argparse.ArgumentParser(description="extractive summarisation baselines (LEAD, random sentences)")
    ap.add_argument("kind", choices=["lead", "random"])
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    records = []
    for n, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            if not isinstance(r.get("src"), str) or not isinstance(r.get("trg"), str):
                raise ValueError('needs string fields "src" and "trg"')
        except ValueError as e:
            sys.exit(f"baselines.py: stdin line {n}: {e}")
        records.append(r)
    if not records:
        sys.exit("baselines.py: no records on stdin")
    budget = sum(len(r["trg"].split()) for r in records) / len(records)
    rng = random.Random(a.seed)
    for r in records:
        sentences = [s for s in SENTENCE_END.split(r["src"].strip()) if s]
        if a.kind == "random":
            order = list(range(len(sentences)))
            rng.shuffle(order)
            keep = sorted(order[: len(take([sentences[i] for i in order], budget))])
            chosen = [sentences[i] for i in keep]
        else:
            chosen = take(sentences, budget)
        r["hyp"] = " ".join(chosen)
        sys.stdout.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
