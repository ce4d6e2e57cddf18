#!/usr/bin/env bash
# Writes the seed corpus of every fuzz target (tests/fuzz/README.md) into
# OUT/<target>/, from tiny valid files made by the tools of BUILD (so the
# seeds always follow the current formats) plus a few hand-written texts.
# Usage: tests/fuzz/make-corpus.sh BUILD OUT
set -euo pipefail
build=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
for t in container shard tokenizer checkpoint jsonl config cli; do mkdir -p "$out/$t"; done

# Binary targets read "mode byte + file": bit 0 set = checksums repaired
# after mutation (fuzz_util.h); fuzz_shard's bit 1 picks its unit mode.
seed() {  # seed TARGET NAME FILE: the file with mode bytes 0 and 1
  { printf '\x00'; cat "$3"; } >"$out/$1/$2-0"
  { printf '\x01'; cat "$3"; } >"$out/$1/$2-1"
}

head -n 6 "$src/examples/data/qqp_small.train.jsonl" >pairs.jsonl
"$build/mds-tokenize" train -q --vocab-size 270 --samples 2 -o tok.mds pairs.jsonl
"$build/mds-tokenize" encode -q -m tok.mds --max-src-len 8 --max-trg-len 8 --records-per-unit 4 -o shard.mds pairs.jsonl
: | "$build/mds-tokenize" encode -q -m tok.mds -o empty.mds
cat >run.json <<'JSON'
{"model": {"embed_dim": 4, "hidden_dim": 8, "layers": 1, "heads": 1, "ffn_dim": 8, "time_embed_dim": 4,
           "time_hidden_dim": 8, "max_src_len": 8, "max_trg_len": 8, "attention_window": 4,
           "moe_experts": 2, "moe_top_k": 1, "diffusion_steps": 10},
 "train": {"steps": 1, "batch_size": 2, "lr": 0.001, "warmup_steps": 1, "log_every": 0, "checkpoint_every": 0}}
JSON
"$build/mds-train" --config run.json --tokenizer tok.mds --no-progress --device cpu --threads 1 -o ck.mds shard.mds \
  2>/dev/null >/dev/null
"$build/mds-inspect" ck.mds --export-sampling samp.mds --export-dtype f32 >/dev/null 2>&1

seed container tokenizer tok.mds
seed container shard shard.mds
seed tokenizer tokenizer tok.mds
seed shard shard shard.mds
seed shard empty empty.mds
printf '\x03\x02\x03\x02\x10\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x06\x00\x00\x00\x07\x00\x00\x00\x08\x00\x00\x00\x09\x00\x00\x00' \
  >"$out/shard/unit-mode"
seed checkpoint sampling samp.mds
seed checkpoint training ck.mds

cp pairs.jsonl "$out/jsonl/pairs"
printf '%s\n' '{"hyp":"a cat","trg":["the cat","a cat sat"],"candidates":["a","b"]}' '' '{"src":"x","trg":1}' \
  '{"src":"\ud83d\ude00 \u00e9","trg":"\\n","deep":[[[{"a":[1e308,-0.0]}]]]}' >"$out/jsonl/mixed"
printf 'train.lr=0.01\n' >"$out/config/lr"
{ echo 'model.layers=2'; cat "$src/examples/configs/tiny.json"; } >"$out/config/tiny"
{ echo 'train.lr_schedule=cosine'; cat run.json; } >"$out/config/run"

cli() {  # cli NAME TOOL_INDEX ARGS...: tokenize 0, inspect 1, train 2, sample 3, eval 4
  local name=$1 tool=$2
  shift 2
  { printf "\\x0$tool"; printf '%s\0' "$@"; } >"$out/cli/$name"
}
cli encode 0 encode -m tok.mds --max-src-len 4096 --max-trg-len 512 --truncate start --records-per-unit 8 in.jsonl
cli train-tok 0 train --vocab-size 16384 --min-frequency 2 -o tok.mds in.jsonl
cli inspect 1 --json --top 5 --samples 3 x.mds
cli train 2 --config c.json --set train.lr=0.1 --steps 10 --seed 3 --threads 2 -o m.mds a.mds
cli sample 3 -m m.mds --solver ddim --steps 20 --mbr 3 --batch-size 8 --seed 1 --absorb-rate 0.5 --idle-flush 50
cli eval 4 rouge --stem --no-bootstrap --hyp h.txt --ref r.txt
cli help 3 --help
echo "make-corpus: seeds in $out: $(find "$out" -type f | wc -l) files, $(du -sk "$out" | cut -f1) KiB"
