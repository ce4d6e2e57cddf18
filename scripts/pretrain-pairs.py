#!/usr/bin/env python3
"""Self-supervised sequence-to-sequence pairs from long documents, for
pre-training before the few real (article -> abstract) pairs: gap-sentence
generation as in PEGASUS (Zhang et al., 2020, "PEGASUS: Pre-training with
Extracted Gap-sentences for Abstractive Summarization", §3.1: the "Ind-Orig"
selection scored best). Reads JSONL {"src", ...} on stdin (only "src", the
document body, is used; a reference summary is never read) and writes
{"src", "trg"} pairs:

  - the document is cut into windows of --window-words words (at sentence
    boundaries; a last window shorter than half of it joins the previous one);
  - in each window every sentence is scored alone by ROUGE-1 F1 (lower-cased
    words) against the rest of the window, and the best ones are taken, in
    window order, until --target-words words are reached (the summary-like
    sentences: those that share most with their document);
  - trg = the chosen sentences; src = the window without them, each replaced
    by --mask (default: removed).

Sentences end after '.', '!' or '?' followed by white space, as in
scripts/baselines.py. Windows with fewer than --min-sentences sentences are
skipped. The output is deterministic (no randomness).

Usage: scripts/pretrain-pairs.py [--window-words N] [--target-words N] [--mask TEXT] < train.jsonl > pairs.jsonl"""
import argparse
import collections
import json
import re
import sys

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"[a-z0-9]+")


def windows(sentences, window_words):
    out, cur, n = [], [], 0
    for s in sentences:
        cur.append(s)
        n += len(s.split())
        if n >= window_words:
            out.append(cur)
            cur, n = [], 0
    if cur:
        if out and n < window_words // 2:
            out[-1].extend(cur)
        else:
            out.append(cur)
    return out


def rouge1_f_against_rest(sentence, total, n, rest_len):
    # The rest of the window is total - sentence: only the sentence's own
    # words can overlap, so no copy of the window's counts is needed.
    overlap = sum(min(c, total[w] - c) for w, c in sentence.items())
    if overlap == 0:
        return 0.0
    p, r = overlap / n, overlap / rest_len
    return 2 * p * r / (p + r)


def gap_sentences(window, target_words):
    bags = [collections.Counter(WORD.findall(s.lower())) for s in window]
    total = collections.Counter()
    for b in bags:
        total.update(b)
    total_len = sum(total.values())
    scores = []
    for i, b in enumerate(bags):
        n = sum(b.values())
        rest_len = total_len - n
        if n == 0 or rest_len == 0:
            scores.append((0.0, i))
            continue
        scores.append((rouge1_f_against_rest(b, total, n, rest_len), i))
    chosen, words = set(), 0
    for _, i in sorted(scores, key=lambda x: (-x[0], x[1])):
        if words >= target_words:
            break
        chosen.add(i)
        words += len(window[i].split())
    return chosen


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window-words", type=int, default=2000)
    ap.add_argument("--target-words", type=int, default=200)
    ap.add_argument("--min-sentences", type=int, default=8)
    ap.add_argument("--mask", default="")
    a = ap.parse_args()
    if a.window_words < 1 or a.target_words < 1 or a.min_sentences < 2:
        ap.error("--window-words and --target-words must be >= 1, --min-sentences >= 2")
    written = 0
    for line_no, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)["src"]
        except (ValueError, KeyError, TypeError) as e:
            sys.exit(f"pretrain-pairs: <stdin>:{line_no}: expected a JSON object with a \"src\" string ({e})")
        if not isinstance(doc, str):
            sys.exit(f"pretrain-pairs: <stdin>:{line_no}: \"src\" is not a string")
        sentences = [s for s in SENTENCE_END.split(doc.strip()) if s]
        for w in windows(sentences, a.window_words):
            if len(w) < a.min_sentences:
                continue
            chosen = gap_sentences(w, a.target_words)
            src = [a.mask if i in chosen else s for i, s in enumerate(w) if a.mask or i not in chosen]
            trg = [s for i, s in enumerate(w) if i in chosen]
            print(json.dumps({"src": " ".join(src), "trg": " ".join(trg)}, ensure_ascii=False))
            written += 1
    print(f"pretrain-pairs: {written} pairs", file=sys.stderr)


if __name__ == "__main__":
    main()
