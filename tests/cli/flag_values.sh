#!/usr/bin/env bash
# Golden test: numeric flags of every tool refuse values out of their range
# with exit 2 and one wording ("--seed: expected an integer >= 0, found -1")
# before any file is read. Unsigned flags used to take -1 as 2^64-1, 010 as
# octal 8, and --absorb-rate -1 / --smooth-value nan silently meant "default".
source "$(dirname "$0")/common.bash"
cd "$tmp"
printf '%s\n' '{"src":"a b","trg":"a b","hyp":"a b"}' >in.jsonl

# usage_error TEXT CMD...: exit 2, TEXT on stderr, nothing on stdout, no output file.
usage_error() {
  expect 2 "$@"
  [[ ! -s $tmp/out ]] || fail "usage error wrote to stdout: ${*:2}"
  [[ ! -e out.mds ]] || fail "usage error left an output file: ${*:2}"
}

# ---- mds-tokenize ---------------------------------------------------------------
usage_error "--min-frequency: expected an integer >= 1, found -1" mds-tokenize train --min-frequency -1 -o out.mds in.jsonl
usage_error "--min-frequency: expected an integer >= 1, found 0" mds-tokenize train --min-frequency 0 -o out.mds in.jsonl
usage_error "--min-frequency: expected an integer from 1 to 18446744073709551615, found 18446744073709551616" \
  mds-tokenize train --min-frequency 18446744073709551616 -o out.mds in.jsonl
usage_error "--vocab-size: expected an integer from 260 to 16777216, found -1" mds-tokenize train --vocab-size -1 -o out.mds in.jsonl
usage_error "--samples: expected an integer from 0 to 1000, found -1" mds-tokenize train --samples -1 -o out.mds in.jsonl
usage_error "--max-src-len: expected an integer >= 0, found -1" mds-tokenize encode -m tok.mds --max-src-len -1 -o out.mds in.jsonl
usage_error "--max-trg-len: expected an integer >= 0, found -5" mds-tokenize encode -m tok.mds --max-trg-len -5 -o out.mds in.jsonl
usage_error "--max-src-len: expected an integer >= 0, found 1.5" mds-tokenize encode -m tok.mds --max-src-len 1.5 -o out.mds in.jsonl
usage_error "--records-per-unit: expected an integer from 1 to 16777216, found -1" \
  mds-tokenize encode -m tok.mds --records-per-unit -1 -o out.mds in.jsonl
usage_error "--threads: expected an integer from 0 to 1024, found -1" mds-tokenize decode -m tok.mds --threads -1 in.jsonl
# Decimal only: 010 is ten (CLI11 alone reads it as octal 8).
mds-tokenize train -q --vocab-size 300 --min-frequency 010 -o tok.mds in.jsonl
mds-inspect --json tok.mds | grep -q '"min_frequency":10' || fail "--min-frequency 010 was not read as 10"

# ---- mds-sample (flags are checked before the model is read) ---------------------
usage_error "--seed: expected an integer >= 0, found -1" mds-sample -m none.mds --seed -1 in.jsonl
usage_error "--absorb-rate: expected a number in [0, 1], found -1" mds-sample -m none.mds --absorb-rate -1 in.jsonl
usage_error "--absorb-rate: expected a number in [0, 1], found nan" mds-sample -m none.mds --absorb-rate nan in.jsonl
usage_error "--absorb-rate: expected a number in [0, 1], found 1.5" mds-sample -m none.mds --absorb-rate 1.5 in.jsonl
usage_error "--steps: expected an integer >= 0, found -3" mds-sample -m none.mds --steps -3 in.jsonl
usage_error "--mbr: expected an integer >= 1, found 0" mds-sample -m none.mds --mbr 0 in.jsonl
usage_error "--batch-size: expected an integer >= 1, found -1" mds-sample -m none.mds --batch-size -1 in.jsonl
usage_error "--sort-window: expected an integer >= 1, found 0" mds-sample -m none.mds --sort-window 0 in.jsonl
usage_error "--max-trg-len: expected an integer >= 0, found -1" mds-sample -m none.mds --max-trg-len -1 in.jsonl
usage_error "--threads: expected an integer from 0 to 1024, found -2" mds-sample -m none.mds --threads -2 in.jsonl

# ---- mds-eval ------------------------------------------------------------------------
usage_error "--smooth-value: expected a finite number >= 0, found nan" mds-eval bleu --smooth floor --smooth-value nan in.jsonl
usage_error "--smooth-value: expected a finite number >= 0, found inf" mds-eval bleu --smooth add-k --smooth-value inf in.jsonl
usage_error "--smooth-value: expected a finite number >= 0, found -0.5" mds-eval bleu --smooth-value -0.5 in.jsonl
usage_error "--confidence: expected a number from 0 to 1, found nan" mds-eval rouge --confidence nan in.jsonl
usage_error "--seed: expected an integer >= 0, found -1" mds-eval rouge --seed -1 in.jsonl
usage_error "--seed: expected an integer from 0 to 4294967295, found 4294967296" mds-eval rouge --seed 4294967296 in.jsonl
usage_error "--bootstrap-samples: expected an integer >= 1, found -1" mds-eval rouge --bootstrap-samples -1 in.jsonl
usage_error "--threads: expected an integer from 0 to 1024, found -1" mds-eval rouge --threads -1 in.jsonl
usage_error "--chrf-beta: expected an integer >= 0, found -2" mds-eval bleu --chrf-beta -2 in.jsonl
usage_error "--max-order: expected an integer from 1 to 16, found 0" mds-eval bleu --max-order 0 in.jsonl
# The edges stay valid.
mds-eval bleu --smooth floor --smooth-value 0 in.jsonl >/dev/null || fail "--smooth-value 0 refused"
mds-eval rouge --confidence 0.999 --bootstrap-samples 1 --seed 4294967295 in.jsonl >/dev/null || fail "edge values refused"

# ---- mds-inspect and mds-train ---------------------------------------------------------
usage_error "--top: expected an integer from 0 to 100000, found -1" mds-inspect --top -1 tok.mds
usage_error "--samples: expected an integer from 0 to 100000, found -1" mds-inspect --samples -1 tok.mds
usage_error "--seed: expected an integer >= 0, found -1" mds-train --config c.json --tokenizer tok.mds -o out.mds --seed -1
usage_error "--threads: expected an integer from 0 to 1024, found -1" mds-train --config c.json --tokenizer tok.mds -o out.mds --threads -1
# One --threads for every tool (cmd/cli_common.h): the same range and wording.
for tool in "mds-tokenize train -o out.mds" "mds-tokenize encode -m tok.mds -o out.mds" "mds-tokenize decode -m tok.mds" \
            "mds-sample -m none.mds" "mds-eval rouge" "mds-train --config c.json --tokenizer tok.mds -o out.mds"; do
  # shellcheck disable=SC2086
  usage_error "--threads: expected an integer from 0 to 1024, found 1025" $tool --threads 1025 in.jsonl
done
usage_error "--device: " mds-sample -m none.mds --device tpu in.jsonl
usage_error "--lr: expected a number > 0, found nan" mds-train --config c.json --tokenizer tok.mds -o out.mds --lr nan
usage_error "--lr: expected a number > 0, found 1e999" mds-train --config c.json --tokenizer tok.mds -o out.mds --lr 1e999
echo "flag_values: ok"
