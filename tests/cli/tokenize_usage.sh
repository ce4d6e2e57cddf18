#!/usr/bin/env bash
# CLI golden test: mds-tokenize --help/--version, subcommand help, and usage
# errors (exit 2 with a pointer to --help).
source "$(dirname "$0")/common.bash"

run mds-tokenize --help
expect_rc 0
expect_out "train"; expect_out "encode"; expect_out "decode"
[[ ! -s $tmp/err ]] || fail "--help wrote to stderr"

run mds-tokenize --version
expect_rc 0
expect_out "mds-tokenize 0.1.0"

run mds-tokenize train --help
expect_rc 0
for flag in --vocab-size --min-frequency --format --fields --skip-bad --threads --output; do expect_out "$flag"; done
run mds-tokenize encode --help
expect_rc 0
for flag in --tokenizer --max-src-len --max-trg-len --truncate --text --skip-bad --threads; do expect_out "$flag"; done
run mds-tokenize decode --help
expect_rc 0
for flag in --tokenizer --ids --keep-special --output; do expect_out "$flag"; done

# Usage errors: exit 2, message on stderr, nothing on stdout.
check_usage() {
  run "$@"
  expect_rc 2
  expect_err "mds-tokenize: error:"
  [[ ! -s $tmp/out ]] || fail "usage error wrote to stdout: $*"
}
check_usage mds-tokenize
expect_err "A subcommand is required"
expect_err "Run 'mds-tokenize --help' for usage."
check_usage mds-tokenize frobnicate
check_usage mds-tokenize train --no-such-flag
check_usage mds-tokenize train --vocab-size 100 -o "$tmp/t.mds"
check_usage mds-tokenize train --vocab-size many -o "$tmp/t.mds"
check_usage mds-tokenize train --format csv -o "$tmp/t.mds"
check_usage mds-tokenize encode x.jsonl
expect_err "--tokenizer is required"
check_usage mds-tokenize encode -m "$tmp/none.mds" --truncate middle
check_usage mds-tokenize encode -m "$tmp/none.mds" --threads -1
[[ ! -e $tmp/t.mds ]] || fail "a usage error left an output file"
echo "tokenize_usage: ok"
