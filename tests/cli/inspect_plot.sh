#!/usr/bin/env bash
# mds-inspect --plot (lib/inspect/plot.h): a CPU training log becomes an SVG
# that is well-formed XML (python3's XML parser) and holds one series per
# curve — loss, valid loss, lr, tokens/s and one per expert of each MoE layer —
# with as many points as the log has lines of that kind; a config file and a
# checkpoint become their attention pattern, one grid per dilation with the
# number of attended cells the rule gives; bad input is exit 3, misuse exit 2.
source "$(dirname "$0")/common.bash"
cd "$tmp"
command -v python3 >/dev/null || fail "python3 is needed to check the SVG"

tiny_model_files 6 2
mds-train "${tiny_train[@]}" --threads 2 --valid train.mds --set train.valid_every=3 -o model.mds --log log.jsonl \
  train.mds 2>/dev/null
n_train=$(grep -c '"type":"train"' log.jsonl)
n_valid=$(grep -c '"type":"valid"' log.jsonl)
((n_train == 3 && n_valid >= 2)) || fail "expected 3 train and 2+ valid lines, found $n_train and $n_valid"

run mds-inspect log.jsonl --plot log.svg
expect_rc 0
expect_err "wrote log.svg: the training curves of log.jsonl"
python3 - log.svg "$n_train" "$n_valid" <<'PY' || fail "log.svg: $(head -c 400 log.svg)"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()          # raises on malformed XML
assert root.tag == ns + "svg", root.tag
series = {p.get("data-name"): p for p in root.iter(ns + "polyline") if p.get("class") == "series"}
n_train, n_valid = int(sys.argv[2]), int(sys.argv[3])
want = {"loss": n_train, "valid loss": n_valid, "lr": n_train, "tokens/s": n_train,
        "layer 0 expert 0": n_train, "layer 0 expert 1": n_train}
assert set(series) == set(want), sorted(series)
for name, n in want.items():
    pts = series[name].get("points").split()
    assert len(pts) == n == int(series[name].get("data-points")), (name, len(pts), n)
    for p in pts:
        x, y = map(float, p.split(","))
        assert 0 <= x <= 760 and 0 <= y <= 1000, (name, p)
titles = [g.get("data-title") for g in root.iter(ns + "g") if g.get("class") == "panel"]
assert titles == ["Loss", "Learning rate", "Throughput", "Expert load, MoE layer 0"], titles
PY

# A config file: window 8 over 32 + 32 tokens shown as 48 + 16; two dilations.
cat >pattern.json <<'JSON'
{"model": {"embed_dim": 16, "hidden_dim": 32, "layers": 1, "heads": 2, "ffn_dim": 64, "max_src_len": 32,
           "max_trg_len": 32, "attention_window": 3, "attention_dilation": [1, 2], "global_source_stride": 10}}
JSON
run mds-inspect pattern.json --plot pattern.svg
expect_rc 0
expect_err "the attention pattern of pattern.json"
python3 - pattern.svg <<'PY' || fail "pattern.svg: $(head -c 400 pattern.svg)"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(sys.argv[1]).getroot()
groups = [g for g in root.iter(ns + "g") if g.get("class") == "pattern"]
assert [g.get("data-dilation") for g in groups] == ["1", "2"], [g.get("data-dilation") for g in groups]
# Recount the rule independently: 32 source + [CLS], [SEP], 16 target, [SEP] = 51 positions.
S, T = 32, 16
L, start = S + 2 + T + 1, S + 2
glob = {0, start - 1} | set(range(10, start - 1, 10))
for g, d in zip(groups, (1, 2)):
    n = sum(1 for i in range(L) for j in range(L)
            if i in glob or (abs(j - i) <= 3 * d and (j - i) % d == 0) or j in glob)
    assert int(g.get("data-positions")) == L and int(g.get("data-attended")) == n, (d, g.attrib, n)
    # The drawn cells (runs of a row are one rectangle; the first is the background) add up to n.
    cell = float(g.get("data-cell"))
    assert round(sum(float(r.get("width")) for r in list(g.iter(ns + "rect"))[1:]) / cell) == n, d
PY

# A checkpoint: the config it carries.
run mds-inspect model.mds --plot model.svg
expect_rc 0
python3 -c "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])" model.svg || fail "model.svg is not XML"
grep -q 'class="pattern" data-dilation="1"' model.svg || fail "model.svg has no dilation-1 pattern"

# Refusals.
echo '{"type": "train"}' >nostep.jsonl
expect 3 "nostep.jsonl:1: expected a metrics line of mds-train --log" mds-inspect nostep.jsonl --plot x.svg
grep -v '"type":"train"\|"type":"valid"' log.jsonl >nothing.jsonl
expect 3 "nothing to plot" mds-inspect nothing.jsonl --plot x.svg
expect 3 "without a model config" mds-inspect tok.mds --plot x.svg
echo '{"model": {"heads": 0}}' >badcfg.json
expect 3 "badcfg.json: the model config is invalid" mds-inspect badcfg.json --plot x.svg
expect 2 "exactly one file" mds-inspect log.jsonl log.jsonl --plot x.svg
expect 2 "excludes" mds-inspect model.mds --plot x.svg --export-sampling y.mds
expect 2 "is the same file as" mds-inspect log.jsonl --plot log.jsonl
[[ ! -e x.svg ]] || fail "a refused plot left a file"
