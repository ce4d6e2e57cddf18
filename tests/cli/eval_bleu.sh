#!/usr/bin/env bash
# Golden test: `mds-eval bleu` reproduces sacrebleu through the CLI: corpus
# BLEU with each option variant, chrF and chrF++ for every corpus of
# bleu/dev_corpus.jsonl (multi-reference arrays included), and sentence BLEU /
# chrF per line with --per-example.
source "$(dirname "$0")/common.bash"
V="${MDS_SHARED_DIR:?MDS_SHARED_DIR not set}/testvectors/bleu"

# One JSONL input file per corpus.
python3 - "$V" "$tmp" <<'PY'
import json, sys
vdir, tmp = sys.argv[1:]
names = []
for l in open(vdir + "/dev_corpus.jsonl"):
    c = json.loads(l)
    with open(f"{tmp}/{c['name']}.jsonl", "w") as f:
        for h, r in zip(c["prediction"], c["reference"]):
            f.write(json.dumps({"hyp": h, "trg": r}) + "\n")
    names.append(c["name"])
open(tmp + "/names", "w").write("\n".join(names) + "\n")
PY
while read -r name; do
  in="$tmp/$name.jsonl"
  mds-eval bleu "$in" > "$tmp/$name.bleu.json"
  mds-eval bleu --lowercase --no-chrf "$in" > "$tmp/$name.bleu_lowercase.json"
  mds-eval bleu --smooth none --no-chrf "$in" > "$tmp/$name.bleu_smooth_none.json"
  mds-eval bleu --smooth floor --no-chrf "$in" > "$tmp/$name.bleu_smooth_floor_0.1.json"
  mds-eval bleu --smooth add-k --no-chrf "$in" > "$tmp/$name.bleu_smooth_add-k_1.json"
  mds-eval bleu --tokenize none --no-chrf "$in" > "$tmp/$name.bleu_tokenize_none.json"
  mds-eval bleu --chrf-word-order 2 -t 1 < "$in" > "$tmp/$name.chrfpp.json"
done < "$tmp/names"
python3 - "$V" "$tmp" <<'PY' || fail "corpus BLEU/chrF differ from the vectors"
import json, sys
vdir, tmp = sys.argv[1:]
bad = 0
def near(a, b): return abs(a - b) <= 1e-9
for l in open(vdir + "/dev_corpus.jsonl"):
    c = json.loads(l)
    for key, want in c["expected"].items():
        if key == "chrf":
            got = json.load(open(f"{tmp}/{c['name']}.bleu.json"))["chrf"]
        elif key == "chrf++":
            got = json.load(open(f"{tmp}/{c['name']}.chrfpp.json"))["chrf"]
        else:
            got = json.load(open(f"{tmp}/{c['name']}.{key}.json"))["bleu"]
        for field, v in want.items():
            ok = near(got[field], v) if isinstance(v, float) else \
                 all(near(x, y) for x, y in zip(got[field], v)) and len(got[field]) == len(v) if isinstance(v, list) else got[field] == v
            if not ok:
                bad += 1; print(c["name"], key, field, got[field], v)
sys.exit(1 if bad else 0)
PY

# Sentence-level values (sacrebleu.sentence_bleu / sentence_chrf) per line.
mds-eval bleu --per-example --hyp-field prediction --ref-field reference "$V/dev.jsonl" > "$tmp/sent.jsonl"
python3 - "$V" "$tmp/sent.jsonl" <<'PY' || fail "sentence BLEU/chrF differ from the vectors"
import json, sys
vdir, out = sys.argv[1:]
rows = [json.loads(l) for l in open(vdir + "/dev.jsonl")]
got = [json.loads(l) for l in open(out)][:-1]
assert len(got) == len(rows)
for r, g in zip(rows, got):
    w = r["expected"]["sacrebleu_sentence_bleu"]
    assert abs(g["bleu"]["score"] - w["score"]) <= 1e-9, r["id"]
    assert g["bleu"]["formatted"] == w["formatted"], (r["id"], g["bleu"]["formatted"], w["formatted"])
    assert g["bleu"]["counts"] == w["counts"] and g["bleu"]["totals"] == w["totals"], r["id"]
    c = r["expected"]["sacrebleu_sentence_chrf"]
    assert abs(g["chrf"]["score"] - c["score"]) <= 1e-9 and g["chrf"]["formatted"] == c["formatted"], r["id"]
PY
# The signature is part of the summary.
grep -q '"signature":"nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"' "$tmp/dev_all.bleu.json" ||
  fail "BLEU signature missing from the summary"
echo "eval_bleu: ok"
