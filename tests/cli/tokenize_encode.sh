#!/usr/bin/env bash
# CLI golden test: mds-tokenize encode/decode. JSONL -> shard -> JSONL is
# byte-exact; text lines of random bytes -> ids -> text is byte-exact;
# truncation is counted on stderr; shards pipe through stdout/stdin; bad
# lines and bad files exit 3 naming the file and line or offset.
source "$(dirname "$0")/common.bash"

data=$MDS_SHARED_DIR/data/dailydialog/valid.jsonl.zst
mds-tokenize train "$data" --vocab-size 2000 -q -o "$tmp/tok.mds"

# Pairs written the way decode writes JSON (compact, UTF-8 unescaped), so the
# round trip can be compared byte for byte. Includes specials-as-text,
# escapes, non-ASCII and an empty target.
cat > "$tmp/pairs.jsonl" <<'JSONL'
{"src":"How are you today?","trg":"I'm fine, thanks."}
{"src":"[PAD] [CLS] [SEP] [MASK] stay text","trg":"tab\there \"quoted\" back\\slash\nnewline"}
{"src":"naïve café — 東京 😀","trg":""}
{"src":"   leading and trailing spaces   ","trg":"12345 67.89 0xFF"}
JSONL
run mds-tokenize encode -m "$tmp/tok.mds" "$tmp/pairs.jsonl" -o "$tmp/pairs.shard"
expect_rc 0
expect_err "encoded 4 records"
expect_err "truncated: 0 src, 0 trg (policy end); skipped 0 bad lines"
run mds-tokenize decode -m "$tmp/tok.mds" "$tmp/pairs.shard"
expect_rc 0
cmp -s "$tmp/out" "$tmp/pairs.jsonl" || fail "JSONL round trip differs: $(diff "$tmp/out" "$tmp/pairs.jsonl")"

# Through a pipe (shard on stdout, read from stdin), with 2 threads.
mds-tokenize encode -m "$tmp/tok.mds" --threads 2 -q < "$tmp/pairs.jsonl" | mds-tokenize decode -m "$tmp/tok.mds" > "$tmp/piped.jsonl"
cmp -s "$tmp/piped.jsonl" "$tmp/pairs.jsonl" || fail "piped round trip differs"

# A real data set, 1 and 2 threads: identical shard bytes.
mds-tokenize encode -m "$tmp/tok.mds" "$data" --threads 1 -q -o "$tmp/d1.shard"
mds-tokenize encode -m "$tmp/tok.mds" "$data" --threads 2 -q -o "$tmp/d2.shard"
cmp -s "$tmp/d1.shard" "$tmp/d2.shard" || fail "shard differs between 1 and 2 threads"

# Truncation: counts on stderr, recorded in the shard.
run mds-tokenize encode -m "$tmp/tok.mds" "$tmp/pairs.jsonl" --max-src-len 4 --max-trg-len 3 --truncate start -o "$tmp/t.shard"
expect_rc 0
expect_err "truncated: 4 src, 3 trg (policy start)"
run mds-inspect "$tmp/t.shard"
expect_rc 0
expect_out "truncated records: src 4, trg 3"
expect_out "limits: max_src_len 4, max_trg_len 3 (0 = none), truncate start"
expect_out "src length: min 4 mean 4.0 p50 4 p90 4 p99 4 max 4"
run mds-tokenize encode -m "$tmp/tok.mds" "$tmp/pairs.jsonl" --max-src-len 4 --truncate error -o "$tmp/e.shard"
expect_rc 3
expect_err "$tmp/pairs.jsonl:1: field \"src\" has"
expect_err "more than the limit 4 (--truncate error)"
[[ ! -e $tmp/e.shard ]] || fail "a failed encode left an output file"
run mds-tokenize encode -m "$tmp/tok.mds" "$tmp/pairs.jsonl" --max-src-len 6 --truncate error --skip-bad -o "$tmp/e.shard"
expect_rc 0
expect_err "skipped 3 bad lines"
expect_err "skipped $tmp/pairs.jsonl:2: field \"src\" has"

# Text mode: random bytes (NULs, invalid UTF-8, \r) survive line by line.
head -c 300000 /dev/urandom > "$tmp/random.bin"
printf '\n' >> "$tmp/random.bin"
run mds-tokenize encode -m "$tmp/tok.mds" --text "$tmp/random.bin" -o "$tmp/random.ids"
expect_rc 0
[[ $(wc -l < "$tmp/random.ids") == $(wc -l < "$tmp/random.bin") ]] || fail "one ids line per input line expected"
mds-tokenize decode -m "$tmp/tok.mds" --ids "$tmp/random.ids" > "$tmp/random.back"
cmp -s "$tmp/random.bin" "$tmp/random.back" || fail "random bytes did not round-trip"
# Specials in text are plain bytes; --keep-special names special ids.
[[ $(echo "[SEP]" | mds-tokenize encode -m "$tmp/tok.mds" --text -q | tr ' ' '\n' | awk '$1 < 4' | wc -l) == 0 ]] ||
  fail "text produced a special id"
run mds-tokenize decode -m "$tmp/tok.mds" --ids --keep-special <<< "1 108 109 2 0"
expect_rc 0
[[ $(cat "$tmp/out") == "[CLS]hi[SEP][PAD]" ]] || fail "keep-special: $(cat "$tmp/out")"
run mds-tokenize decode -m "$tmp/tok.mds" --ids <<< "1 108 109 2 0"
[[ $(cat "$tmp/out") == "hi" ]] || fail "skip specials: $(cat "$tmp/out")"

# Bad input: file:line (exit 3) or counted with --skip-bad.
printf '%s\n' '{"src":"a","trg":"b"}' 'not json' '{"trg":"x"}' > "$tmp/bad.jsonl"
run mds-tokenize encode -m "$tmp/tok.mds" "$tmp/bad.jsonl" -o "$tmp/bad.shard"
expect_rc 3
expect_err "mds-tokenize: error: $tmp/bad.jsonl:2: malformed JSON at byte 2"
run mds-tokenize encode -m "$tmp/tok.mds" "$tmp/bad.jsonl" --skip-bad -o "$tmp/bad.shard"
expect_rc 0
expect_err "encoded 1 records"
expect_err "skipped 2 bad lines"
expect_err "skipped $tmp/bad.jsonl:3: missing field \"src\""
printf '4 5\n6 nine\n' > "$tmp/bad.ids"
run mds-tokenize decode -m "$tmp/tok.mds" --ids "$tmp/bad.ids"
expect_rc 3
expect_err "$tmp/bad.ids:2: column 3: expected a token id (decimal integer), found \"nine\""
run mds-tokenize decode -m "$tmp/tok.mds" --ids <<< "4 2000"
expect_rc 3
expect_err "<stdin>:1: column 3: token id 2000 is out of range (vocabulary size 2000)"

# Bad files: wrong kind, truncation, junk, wrong tokenizer.
run mds-tokenize decode -m "$tmp/tok.mds" "$tmp/tok.mds"
expect_rc 3
expect_err "$tmp/tok.mds: unit 0 at offset 0: expected a unit of kind \"shard\", found kind \"tokenizer\""
head -c 100 "$tmp/d1.shard" > "$tmp/cut.shard"
run mds-tokenize decode -m "$tmp/tok.mds" "$tmp/cut.shard"
expect_rc 3
expect_err "$tmp/cut.shard: offset"
head -c 300 "$tmp/tok.mds" > "$tmp/cut.mds"
run mds-tokenize encode -m "$tmp/cut.mds" "$tmp/pairs.jsonl" -o "$tmp/x.shard"
expect_rc 3
expect_err "$tmp/cut.mds: offset"
echo "plain text" > "$tmp/junk.mds"
run mds-tokenize encode -m "$tmp/junk.mds" --text <<< "x"
expect_rc 3
expect_err "$tmp/junk.mds: offset 0: wrong magic"
mds-tokenize train "$tmp/pairs.jsonl" --vocab-size 270 -q -o "$tmp/other.mds"
run mds-tokenize decode -m "$tmp/other.mds" "$tmp/pairs.shard"
expect_rc 2
expect_err "the shard was encoded with tokenizer fnv1a64:"
echo "tokenize_encode: ok"
