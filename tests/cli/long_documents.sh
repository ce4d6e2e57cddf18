#!/usr/bin/env bash
# The long-document pipeline of examples/Makefile end to end on the CPU, under
# make -j2: sumpubmed articles (sources cut at 4,096 tokens) are tokenized,
# a tiny MoE-DiffuSeq model with the long-document config's 4,096-token source
# and sliding-window attention trains for 2 steps, samples the test articles
# and is scored, beside the LEAD and random-sentence baselines; the same
# model pre-trained on gap-sentence pairs of the bodies, then fine-tuned.
source "$(dirname "$0")/common.bash"
D="${MDS_SHARED_DIR:?MDS_SHARED_DIR not set}/data/sumpubmed"
bin=$(dirname "$(command -v mds-train)")
first() { (zstd -dc "$D/$1.jsonl.zst" || true) | head -n "$2" > "$tmp/$1.jsonl"; }  # zstd meets a closed pipe
first train 4
first valid 2
first test 2
tiny=(--set model.embed_dim=16 --set model.hidden_dim=32 --set model.layers=1 --set model.heads=2
  --set model.ffn_dim=64 --set model.time_embed_dim=16 --set model.time_hidden_dim=32 --set model.moe_experts=2
  --set model.moe_top_k=1 --set model.attention_window=64 --set model.max_trg_len=128
  --set model.diffusion_steps=100 --steps 2 --batch-size 2 --set train.valid_every=0 --set train.log_every=1
  --threads 2)
make -s -j2 -C "$MDS_SOURCE_DIR/examples" sumpubmed-4k sumpubmed-4k-pt sumpubmed-baselines MDS="$bin" OUT="$tmp/out" \
  FINETUNE_SET="--steps 4" \
  TRAIN_FILES="$tmp/train.jsonl" VALID_FILE="$tmp/valid.jsonl" TEST_FILE="$tmp/test.jsonl" \
  VOCAB=512 MAX_TRG=128 DEVICE=cpu MINUTES=10 SAMPLE="--solver dpm++ --steps 2 --seed 1" SET="${tiny[*]}" \
  > "$tmp/make.log" 2>&1 || fail "make exited $?: $(tail -20 "$tmp/make.log")"

o="$tmp/out"
mds-inspect "$o/sumpubmed-4k.model.mds" > "$tmp/model.txt" || fail "mds-inspect of the model exited $?"
grep -q '"max_src_len": 4096' "$tmp/model.txt" || fail "the model is not the 4,096-token config: $(grep max_src "$tmp/model.txt")"
python3 - "$o" <<'PY' || fail "long-document outputs"
import json, sys
o = sys.argv[1]
hyp = [json.loads(l) for l in open(o + "/sumpubmed-4k.hyp.jsonl")]
assert len(hyp) == 2 and all(isinstance(r.get("hyp"), str) for r in hyp), hyp
assert all(len(r["src"].split()) > 2000 for r in hyp), "the test sources are not long documents"
log = [json.loads(l) for l in open(o + "/sumpubmed-4k.log.jsonl")]
train = [r for r in log if r.get("type") == "train"]
assert train and all(r["loss"] == r["loss"] for r in train), log[:3]
# Pre-training on gap-sentence pairs of the bodies (2 steps), then 2 steps of
# fine-tuning on the abstracts that resume it: one log, steps 1-4.
pt = [r for r in map(json.loads, open(o + "/sumpubmed-4k-pt.log.jsonl")) if r.get("type") == "train"]
assert [r["step"] for r in pt] == [1, 2, 3, 4], [r["step"] for r in pt]
pairs = [json.loads(l) for l in open(o + "/pretrain.jsonl")]
assert len(pairs) >= 4 and all(p["trg"] and p["trg"] not in p["src"] for p in pairs), len(pairs)
scores = {}
for name in ("sumpubmed-4k", "sumpubmed-4k-pt", "lead", "random"):
    s = json.load(open(f"{o}/{name}.rouge.json"))
    assert s["n"] == 2 and all(t in s["mean"] for t in ("rouge1", "rouge2", "rougeL", "rougeLsum")), (name, s)
    scores[name] = s["mean"]["rouge1"]["fmeasure"]
# LEAD on real articles scores like a summary (about 0.4 on sumpubmed); a
# 2-step model does not.
assert scores["lead"] > 0.25, scores
print("rouge1 F:", scores, file=sys.stderr)
PY
echo "long_documents: ok"
