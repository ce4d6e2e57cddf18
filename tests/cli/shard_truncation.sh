#!/usr/bin/env bash
# CLI test: a shard cut right after one of its units (the stream of a killed
# `mds-tokenize encode -o -`, which is a valid sequence of whole units) is
# refused by mds-inspect, mds-tokenize decode and mds-train with exit 3 and a
# message naming the file and the byte offset; the whole shard, and a shard
# piped from a writer that finished, are read.
source "$(dirname "$0")/common.bash"

cd "$tmp"
tiny_model_files 2

# unit_offsets FILE: the byte offset of each unit, then the file size
# (docs/format.md: an 8-byte frame header, the header payload, then one zstd
# frame per section whose stored size is in the section table).
unit_offsets() {
  python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
o, out = 0, []
while o < len(d):
    out.append(o)
    hs = struct.unpack_from("<I", d, o + 4)[0]
    p = o + 8 + 10
    kl = struct.unpack_from("<H", d, p - 2)[0]
    p += kl
    ml = struct.unpack_from("<Q", d, p)[0]
    p += 8 + ml
    n = struct.unpack_from("<I", d, p)[0]
    p += 4
    data = o + 8 + hs
    for _ in range(n):
        nl = struct.unpack_from("<H", d, p)[0]
        p += 2 + nl + 1
        nd = d[p]
        p += 1 + 8 * nd + 8
        data += struct.unpack_from("<Q", d, p)[0]
        p += 12
    o = data
out.append(len(d))
print(*out)
PY
}

# Three units of 24 records each, then the end unit.
mds-tokenize encode -q -m tok.mds --records-per-unit 24 -o - pairs.jsonl >whole.mds
read -r -a offs <<<"$(unit_offsets whole.mds)"
[[ ${#offs[@]} == 5 ]] || fail "expected 3 data units, the end unit and the size, got ${offs[*]}"
run mds-inspect whole.mds
expect_rc 0
expect_out "records: 64 in 3 units"
expect_out "end units: 1 (counts checked: the file is whole)"

# Cut after the last data unit (only the end unit missing) and after the first.
for k in 3 1; do
  head -c "${offs[$k]}" whole.mds >cut.mds
  last=${offs[$((k - 1))]}
  msg="cut.mds: offset ${offs[$k]}: the shard ends after the unit at offset $last without its end unit"
  expect 3 "$msg" mds-inspect cut.mds
  expect 3 "$msg" mds-tokenize decode -q -m tok.mds cut.mds
  expect 3 "$msg" mds-train "${tiny_train[@]}" -o model.mds cut.mds
  [[ ! -e model.mds ]] || fail "mds-train wrote a checkpoint from a truncated shard"
  # Piped: the same refusal names standard input.
  run mds-tokenize decode -q -m tok.mds - <cut.mds
  expect_rc 3
  expect_err "<stdin>: offset ${offs[$k]}: the shard ends after the unit at offset $last"
done

# A unit dropped from the middle: the end unit's counts say so.
{ head -c "${offs[1]}" whole.mds; tail -c +$((offs[2] + 1)) whole.mds; } >gap.mds
expect 3 "the end unit counts 3 units but 2 precede it since offset 0" mds-inspect gap.mds

# Whole shards read, also concatenated and piped.
cat whole.mds whole.mds >twice.mds
run mds-inspect twice.mds
expect_rc 0
expect_out "records: 128 in 6 units"
expect_out "end units: 2"
mds-tokenize encode -q -m tok.mds -o - pairs.jsonl | mds-tokenize decode -q -m tok.mds - >back.jsonl
[[ $(wc -l <back.jsonl) == 64 ]] || fail "piped shard decoded to $(wc -l <back.jsonl) records"
echo "shard_truncation: ok"
