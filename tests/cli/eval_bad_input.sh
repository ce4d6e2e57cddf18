#!/usr/bin/env bash
# Golden test: mds-eval on bad or awkward input. Malformed records name the
# file and line and exit 3 (or are counted with --skip-bad); unequal text
# files exit 3; empty hypotheses/references score 0; a 10 MB line works;
# bad flags exit 2; --help and --version exit 0.
source "$(dirname "$0")/common.bash"

# expect CODE PATTERN CMD...: runs CMD, checks its exit code and that stderr matches PATTERN.

printf '%s\n' '{"hyp":"a b","trg":"a b"}' '{"hyp":"a b"}' > "$tmp/missing.jsonl"
expect 3 'missing.jsonl:2: missing field "trg"' mds-eval rouge "$tmp/missing.jsonl"
printf '%s\n' '{"hyp":"a b","trg":"a b"}' '{"hyp":3,"trg":"x"}' > "$tmp/type.jsonl"
expect 3 'type.jsonl:2: field "hyp" must be a string, found number' mds-eval bleu "$tmp/type.jsonl"
printf '%s\n' '{"hyp":"a","trg":["x",1]}' > "$tmp/arr.jsonl"
expect 3 'arr.jsonl:1: field "trg" must hold strings' mds-eval rouge "$tmp/arr.jsonl"
printf '%s\n' '{"hyp":"a","trg":[]}' > "$tmp/emptyarr.jsonl"
expect 3 'emptyarr.jsonl:1: field "trg" must be a string or a non-empty array' mds-eval rouge "$tmp/emptyarr.jsonl"
printf '{"hyp":"a b","trg":"a b"}\n{"hyp":"\xff","trg":"x"}\nnot json\n{"hyp":"c","trg":"c"}\n' > "$tmp/utf8.jsonl"
expect 3 'utf8.jsonl:2: invalid UTF-8' mds-eval rouge "$tmp/utf8.jsonl"
expect 0 'skipped 2 bad record' mds-eval rouge --skip-bad --no-bootstrap "$tmp/utf8.jsonl"
grep -q '"n":2,"skipped":2' "$tmp/out" || fail "--skip-bad summary: $(cat "$tmp/out")"
printf '%s\n' '{"hyp":"a","trg":"a","candidates":["a","b"]}' '{"hyp":"a","trg":"a","candidates":["a"]}' > "$tmp/cand.jsonl"
expect 3 'cand.jsonl:2: field "candidates" has 1 candidates; expected 2' mds-eval diffuseq "$tmp/cand.jsonl"
printf '%s\n' '{"hyp":"a","trg":"a","candidates":["a","b"]}' '{"hyp":"a","trg":"a"}' > "$tmp/cand2.jsonl"
expect 3 'cand2.jsonl:2: missing field "candidates" although line 1 has candidates' mds-eval diffuseq "$tmp/cand2.jsonl"

# Plain text: unequal line counts, invalid UTF-8 naming the file and line.
printf 'a\nb\nc\n' > "$tmp/h.txt"
printf 'a\nb\n' > "$tmp/r.txt"
expect_re 3 'unequal line counts: .*h.txt has 3 lines, .*r.txt has 2 lines' mds-eval rouge --hyp "$tmp/h.txt" --ref "$tmp/r.txt"
printf 'a\n\xc3\x28\nc\n' > "$tmp/r3.txt"
expect 3 'r3.txt:2: invalid UTF-8 at byte 0' mds-eval bleu --hyp "$tmp/h.txt" --ref "$tmp/r3.txt"
expect 0 'skipped 1 bad record' mds-eval bleu --skip-bad --hyp "$tmp/h.txt" --ref "$tmp/r3.txt"
expect 2 'needs --hyp' mds-eval rouge --ref "$tmp/r.txt"

# Empty hypotheses and references score 0 without crashing.
printf '%s\n' '{"hyp":"","trg":""}' '{"hyp":"","trg":"a b"}' '{"hyp":"a b","trg":""}' '{"hyp":"   ","trg":"!!"}' > "$tmp/empty.jsonl"
for cmd in rouge bleu diffuseq; do
  mds-eval $cmd --per-example "$tmp/empty.jsonl" > "$tmp/empty.$cmd" || fail "$cmd on empty texts exited $?"
done
python3 - "$tmp" <<'PY' || fail "empty texts did not score 0"
import json, sys
t = sys.argv[1]
r = [json.loads(l) for l in open(t + "/empty.rouge")]
assert all(v == 0.0 for line in r[:-1] for k in ("rouge1", "rouge2", "rougeL", "rougeLsum") for v in line[k].values())
b = [json.loads(l) for l in open(t + "/empty.bleu")]
assert b[-1]["bleu"]["score"] == 0.0 and all(line["bleu"]["score"] == 0.0 for line in b[:-1])
d = [json.loads(l) for l in open(t + "/empty.diffuseq")]
assert all(line["hyp"]["bleu"] == 0.0 and line["hyp"]["rougeL"] == 0.0 for line in d[:-1])
PY

# A 10 MB line (hypothesis) against a short reference.
python3 -c "
import json
words = ['word%d' % (i % 5000) for i in range(1200000)]
print(json.dumps({'hyp': ' '.join(words), 'trg': 'word1 word2 word3 something else'}))
print(json.dumps({'hyp': 'short', 'trg': 'short'}))
" > "$tmp/big.jsonl"
[[ $(stat -c %s "$tmp/big.jsonl") -gt 10000000 ]] || fail "big line is not 10 MB"
for cmd in rouge bleu diffuseq; do
  mds-eval $cmd --per-example "$tmp/big.jsonl" > "$tmp/big.$cmd" || fail "$cmd on a 10 MB line exited $?"
  [[ $(wc -l < "$tmp/big.$cmd") == 3 ]] || fail "$cmd on a 10 MB line: wrong output"
done
grep -q '"rouge1":{"precision":1.0,"recall":1.0' "$tmp/big.rouge" || fail "short pair after the 10 MB line"

# Usage errors and informational flags.
expect 2 'unknown ROUGE type' mds-eval rouge --types rouge0 "$tmp/empty.jsonl"
expect 2 'tokenizer' mds-eval rouge --tokenizer nope "$tmp/empty.jsonl"
expect 2 'A subcommand is required' mds-eval
mds-eval --version | grep -q '^mds-eval ' || fail "--version"
mds-eval rouge --help | grep -q -- '--lsum-split' || fail "rouge --help"
expect_re 1 'cannot open\|No such file' mds-eval rouge "$tmp/does-not-exist.jsonl"
echo "eval_bad_input: ok"
