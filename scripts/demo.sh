#!/usr/bin/env bash
# The main job on bundled real data (examples/data, QQP paraphrase pairs).
# Installs what is missing, builds libmds and the five tools (not the test
# suite: scripts/test.sh builds that), then:
#   1. shows the pretrained model shipped in examples/models/ (trained on a GPU
#      by scripts/train-shipped-model.sh),
#   2. generates a paraphrase for each of the 100 test questions with it
#      (DPM-Solver++, 10 steps) and prints some next to their references,
#   3. scores them (ROUGE, BLEU) beside the copy-the-source baseline, and fails
#      if any generated text is empty.
# With --train it then shows the "train your own" path on the CPU:
#   train a tokenizer -> encode shards -> inspect -> round-trip check ->
#   train the tiny config -> sample -> score
# (MDS_DEMO_STEPS sets the training steps, default 300; CI runs it with 20).
# Outputs go to ${MDS_DEMO_DIR:-demo-out}/.
#
# Usage: scripts/demo.sh [--train]
set -euo pipefail
cd "$(dirname "$0")/.."
train=0
while (($#)); do
  case "$1" in
    --train) train=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1 (usage: scripts/demo.sh [--train])" >&2; exit 2 ;;
  esac
done
start=$SECONDS
scripts/setup.sh --tools
echo "demo: build ready in $((SECONDS - start)) s" >&2
export PATH="$PWD/build:$PATH"
out=${MDS_DEMO_DIR:-demo-out}
mkdir -p "$out"
data=examples/data
model=examples/models/qqp-paraphrase.mds

echo "== 1. the shipped model: $model" >&2
mds-inspect --json "$model" > "$out/shipped.inspect.json"
python3 - "$out/shipped.inspect.json" >&2 <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["units"][0]["meta"]
e = m["export"]
a = e.get("about", {})
t = a.get("training", {})
c = m["config"]["model"]
print(f"  {e['parameters']:,} parameters ({e['dtype']} EMA weights): {c['layers']} layers x {c['hidden_dim']}, "
      f"{c['moe_experts']} experts top-{c['moe_top_k']}, window {c['attention_window']}")
print(f"  trained {t.get('steps')} steps in {t.get('wall_seconds')} s on {t.get('gpu') or t.get('device')}; "
      f"data: {a.get('data', {}).get('train')}")
print("  reproduce: scripts/train-shipped-model.sh")
PY

echo "== 2. generate a paraphrase for each of the 100 test questions (DPM-Solver++, 10 steps)" >&2
t0=$SECONDS
mds-sample -m "$model" --solver dpm++ --steps 10 --seed 1 --meta "$out/shipped.meta.json" \
  < "$data/qqp_small.test.jsonl" > "$out/shipped.hyp.jsonl"
echo "demo: generated in $((SECONDS - t0)) s" >&2
python3 - "$out/shipped.hyp.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
for r in rows[:6]:
    print(f"  source:    {r['src']}\n  reference: {r['trg']}\n  generated: {r['hyp']}\n")
empty = sum(1 for r in rows if not r["hyp"].strip())
print(f"demo: {len(rows)} generated texts, {empty} empty", file=sys.stderr)
sys.exit(1 if empty or not rows else 0)
PY

echo "== 3. scores against the references (mds-eval), beside copying the source" >&2
mds-eval rouge < "$out/shipped.hyp.jsonl" > "$out/shipped.rouge.json"
mds-eval bleu < "$out/shipped.hyp.jsonl" > "$out/shipped.bleu.json"
mds-eval rouge --hyp-field src < "$data/qqp_small.test.jsonl" > "$out/copy.rouge.json"
mds-eval bleu --hyp-field src < "$data/qqp_small.test.jsonl" > "$out/copy.bleu.json"
python3 - "$out" <<'PY'
import json, os, sys
d = sys.argv[1]
def row(name, tag):
    r = json.load(open(os.path.join(d, f"{tag}.rouge.json")))["mean"]
    b = json.load(open(os.path.join(d, f"{tag}.bleu.json")))["bleu"]["score"]
    print(f"  {name:<24} {r['rouge1']['fmeasure']:>8.4f} {r['rouge2']['fmeasure']:>8.4f} {r['rougeL']['fmeasure']:>8.4f} {b:>8.2f}")
print(f"  {'':<24} {'ROUGE-1':>8} {'ROUGE-2':>8} {'ROUGE-L':>8} {'BLEU':>8}")
row("shipped model", "shipped")
row("copy the source", "copy")
PY

if ((train)); then
  echo "== 4. train your own: a byte-level BPE tokenizer (4k vocabulary) on the training pairs" >&2
  mds-tokenize train --vocab-size 4096 -o "$out/tok.mds" "$data/qqp_small.train.jsonl"

  echo "== 5. encode the splits into token shards (64 source, 32 target tokens: longer pairs are cut)" >&2
  for split in train valid test; do
    mds-tokenize encode -m "$out/tok.mds" --max-src-len 64 --max-trg-len 32 \
      -o "$out/$split.mds" "$data/qqp_small.$split.jsonl"
  done
  mds-inspect "$out/tok.mds" --samples 3
  mds-inspect "$out/train.mds" --tokenizer "$out/tok.mds" --top 10

  echo "== 6. round trip: encode the test split without length limits, decode, compare with the input" >&2
  mds-tokenize encode -m "$out/tok.mds" -o "$out/test.full.mds" "$data/qqp_small.test.jsonl"
  mds-tokenize decode -m "$out/tok.mds" "$out/test.full.mds" > "$out/test.decoded.jsonl"
  python3 - "$data/qqp_small.test.jsonl" "$out/test.decoded.jsonl" <<'PY'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
b = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
bad = sum(1 for x, y in zip(a, b) if (x["src"], x["trg"]) != (y["src"], y["trg"]))
print(f"round trip: {len(b)} of {len(a)} records decoded, {bad} differ", file=sys.stderr)
sys.exit(1 if bad or len(a) != len(b) else 0)
PY

  steps=${MDS_DEMO_STEPS:-300}
  echo "== 7. train the tiny MoE-DiffuSeq config on the CPU for $steps steps" >&2
  mds-train --config examples/configs/tiny.json --tokenizer "$out/tok.mds" --valid "$out/valid.mds" \
    --device cpu --steps "$steps" --warmup-steps $((steps < 20 ? steps / 2 : 20)) \
    --log "$out/train.log.jsonl" -o "$out/model.mds" "$out/train.mds"
  mds-inspect "$out/model.mds" > "$out/model.inspect.txt"
  sed -n 1,12p "$out/model.inspect.txt"

  echo "== 8. sample the test sources with it (DPM-Solver++, 10 steps) and score them" >&2
  mds-sample -m "$out/model.mds" --solver dpm++ --steps 10 --seed 1 --device cpu \
    --meta "$out/sample.meta.json" < "$data/qqp_small.test.jsonl" > "$out/test.hyp.jsonl"
  sed -n 1,3p "$out/test.hyp.jsonl"
  mds-eval rouge --pretty < "$out/test.hyp.jsonl" > "$out/rouge.json"
  mds-eval bleu --pretty < "$out/test.hyp.jsonl" > "$out/bleu.json"
  python3 - "$out" "$steps" <<'PY'
import json, os, sys
d, steps = sys.argv[1], sys.argv[2]
r = json.load(open(os.path.join(d, "rouge.json")))["mean"]
b = json.load(open(os.path.join(d, "bleu.json")))["bleu"]["score"]
print(f"  tiny model, trained here: ROUGE-1 {r['rouge1']['fmeasure']:.4f}  ROUGE-L {r['rougeL']['fmeasure']:.4f}  BLEU {b:.2f}"
      f" ({steps} CPU steps: far below the shipped model)")
PY
fi
echo "demo: done in $((SECONDS - start)) s; outputs in $out/" >&2
