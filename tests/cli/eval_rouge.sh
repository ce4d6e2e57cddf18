#!/usr/bin/env bash
# Golden test: `mds-eval rouge` reproduces the rouge-score vectors through the
# CLI (per-example scores with and without --stem, numpy means, bootstrap
# intervals for a recorded seed), gives the same bytes on 1 and 2 threads,
# and reads line-aligned text files like JSONL.
source "$(dirname "$0")/common.bash"
V="${MDS_SHARED_DIR:?MDS_SHARED_DIR not set}/testvectors/rouge"

for stem in nostem stem; do
  flag=""; [[ $stem == stem ]] && flag="--stem"
  mds-eval rouge $flag --per-example --hyp-field prediction --ref-field reference --seed 0 -t 2 \
    "$V/dev.jsonl" > "$tmp/$stem.jsonl" || fail "mds-eval rouge $flag exited $?"
  mds-eval rouge $flag --per-example --hyp-field prediction --ref-field reference --seed 0 -t 1 \
    < "$V/dev.jsonl" > "$tmp/$stem.t1.jsonl" || fail "mds-eval rouge $flag (1 thread) exited $?"
  python3 - "$V" "$tmp/$stem.jsonl" "$tmp/$stem.t1.jsonl" "$stem" <<'PY' || fail "rouge $stem values differ from the vectors"
import json, sys
vdir, out, out1, stem = sys.argv[1:]
rows = [json.loads(l) for l in open(vdir + "/dev.jsonl")]
lines = [json.loads(l) for l in open(out)]
lines1 = [json.loads(l) for l in open(out1)]
assert len(lines) == len(rows) + 1, (len(lines), len(rows))
bad = 0
for r, got in zip(rows, lines):
    for t, want in r["expected"][stem].items():
        for m in ("precision", "recall", "fmeasure"):
            if abs(got[t][m] - want[m]) > 1e-9:
                bad += 1
                print(r["id"], t, m, got[t][m], want[m])
summary, summary1 = lines[-1], lines1[-1]
assert summary["metric"] == "rouge" and summary["n"] == 150 and summary["config"]["stem"] == (stem == "stem")
# Output does not depend on the thread count (apart from the recorded count and source).
for a, b in ((lines[:-1], lines1[:-1]), ([summary["mean"], summary["bootstrap"]], [summary1["mean"], summary1["bootstrap"]])):
    assert a == b, "thread count changed the scores"
agg = json.load(open(vdir + "/dev_aggregate.json"))
cfg = [c for c in agg["configs"] if c["use_stemmer"] == (stem == "stem") and c["subset"] == "all" and "only_type" not in c][0]
for t, want in cfg["mean"].items():
    for m, v in want.items():
        if abs(summary["mean"][t][m] - v) > 1e-9:
            bad += 1; print("mean", t, m)
boot = [b for b in cfg["bootstrap"] if b["seed"] == 0][0]
for t, res in boot["result"].items():
    for k in ("low", "mid", "high"):
        for m, v in res[k].items():
            if abs(summary["bootstrap"][t][k][m] - v) > 1e-9:
                bad += 1; print("bootstrap", t, k, m)
sys.exit(1 if bad else 0)
PY
done

# A seed / sample count / confidence other than the default, and a single type.
mds-eval rouge --types rougeLsum --seed 0 --hyp-field prediction --ref-field reference "$V/dev.jsonl" > "$tmp/lsum.json"
mds-eval rouge --bootstrap-samples 200 --confidence 0.9 --seed 5 --hyp-field prediction --ref-field reference \
  "$V/dev.jsonl" > "$tmp/s5.json"
python3 - "$V" "$tmp/lsum.json" "$tmp/s5.json" <<'PY' || fail "bootstrap options differ from the vectors"
import json, sys
vdir, lsum, s5 = sys.argv[1:]
agg = json.load(open(vdir + "/dev_aggregate.json"))
def check(got, want):
    for t, res in want.items():
        for k in ("low", "mid", "high"):
            for m, v in res[k].items():
                assert abs(got[t][k][m] - v) <= 1e-9, (t, k, m, got[t][k][m], v)
only = [c for c in agg["configs"] if c.get("only_type") == "rougeLsum"][0]
check(json.load(open(lsum))["bootstrap"], only["bootstrap"][0]["result"])
cfg = [c for c in agg["configs"] if not c["use_stemmer"] and c["subset"] == "all" and "only_type" not in c][0]
b5 = [b for b in cfg["bootstrap"] if b["seed"] == 5][0]
got = json.load(open(s5))
assert got["config"]["bootstrap"] == {"n_samples": 200, "confidence_interval": 0.9, "seed": 5}
check(got["bootstrap"], b5["result"])
PY

# Plain-text mode: line-aligned files give the JSONL numbers.
printf 'the cat sat on the mat\nA quick brown fox\n\n' > "$tmp/ref.txt"
printf 'the cat sat\nthe quick brown fox jumps\nsomething\n' > "$tmp/hyp.txt"
mds-eval rouge --hyp "$tmp/hyp.txt" --ref "$tmp/ref.txt" --no-bootstrap > "$tmp/text.json"
printf '%s\n' '{"hyp":"the cat sat","trg":"the cat sat on the mat"}' '{"hyp":"the quick brown fox jumps","trg":"A quick brown fox"}' \
  '{"hyp":"something","trg":""}' | mds-eval rouge --no-bootstrap > "$tmp/jsonl.json"
python3 - "$tmp/text.json" "$tmp/jsonl.json" <<'PY' || fail "text mode differs from JSONL mode"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["n"] == 3 and a["mean"] == b["mean"], (a["mean"], b["mean"])
assert a["config"]["input"]["source"].startswith("text:")
PY
echo "eval_rouge: ok"
