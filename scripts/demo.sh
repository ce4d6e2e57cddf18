#!/usr/bin/env bash
# The main job on bundled real data (examples/data, QQP paraphrase pairs):
# installs what is missing, builds, then runs the whole pipeline
#   train a tokenizer -> encode shards -> inspect -> train the tiny model on
#   the CPU -> sample the test sources with DPM-Solver++ -> score with mds-eval
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
  mds-tokenize encode -m "$out/tok.mds" --max-src-len 64 --max-trg-len 32 \
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
echo "== 5. train the tiny MoE-DiffuSeq config on the CPU (a few minutes on 2 cores)" >&2
mds-train --config examples/configs/tiny.json --tokenizer "$out/tok.mds" --valid "$out/valid.mds" \
  --steps "${MDS_DEMO_STEPS:-300}" --log "$out/train.log.jsonl" -o "$out/model.mds" "$out/train.mds"
mds-inspect "$out/model.mds" > "$out/model.inspect.txt"
sed -n 1,12p "$out/model.inspect.txt"

echo "== 6. sample the test sources (DPM-Solver++, 10 steps) and score them" >&2
mds-sample -m "$out/model.mds" --solver dpm++ --steps 10 --seed 1 \
  --meta "$out/sample.meta.json" < "$data/qqp_small.test.jsonl" > "$out/test.hyp.jsonl"
sed -n 1,3p "$out/test.hyp.jsonl"
mds-eval rouge --pretty < "$out/test.hyp.jsonl" > "$out/rouge.json"
mds-eval bleu --pretty < "$out/test.hyp.jsonl" > "$out/bleu.json"
cat "$out/rouge.json" "$out/bleu.json"
echo "demo: done; outputs in $out/" >&2
