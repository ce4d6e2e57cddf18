#!/usr/bin/env bash
# CLI golden test: mds-tokenize train on text, JSONL, .zst and stdin input;
# exact merges on a tiny corpus; byte-identical output for any thread count;
# bad input lines named by file and line (exit 3) or skipped and counted.
source "$(dirname "$0")/common.bash"

# hug x10, pug x5, pun x12, bun x4, hugs x5: merges ug, un, h+ug, p+un (ids 260-263).
for w in hug:10 pug:5 pun:12 bun:4 hugs:5; do
  for ((i = 0; i < ${w#*:}; i++)); do echo "${w%:*}"; done
done > "$tmp/words.txt"
run mds-tokenize train "$tmp/words.txt" --vocab-size 264 --min-frequency 1 -o "$tmp/tiny.mds"
expect_rc 0
expect_err "trained vocabulary 264 (4 merges, stopped by vocab_size) from 36 texts"
[[ ! -s $tmp/out ]] || fail "train wrote to stdout"
run mds-tokenize encode -m "$tmp/tiny.mds" --text <<< "hugs pun bug"
expect_rc 0
[[ $(cat "$tmp/out") == "262 119 36 263 36 102 260" ]] || fail "unexpected ids: $(cat "$tmp/out")"
run mds-inspect "$tmp/tiny.mds"
expect_rc 0
expect_out "vocabulary 264 (4 specials, 256 bytes, 4 merges)"
expect_out 'last merges: 263="pun" 262="hug" 261="un" 260="ug"'

# min-frequency stops early and says so.
run mds-tokenize train "$tmp/words.txt" --vocab-size 1000 --min-frequency 6 -o "$tmp/min.mds"
expect_rc 0
expect_err "stopped by min_frequency"
expect_err "note: vocabulary is smaller than --vocab-size 1000"

# JSONL (.zst) input: the same tokenizer bytes for 1 and 2 threads, and from stdin.
data=$MDS_SHARED_DIR/data/qqp_diffuseq/valid.jsonl.zst
run mds-tokenize train "$data" --vocab-size 800 --threads 1 -o "$tmp/a.mds"
expect_rc 0
expect_err "from 590 texts"
run mds-tokenize train "$data" --vocab-size 800 --threads 2 -o "$tmp/b.mds"
expect_rc 0
cmp -s "$tmp/a.mds" "$tmp/b.mds" || fail "tokenizer differs between 1 and 2 threads"
zstd -dc "$data" > "$tmp/plain.jsonl"
mds-tokenize train --format jsonl --vocab-size 800 -q < "$tmp/plain.jsonl" > "$tmp/c.mds" || fail "stdin training failed"
run mds-inspect --json "$tmp/a.mds" "$tmp/c.mds"
expect_rc 0
[[ $(grep -o '"hash":"fnv1a64:[0-9a-f]*"' "$tmp/out" | sort -u | wc -l) == 1 ]] || fail "stdin and file training differ"
# --fields picks the JSONL fields: src only differs from src+trg.
run mds-tokenize train "$data" --vocab-size 800 --fields src -o "$tmp/src.mds"
expect_rc 0
expect_err "from 295 texts"

# Bad lines: exit 3 naming file:line; --skip-bad counts them.
printf '%s\n' '{"src": "a b", "trg": "c"}' '{"src": "x", "trg": 5}' '{"src": "y"' '{"src": "z", "trg": "w"}' > "$tmp/bad.jsonl"
run mds-tokenize train "$tmp/bad.jsonl" -o "$tmp/bad.mds"
expect_rc 3
expect_err "mds-tokenize: error: $tmp/bad.jsonl:2: field \"trg\" must be a string, found number"
[[ ! -e $tmp/bad.mds ]] || fail "failed training left an output file"
run mds-tokenize train "$tmp/bad.jsonl" --skip-bad -o "$tmp/bad.mds"
expect_rc 0
expect_err "skipped 2 bad lines"
expect_err "from 4 texts"
# Invalid UTF-8 in JSONL is bad input.
printf '{"src": "caf\xe9", "trg": "x"}\n' > "$tmp/latin1.jsonl"
run mds-tokenize train "$tmp/latin1.jsonl" -o "$tmp/l.mds"
expect_rc 3
expect_err "$tmp/latin1.jsonl:1: invalid UTF-8 at byte 12"
# Plain text accepts any bytes.
head -c 20000 /dev/urandom > "$tmp/random.bin"
run mds-tokenize train "$tmp/random.bin" --format text --vocab-size 300 -o "$tmp/r.mds"
expect_rc 0
# A missing input is an I/O failure (exit 1) naming the file.
run mds-tokenize train "$tmp/nope.txt" -o "$tmp/n.mds"
expect_rc 1
expect_err "$tmp/nope.txt: cannot open"
echo "tokenize_train: ok"
