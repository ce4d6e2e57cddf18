#!/usr/bin/env bash
# CLI golden test of mds-inspect --export-sampling: a short CPU training run is
# exported as f32 (samples byte-identically to the training checkpoint) and
# bf16 (about half the f32 export's size, samples every source, records its
# dtype and the trainer's step); the export refuses to resume training, to be
# exported again, and non-checkpoints (exit 3); flag errors (exit 2).
source "$(dirname "$0")/common.bash"
cd "$tmp"
data="$MDS_SOURCE_DIR/examples/data"

check_help_and_man mds-inspect

head -n 6 "$data/qqp_small.test.jsonl" >test.jsonl
tiny_model_files 5
mds-train "${tiny_train[@]}" --threads 2 -o model.mds train.mds 2>/dev/null

# ---- flag errors: exit 2 -------------------------------------------------------
expect 2 "--export-dtype" mds-inspect --export-dtype bf16 model.mds
expect 2 "--export-dtype" mds-inspect model.mds --export-sampling x.mds --export-dtype f16
expect 2 "exactly one checkpoint" mds-inspect model.mds model.mds --export-sampling x.mds
[[ ! -e x.mds ]] || fail "a refused export left a file"

# ---- f32 export: the sampler's output is unchanged -----------------------------
run mds-inspect model.mds --export-sampling f32.mds --export-dtype f32
expect_rc 0
expect_err "as f32 EMA weights (step 5)"
sample=(--solver dpm++ --steps 5 --seed 3 --device cpu --threads 2)
mds-sample -m model.mds "${sample[@]}" <test.jsonl >hyp.train.jsonl 2>/dev/null
mds-sample -m f32.mds "${sample[@]}" <test.jsonl >hyp.f32.jsonl 2>/dev/null
cmp -s hyp.train.jsonl hyp.f32.jsonl || fail "the f32 export samples differently from its training checkpoint"

# ---- bf16 export (the default), with about metadata -----------------------------
echo '{"data": "64 QQP pairs", "scores": {"rougeL": 0.5}}' >about.json
run mds-inspect model.mds --export-sampling bf16.mds --export-about about.json
expect_rc 0
expect_err "as bf16 EMA weights (step 5)"
f32_size=$(stat -c %s f32.mds) bf16_size=$(stat -c %s bf16.mds) train_size=$(stat -c %s model.mds)
((bf16_size * 10 < f32_size * 7)) || fail "bf16 export ($bf16_size bytes) is not well under the f32 one ($f32_size)"
((f32_size * 2 < train_size)) || fail "f32 export ($f32_size bytes) does not drop the training state ($train_size)"
run mds-inspect bf16.mds
expect_rc 0
expect_out '"dtype": "bf16"'
expect_out '"weights": "ema"'
expect_out '"rougeL": 0.5'
expect_out "param/word_embedding"
grep -q "adam_m/\|ema/\|sampler/" "$tmp/out" && fail "the export still holds training state"
grep -qE "param/word_embedding +bf16" "$tmp/out" || fail "weights are not stored as bf16"
run mds-sample -m bf16.mds "${sample[@]}" --meta meta.json <test.jsonl
expect_rc 0
[[ $(wc -l <"$tmp/out") == 6 ]] || fail "the bf16 export did not sample every source"
grep -q '"hyp":' "$tmp/out" || fail "no hyp field"
grep -q 'bf16 EMA weights (sampling checkpoint)' meta.json || fail "the sampler meta does not name the export"

# ---- refusals: exit 3 ----------------------------------------------------------
expect 3 "not a training checkpoint" mds-train --resume bf16.mds -o again.mds --device cpu train.mds
expect 3 "already a sampling checkpoint" mds-inspect bf16.mds --export-sampling again.mds
expect 3 "expected an .mds file of kind 'checkpoint', found kind 'tokenizer'" mds-inspect tok.mds --export-sampling again.mds
echo '[1, 2' >bad.json
expect 3 "bad.json: invalid JSON at byte" mds-inspect model.mds --export-sampling again.mds --export-about bad.json
echo '[1, 2]' >array.json
expect 3 "array.json: expected a JSON object, found array" mds-inspect model.mds --export-sampling again.mds --export-about array.json
[[ ! -e again.mds ]] || fail "a refused export left a file"
echo "inspect_export: ok"
