#!/usr/bin/env bash
# CLI golden test of the output guarantees of every tool (docs/training.md,
# "Output files"): a full disk (/dev/full, reached through a symlink so that
# an old build could only replace the link) and a closed or full stdout are
# errors naming the file (exit 1); `ulimit -f` is an error naming the file
# (exit 1) that leaves no temp file; an -o that is one of the inputs is
# refused (exit 2) and the input is untouched; an -o in a missing folder is
# refused before any work (exit 2); a stale temp file of a dead writer is
# removed by the next write, other temp files are kept.
source "$(dirname "$0")/common.bash"
cd "$tmp"

tiny_model_files 2 1
common=("${tiny_train[@]}" --threads 2)
mds-train "${common[@]}" -o model.mds --log /dev/null train.mds 2>/dev/null
head -n 2 pairs.jsonl >two.jsonl
cut -d'"' -f4 two.jsonl >hyp.txt
cut -d'"' -f8 two.jsonl >ref.txt

# ---- a full disk: exit 1 naming the file and the errno text --------------------
ln -s /dev/full full
nospace="full: write failed: No space left on device"
expect 1 "$nospace" mds-tokenize train -q --vocab-size 300 -o full pairs.jsonl
expect 1 "$nospace" mds-tokenize encode -q -m tok.mds -o full pairs.jsonl
expect 1 "$nospace" mds-tokenize encode -q --text -m tok.mds -o full pairs.jsonl
expect 1 "$nospace" mds-tokenize decode -m tok.mds -o full train.mds
expect 1 "$nospace" mds-eval rouge --no-bootstrap --hyp-field src -o full pairs.jsonl
expect 1 "$nospace" mds-sample -q -m model.mds --steps 2 -o full two.jsonl
expect 1 "$nospace" mds-sample -q -m model.mds --steps 2 --meta full two.jsonl
expect 1 "$nospace" mds-inspect model.mds --export-sampling full
[ -L full ] && [ -c /dev/full ] || fail "a write replaced the link or /dev/full"
# Standard output on a full disk, and a short stdout write at exit (--help).
to_full() {  # to_full CMD...: run CMD with stdout on /dev/full
  rc=0
  "$@" >/dev/full 2>"$tmp/err" || rc=$?
}
for cmd in "mds-tokenize decode -m tok.mds train.mds" "mds-tokenize encode -q --text -m tok.mds pairs.jsonl" \
           "mds-eval bleu --hyp hyp.txt --ref ref.txt" "mds-inspect --json model.mds" \
           "mds-sample -q -m model.mds --steps 2 two.jsonl" "mds-train --print-config ${common[*]}" \
           "mds-train --help" "mds-tokenize --version"; do
  # shellcheck disable=SC2086
  to_full $cmd
  expect_rc 1
  grep -q "<stdout>: write failed: No space left on device" err || fail "$cmd >/dev/full: $(cat err)"
done

# ---- ulimit -f: exit 1 naming the file, no temp file left ----------------------
limited() {  # limited CMD...: run CMD under a 4 KiB file size limit
  rc=0
  (ulimit -f 4 && exec "$@") >"$tmp/out" 2>"$tmp/err" || rc=$?
}
mkdir lim
limited mds-tokenize decode -m tok.mds -o lim/big.jsonl train.mds
expect_rc 1
expect_err "lim/big.jsonl: write failed: File too large"
limited mds-inspect model.mds --export-sampling lim/export.mds --export-dtype f32
expect_rc 1
expect_err "lim/export.mds: write failed: File too large"
[ -z "$(ls -A lim)" ] || fail "ulimit -f left files behind: $(ls -A lim)"

# ---- an output that is an input: exit 2, the input untouched --------------------
cp pairs.jsonl p.jsonl
cp tok.mds t.mds
cp train.mds s.mds
same="is the same file as"
expect 2 "-o p.jsonl $same input p.jsonl" mds-tokenize train -q --vocab-size 300 -o p.jsonl p.jsonl
expect 2 "-o p.jsonl $same input p.jsonl" mds-tokenize encode -q -m tok.mds -o p.jsonl p.jsonl
expect 2 "-o p.jsonl $same input p.jsonl" mds-tokenize encode -q --text -m tok.mds -o p.jsonl p.jsonl
expect 2 "-o t.mds $same -m t.mds" mds-tokenize encode -q -m t.mds -o t.mds pairs.jsonl
expect 2 "-o s.mds $same input s.mds" mds-tokenize decode -m tok.mds -o s.mds s.mds
expect 2 "-o t.mds $same -m t.mds" mds-tokenize decode -m t.mds -o t.mds train.mds
expect 2 "-o p.jsonl $same input <stdin>" bash -c 'mds-tokenize encode -q -m tok.mds -o p.jsonl <p.jsonl'
ln p.jsonl hard.jsonl
expect 2 "-o hard.jsonl $same input p.jsonl" mds-tokenize encode -q -m tok.mds -o hard.jsonl p.jsonl
expect 2 "-o p.jsonl $same -i p.jsonl" mds-eval rouge --hyp-field src -o p.jsonl p.jsonl
cp ref.txt r.txt
expect 2 "-o r.txt $same --ref r.txt" mds-eval bleu --hyp hyp.txt --ref r.txt -o r.txt
cp model.mds m.mds
expect 2 "-o p.jsonl $same input p.jsonl" mds-sample -m m.mds -o p.jsonl p.jsonl
expect 2 "-o m.mds $same -m m.mds" mds-sample -m m.mds -o m.mds two.jsonl
expect 2 "--meta p.jsonl $same input p.jsonl" mds-sample -m m.mds --meta p.jsonl p.jsonl
expect 2 "--export-sampling m.mds $same checkpoint m.mds" mds-inspect m.mds --export-sampling m.mds
expect 2 "-o s.mds $same input s.mds" mds-train "${common[@]}" -o s.mds s.mds
expect 2 "-o t.mds $same --tokenizer t.mds" mds-train --config run.json --tokenizer t.mds -o t.mds train.mds
expect 2 "-o s.mds $same --valid s.mds" mds-train "${common[@]}" -o s.mds --valid s.mds train.mds
expect 2 "--log s.mds $same input s.mds" mds-train "${common[@]}" -o new.mds --log s.mds s.mds
expect 2 "--log new.mds $same -o new.mds" mds-train "${common[@]}" -o new.mds --log new.mds train.mds
cmp p.jsonl pairs.jsonl && cmp t.mds tok.mds && cmp s.mds train.mds && cmp m.mds model.mds ||
  fail "a refused run changed its input"
[ ! -e new.mds ] || fail "a refused run wrote new.mds"
# --resume may be -o: it is read before the first write.
expect 0 "done at step 3" mds-train --resume m.mds -o m.mds --steps 3 --threads 2 --log /dev/null train.mds

# ---- an unwritable -o: exit 2 before any work -----------------------------------
expect 2 "-o nodir/m.mds: cannot write there: folder nodir: No such file or directory" \
  mds-train "${common[@]}" -o nodir/m.mds --log early.jsonl train.mds
[ ! -s early.jsonl ] || fail "mds-train started training with an unwritable -o: $(cat early.jsonl)"
expect 2 "-o train.mds/m.mds: cannot write there: train.mds is not a folder" \
  mds-train "${common[@]}" -o train.mds/m.mds train.mds
mkdir adir
expect 2 "-o adir: is a folder" mds-train "${common[@]}" -o adir train.mds
expect 2 "-o nodir/tok.mds: cannot write there" mds-tokenize train -q --vocab-size 300 -o nodir/tok.mds pairs.jsonl

# ---- stale temp files: a dead writer's are removed, others kept ----------------
host=$(hostname | tr -c 'A-Za-z0-9_\n-' '_' | head -c 64)
dead=$(bash -c 'echo $$')
touch "out.mds.tmp.$host.$dead.0123456789abcdef" "out.mds.tmp.$dead" "out.mds.tmp.other-$host.$dead.0123456789abcdef" \
  "out.mds.tmp.$host.$$.0123456789abcdef"
mds-tokenize encode -q -m tok.mds -o out.mds pairs.jsonl
[ ! -e "out.mds.tmp.$host.$dead.0123456789abcdef" ] || fail "a stale temp file of a dead writer was kept"
for kept in "out.mds.tmp.$dead" "out.mds.tmp.other-$host.$dead.0123456789abcdef" "out.mds.tmp.$host.$$.0123456789abcdef"; do
  [ -e "$kept" ] || fail "$kept (not provably stale) was removed"
done
echo "output_safety: all checks passed"
