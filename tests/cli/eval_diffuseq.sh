#!/usr/bin/env bash
# Golden test: `mds-eval diffuseq` reproduces DiffuSeq's eval_seq2seq.py
# through the CLI: per-candidate (per seed file) averages, self-BLEU, div-4
# and the MBR picks and averages of diffuseq/dev_aggregate.json, and the
# per-line values of bleu/dev.jsonl.
source "$(dirname "$0")/common.bash"
S="${MDS_SHARED_DIR:?MDS_SHARED_DIR not set}/testvectors"

mds-eval diffuseq --hyp-field "" --ref-field reference --candidates-field predictions --per-example \
  "$S/diffuseq/dev.jsonl" > "$tmp/dq.jsonl" || fail "mds-eval diffuseq exited $?"
python3 - "$S" "$tmp/dq.jsonl" <<'PY' || fail "DiffuSeq values differ from the vectors"
import json, sys
sdir, out = sys.argv[1:]
lines = [json.loads(l) for l in open(out)]
rows = [json.loads(l) for l in open(sdir + "/diffuseq/dev.jsonl")]
agg = json.load(open(sdir + "/diffuseq/dev_aggregate.json"))
s = lines[-1]
near = lambda a, b: abs(a - b) <= 1e-9
assert s["metric"] == "diffuseq" and s["n"] == 50 and s["hyp"] is None
for got, want in zip(s["candidates"]["per_candidate_averages"], agg["per_file_averages"]):
    for k in ("avg_bleu", "avg_rougeL", "avg_dist1", "avg_len"):
        assert near(got[k], want[k]), (k, got[k], want[k])
for k in ("avg_selfBleu", "avg_div4"):
    assert near(s["candidates"]["diversity"][k], agg["diversity"][k]), k
for k in ("avg_bleu", "avg_rougeL", "avg_dist1", "avg_len"):
    assert near(s["candidates"]["mbr"][k], agg["mbr"][k]), k
assert s["candidates"]["mbr"]["mbr_index_per_example"] == agg["mbr"]["mbr_index_per_example"]
for r, g in zip(rows, lines[:-1]):
    e = r["expected"]
    assert g["mbr_index"] == e["mbr_index"] and near(g["self_bleu"], e["self_bleu"]) and near(g["div4"], e["div4"]), r["id"]
    for gc, ec in zip(g["candidates"], e["samples"]):
        assert all(near(gc[k], ec[k]) for k in ("bleu", "rougeL", "dist1")) and gc["len"] == ec["len"], r["id"]
PY

mds-eval diffuseq --per-example --hyp-field prediction --ref-field reference "$S/bleu/dev.jsonl" > "$tmp/lines.jsonl"
python3 - "$S" "$tmp/lines.jsonl" <<'PY' || fail "DiffuSeq per-line values differ from the vectors"
import json, sys
sdir, out = sys.argv[1:]
rows = [json.loads(l) for l in open(sdir + "/bleu/dev.jsonl")]
got = [json.loads(l) for l in open(out)]
assert got[-1]["candidates"] is None and got[-1]["n"] == len(rows)
for r, g in zip(rows, got[:-1]):
    w = r["expected"]["diffuseq"]
    assert all(abs(g["hyp"][k] - w[k]) <= 1e-9 for k in ("bleu", "rougeL", "dist1")) and g["hyp"]["len"] == w["len"], r["id"]
PY
echo "eval_diffuseq: ok"
