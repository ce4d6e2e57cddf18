#!/usr/bin/env bash
# CLI golden test: mds-inspect on tokenizers, shards (file and stdin, text and
# --json) and unknown kinds; usage errors (exit 2); bad files (exit 3 naming
# the file and offset).
source "$(dirname "$0")/common.bash"

run mds-inspect --help
expect_rc 0
for flag in --json --tokenizer --top --samples; do expect_out "$flag"; done
run mds-inspect --version
expect_rc 0
expect_out "mds-inspect 0.1.0"
run mds-inspect --bogus
expect_rc 2
expect_err "Run 'mds-inspect --help' for usage."
run mds-inspect --top x file.mds
expect_rc 2
run mds-inspect --tokenizer "$tmp/missing.mds" file.mds
expect_rc 2

printf '%s\n' '{"src":"the cat sat on the mat","trg":"a cat"}' '{"src":"the dog","trg":"the dog barked at the cat"}' > "$tmp/p.jsonl"
mds-tokenize train "$tmp/p.jsonl" --vocab-size 280 --samples 2 -q -o "$tmp/tok.mds"
mds-tokenize encode -m "$tmp/tok.mds" "$tmp/p.jsonl" -q -o "$tmp/p.shard"

run mds-inspect "$tmp/tok.mds" --samples 7
expect_rc 0
expect_out "file: $tmp/tok.mds ("
expect_out "unit at offset 0: kind tokenizer, format version 1"
expect_out "specials: 0=[PAD] 1=[CLS] 2=[SEP] 3=[MASK]"
expect_out "self-test: passed (7 samples)"
expect_out '"the cat sat on the mat" ->'
expect_out "merges                       u32   [9, 2]"

run mds-inspect "$tmp/p.shard" --tokenizer "$tmp/tok.mds" --top 3
expect_rc 0
expect_out "kind: shard, format version 1"
expect_out "records: 2"
expect_out "truncated records: src 0, trg 0"
expect_out "most frequent tokens (src + trg):"
expect_out '     1      36            5  17.24%  " "'
expect_out '     3     262            3  10.34%  "the"'
[[ $(grep -c '^ \+[0-9] \+[0-9]\+ \+[0-9]\+ ' "$tmp/out") == 3 ]] || fail "--top 3 should list 3 tokens"

# stdin, and several files as JSON lines.
mds-inspect < "$tmp/p.shard" > "$tmp/stdin.txt"
grep -qF "file: <stdin>" "$tmp/stdin.txt" || fail "stdin not inspected"
run mds-inspect --json "$tmp/tok.mds" "$tmp/p.shard"
expect_rc 0
[[ $(wc -l < "$tmp/out") == 2 ]] || fail "--json should print one line per file"
expect_out '"kind":"tokenizer"'
expect_out '"records":2'
expect_out '"src_length":{'

# Bad files: exit 3, naming the file and the offset.
echo "not an mds file" > "$tmp/junk.mds"
run mds-inspect "$tmp/junk.mds"
expect_rc 3
expect_err "mds-inspect: error: $tmp/junk.mds: offset 0: wrong magic"
head -c 150 "$tmp/p.shard" > "$tmp/cut.shard"
run mds-inspect "$tmp/cut.shard"
expect_rc 3
expect_err "$tmp/cut.shard: offset"
: > "$tmp/empty.mds"
run mds-inspect "$tmp/empty.mds"
expect_rc 3
expect_err "$tmp/empty.mds: empty file"
zstd -q -c "$tmp/p.jsonl" > "$tmp/plain.zst"
run mds-inspect "$tmp/plain.zst"
expect_rc 3
expect_err "plain zstd stream"
run mds-inspect "$tmp/none.mds"
expect_rc 1
expect_err "$tmp/none.mds: cannot open"
echo "inspect_basic: ok"
