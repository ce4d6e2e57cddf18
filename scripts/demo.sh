#!/usr/bin/env bash
# The main job on bundled real data (examples/data, QQP paraphrase pairs):
# installs what is missing, builds, then runs the pipeline
#   train a tokenizer -> encode train/valid shards -> inspect them
# Outputs go to ${MDS_DEMO_DIR:-demo-out}/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export PATH="$PWD/build:$PATH"
out=${MDS_DEMO_DIR:-demo-out}
mkdir -p "$out"
data=examples/data

echo "== 1. train a byte-level BPE tokenizer (4k vocabulary) on the training pairs" >&2
mds-tokenize train --vocab-size 4096 -o "$out/tok.mds" "$data/qqp_small.train.jsonl"

echo "== 2. encode the splits into token shards" >&2
for split in train valid test; do
  mds-tokenize encode -m "$out/tok.mds" --max-src-len 64 --max-trg-len 64 \
    -o "$out/$split.mds" "$data/qqp_small.$split.jsonl"
done

echo "== 3. inspect the tokenizer and the training shard" >&2
mds-inspect "$out/tok.mds" --samples 3
mds-inspect "$out/train.mds" --tokenizer "$out/tok.mds" --top 10

echo "== 4. round trip: decode the test shard and compare with the input" >&2
mds-tokenize decode -m "$out/tok.mds" "$out/test.mds" > "$out/test.decoded.jsonl"
python3 - "$data/qqp_small.test.jsonl" "$out/test.decoded.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
b = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
bad = sum(1 for x, y in zip(a, b) if (x["src"], x["trg"]) != (y["src"], y["trg"]))
print(f"round trip: {len(b)} of {len(a)} records decoded, {bad} differ", file=sys.stderr)
sys.exit(1 if bad or len(a) != len(b) else 0)
PY
echo "demo: done; outputs in $out/" >&2
