#!/usr/bin/env bash
# Golden test: every JSON reader of every tool refuses a value nested deeper
# than 512 arrays/objects and a number beyond a double (1e999) with a message
# naming the file and line (or line and column) and the documented exit code:
# 3 for JSONL and other data, 2 for config files and --set. A record nested
# 100,000 levels used to crash mds-sample (SIGSEGV); the others took it.
source "$(dirname "$0")/common.bash"
cd "$tmp"
data="$MDS_SOURCE_DIR/examples/data"

# nest N: a JSON array nested N levels deep.
nest() { python3 -c "import sys; n = int(sys.argv[1]); print('[' * n + ']' * n, end='')" "$1"; }
good='{"src":"How do I learn to cook?","trg":"What is the best way to learn cooking?","hyp":"How to cook?"}'
printf '%s\n{"src":"a","trg":"b","hyp":"c","x":%s}\n' "$good" "$(nest 100000)" >deep.jsonl
printf '%s\n{"src":"a","trg":"b","hyp":"c","x":%s}\n' "$good" "$(nest 513)" >deep513.jsonl
printf '%s\n{"src":"a","trg":"b","hyp":"c","x":%s}\n' "$good" "$(nest 511)" >deep512.jsonl  # 512 with the record
printf '%s\n{"src":"a","trg":"b","hyp":"c","n":1e999}\n' "$good" >huge.jsonl
# Line 2's first '[' is byte 36 and opens level 2 (the record is level 1), so
# the 512th '[', byte 547, opens level 513.
deep_msg='deep.jsonl:2: JSON nested too deeply at byte 547 of the line: expected at most 512 levels of arrays and objects'
huge_msg='huge.jsonl:2: number out of range at byte 36 of the line: expected a finite number within about +-1.8e308, found 1e999'

# ---- mds-tokenize train and encode --------------------------------------------
expect 3 "$deep_msg" mds-tokenize train -q --vocab-size 300 -o t.mds deep.jsonl
expect 3 "deep513.jsonl:2: JSON nested too deeply at byte 547" mds-tokenize train -q --vocab-size 300 -o t.mds deep513.jsonl
expect 3 "$huge_msg" mds-tokenize train -q --vocab-size 300 -o t.mds huge.jsonl
run mds-tokenize train -q --vocab-size 300 -o t.mds deep512.jsonl
expect_rc 0
expect 0 "skipped 2 bad lines" mds-tokenize train --vocab-size 300 -o t.mds --skip-bad deep.jsonl huge.jsonl
head -n 32 "$data/qqp_small.train.jsonl" >pairs.jsonl
mds-tokenize train -q --vocab-size 320 --min-frequency 1 -o tok.mds pairs.jsonl
expect 3 "$deep_msg" mds-tokenize encode -q -m tok.mds -o s.mds deep.jsonl
expect 3 "$huge_msg" mds-tokenize encode -q -m tok.mds -o s.mds huge.jsonl
[[ ! -e s.mds ]] || fail "a refused encode left a shard"

# ---- mds-eval (rouge, bleu, diffuseq read through one JSONL reader) ----------
for cmd in rouge bleu diffuseq; do
  expect 3 "$deep_msg" mds-eval $cmd deep.jsonl
  expect 3 "$huge_msg" mds-eval $cmd huge.jsonl
done
expect 0 "skipped 1 bad record" mds-eval rouge --no-bootstrap --skip-bad deep.jsonl

# ---- mds-train: config files and --set values are usage errors (exit 2) -------
mds-tokenize encode -q -m tok.mds --max-src-len 16 --max-trg-len 16 -o train.mds pairs.jsonl
cat >run.json <<'JSON'
{"model": {"embed_dim": 8, "hidden_dim": 16, "layers": 1, "heads": 2, "ffn_dim": 16, "time_embed_dim": 8,
           "time_hidden_dim": 16, "max_src_len": 16, "max_trg_len": 16, "attention_window": 4,
           "moe_experts": 0, "diffusion_steps": 20},
 "train": {"steps": 1, "batch_size": 4, "lr": 0.001, "warmup_steps": 0, "log_every": 0, "checkpoint_every": 0}}
JSON
common=(--tokenizer tok.mds --threads 2 --no-progress --device cpu)
printf '{"model": {},\n "train": {"lr": 1e999}}\n' >huge.json
expect 2 "huge.json: number out of range at line 2, column 18: expected a finite number" \
  mds-train --config huge.json "${common[@]}" -o m.mds train.mds
printf '{"model": {},\n "train": {"x": %s}}\n' "$(nest 100000)" >deep.json
expect 2 "deep.json: JSON nested too deeply at line 2, column 527: expected at most 512 levels" \
  mds-train --config deep.json "${common[@]}" -o m.mds train.mds
expect 2 "--set train.lr=1e999: number out of range at byte 1 of the value" \
  mds-train --config run.json "${common[@]}" -o m.mds --set train.lr=1e999 train.mds
expect 2 "--set model.x=[[[" mds-train --config run.json "${common[@]}" -o m.mds --set "model.x=$(nest 1000)" train.mds
expect_err "JSON nested too deeply at byte 513 of the value"
[[ ! -e m.mds ]] || fail "a refused config wrote a checkpoint"
mds-train --config run.json "${common[@]}" -o model.mds train.mds 2>train.err || fail "mds-train: $(cat train.err)"

# ---- mds-sample: the record that crashed it ------------------------------------
sample=(-m model.mds --threads 2 --device cpu --steps 2 -q)
expect 3 "$deep_msg" mds-sample "${sample[@]}" deep.jsonl
expect 3 "$huge_msg" mds-sample "${sample[@]}" huge.jsonl
run mds-sample "${sample[@]}" deep512.jsonl
expect_rc 0
[[ $(wc -l <"$tmp/out") == 2 ]] || fail "depth 512 was not sampled: $(cat "$tmp/out")"
expect 0 "3 records (1 skipped)" mds-sample -m model.mds --threads 2 --device cpu --steps 2 --skip-bad deep.jsonl deep512.jsonl

# ---- mds-inspect --export-about: a JSON data file (exit 3) ---------------------
printf '{"data":\n %s}\n' "$(nest 100000)" >deep_about.json
expect 3 "deep_about.json: JSON nested too deeply at line 2, column 513" \
  mds-inspect model.mds --export-sampling x.mds --export-about deep_about.json
printf '{"score": -1e999}\n' >huge_about.json
expect 3 "huge_about.json: number out of range at line 1, column 11" \
  mds-inspect model.mds --export-sampling x.mds --export-about huge_about.json
[[ ! -e x.mds ]] || fail "a refused export left a file"
echo "json_limits: ok"
