#!/usr/bin/env bash
# CLI golden test of mds-inspect --export-safetensors / --import-safetensors
# (and mds-inspect FILE.safetensors, which shows the header):
# a short CPU training run goes out as f32 safetensors with its EMA and comes
# back as a checkpoint that samples byte-identically; its bf16 sampling
# export goes out and back and samples identically too; the file is valid
# safetensors (checked with python3's json module when it is installed, by
# hand otherwise); a file whose names or shapes do not match its config, a
# truncated file and a file without mds metadata are refused with exit 3.
source "$(dirname "$0")/common.bash"
cd "$tmp"
data="$MDS_SOURCE_DIR/examples/data"

head -n 6 "$data/qqp_small.test.jsonl" >test.jsonl
tiny_model_files 5
mds-train "${tiny_train[@]}" --threads 2 -o model.mds train.mds 2>/dev/null
sample=(--solver dpm++ --steps 5 --seed 3 --device cpu --threads 2)
mds-sample -m model.mds "${sample[@]}" <test.jsonl >hyp.model.jsonl 2>/dev/null

# ---- flag errors: exit 2 -------------------------------------------------------
expect 2 "--export-ema" mds-inspect model.mds --export-ema
expect 2 "excludes" mds-inspect model.mds --export-safetensors a.safetensors --export-sampling b.mds
expect 2 "exactly one checkpoint file" mds-inspect model.mds model.mds --export-safetensors a.safetensors
expect 2 "--export-dtype needs --export-sampling or --export-safetensors" mds-inspect model.mds --export-dtype f32
expect 2 "is the same file as" mds-inspect model.mds --export-safetensors model.mds
[[ ! -e a.safetensors ]] || fail "a refused export left a file"

# ---- f32 with EMA: out and back, samples byte-identically -----------------------
run mds-inspect model.mds --export-safetensors model.safetensors --export-dtype f32 --export-ema
expect_rc 0
expect_err "wrote model.safetensors"
expect_err "as f32 weights and their EMA"
# The header, read independently of mds: 8-byte little-endian length, JSON.
len=$(od -An -t u8 -N 8 model.safetensors | tr -d ' ')
((len % 8 == 0)) || fail "header length $len is not 8-aligned"
dd if=model.safetensors bs=1 skip=8 count="$len" status=none >header.json
grep -q '"word_embedding":{"dtype":"F32","shape":\[320,16\],"data_offsets":\[' header.json ||
  fail "header lacks word_embedding as F32 [320,16]: $(head -c 300 header.json)"
grep -q '"ema.layer.0.moe.w1":{"dtype":"F32","shape":\[2,64,32\]' header.json || fail "header lacks the EMA MoE weights"
grep -q '"mds.config":' header.json || fail "no config in the metadata"
grep -q '"mds.tokenizer":' header.json || fail "no tokenizer in the metadata"
if command -v python3 >/dev/null; then
  python3 - model.safetensors <<'PY' || fail "python3 does not read the file as safetensors"
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
meta = h.pop("__metadata__")
assert meta["format"] == "pt" and json.loads(meta["mds.config"])["model"]["layers"] == 1
ends = sorted(v["data_offsets"] for v in h.values())
assert ends[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ends, ends[1:])) and ends[-1][1] == len(b) - 8 - n
PY
fi
# mds-inspect shows a safetensors file: metadata and tensor table, or JSON.
run mds-inspect model.safetensors
expect_rc 0
expect_out "(safetensors, 62 tensors, 50496 elements,"
expect_out "mds.weights: weights"
expect_out "mds.tokenizer: ("
grep -qE "ema.layer.0.moe.w1 +F32 +\[2, 64, 32\]" "$tmp/out" || fail "the tensor table lacks ema.layer.0.moe.w1: $(cat "$tmp/out")"
run mds-inspect --json model.safetensors
expect_rc 0
expect_out '"kind":"safetensors"'
run mds-inspect model.safetensors --import-safetensors back.mds
expect_rc 0
expect_err "with their EMA"
mds-sample -m back.mds "${sample[@]}" <test.jsonl >hyp.back.jsonl 2>/dev/null
cmp -s hyp.model.jsonl hyp.back.jsonl || fail "the imported checkpoint samples differently from the original"
# ... and out again: the same file.
mds-inspect back.mds --export-safetensors again.safetensors --export-dtype f32 --export-ema 2>/dev/null
len2=$(od -An -t u8 -N 8 again.safetensors | tr -d ' ')
cmp -s <(tail -c +$((9 + len)) model.safetensors) <(tail -c +$((9 + len2)) again.safetensors) ||
  fail "exporting the imported checkpoint changed the tensor data"

# ---- bf16 sampling checkpoint: out and back, samples identically --------------
mds-inspect model.mds --export-sampling bf16.mds 2>/dev/null
mds-sample -m bf16.mds "${sample[@]}" <test.jsonl >hyp.bf16.jsonl 2>/dev/null
run mds-inspect bf16.mds --export-safetensors bf16.safetensors
expect_rc 0
expect_err "as bf16 EMA weights"
expect 3 "drop --export-ema" mds-inspect bf16.mds --export-safetensors x.safetensors --export-ema
run mds-inspect bf16.safetensors --import-safetensors bf16.back.mds
expect_rc 0
expect_err "(a sampling checkpoint)"
mds-sample -m bf16.back.mds "${sample[@]}" <test.jsonl >hyp.bf16.back.jsonl 2>/dev/null
cmp -s hyp.bf16.jsonl hyp.bf16.back.jsonl || fail "the imported bf16 export samples differently"
((($(stat -c %s bf16.safetensors) * 10) < ($(stat -c %s model.safetensors) * 4))) ||
  fail "the bf16 export without EMA is not well under the f32 one with EMA"

# ---- refusals: exit 3 ----------------------------------------------------------
expect 3 "expected an .mds file of kind 'checkpoint', found kind 'tokenizer'" \
  mds-inspect tok.mds --export-safetensors x.safetensors
head -c 100 model.safetensors >short.safetensors
expect 3 "short.safetensors: byte 0: header length" mds-inspect short.safetensors --import-safetensors x.mds
head -c $((8 + len + 100)) model.safetensors >cut.safetensors
expect 3 "past the end of the file (truncated?)" mds-inspect cut.safetensors --import-safetensors x.mds
printf 'abc' >tiny.safetensors
expect 3 "tiny.safetensors: byte 0: expected a safetensors file (an 8-byte header length), found 3 bytes" \
  mds-inspect tiny.safetensors --import-safetensors x.mds
# A tensor renamed in the header (same length, so the offsets stay valid).
sed 's/"word_embedding"/"word_embeddinx"/' model.safetensors >renamed.safetensors
expect 3 "renamed.safetensors: tensor \"word_embeddinx\" is not a parameter" \
  mds-inspect renamed.safetensors --import-safetensors x.mds
# A config that no longer matches the tensors' shapes.
sed 's/\\"hidden_dim\\":32/\\"hidden_dim\\":16/' model.safetensors >shape.safetensors
cmp -s model.safetensors shape.safetensors && fail "the sed did not change the config"
expect_re 3 "shape.safetensors: tensor \".*\" has shape \[.*\], the model its metadata configures expects" \
  mds-inspect shape.safetensors --import-safetensors x.mds
[[ ! -e x.mds ]] || fail "a refused import left a file"
