#!/usr/bin/env bash
# CLI golden test: meaning-level faults in tokenizers and checkpoints are
# refused with exit 3 before any work: bytes after the single unit, reserved
# header flags, a NaN weight, a missing EMA section, an invalid config inside
# a checkpoint (mds-sample and mds-train --resume alike). Files are damaged by
# rewriting the unit header with a valid checksum (python3), so only the fault
# under test remains.
source "$(dirname "$0")/common.bash"
cd "$tmp"
data="$MDS_SOURCE_DIR/examples/data"

head -n 3 "$data/qqp_small.test.jsonl" >test.jsonl
tiny_model_files 2
mds-train "${tiny_train[@]}" --threads 2 -o model.mds train.mds 2>/dev/null
sample=(--solver dpm++ --steps 2 --device cpu --threads 2)
mds-sample -m model.mds "${sample[@]}" <test.jsonl >/dev/null 2>&1 || fail "the undamaged checkpoint does not sample"

# rewrite FILE OUT PYTHON-EXPR: re-encodes the first unit's header after the
# expression edits `meta` (dict), `flags` (int) or `sections` (list of entries
# [name, dtype, dims, raw_size, stored_size, crc, frame bytes]), with a fresh CRC.
rewrite() {
  python3 - "$@" <<'PY'
import json, struct, sys, zlib, subprocess
src, dst, expr = sys.argv[1:4]
b = open(src, "rb").read()
n = struct.unpack_from("<I", b, 4)[0]
h = b[8:8 + n]
pos = 4
version, flags, klen = struct.unpack_from("<HHH", h, pos); pos += 6
kind = h[pos:pos + klen]; pos += klen
mlen = struct.unpack_from("<Q", h, pos)[0]; pos += 8
meta = json.loads(h[pos:pos + mlen]); pos += mlen
count = struct.unpack_from("<I", h, pos)[0]; pos += 4
sections, data = [], 8 + n
for _ in range(count):
    nl = struct.unpack_from("<H", h, pos)[0]; pos += 2
    name = h[pos:pos + nl].decode(); pos += nl
    dtype, r = h[pos], h[pos + 1]; pos += 2
    dims = list(struct.unpack_from(f"<{r}Q", h, pos)); pos += 8 * r
    raw, stored, crc = struct.unpack_from("<QQI", h, pos); pos += 20
    sections.append([name, dtype, dims, raw, stored, crc, b[data:data + stored]]); data += stored
def set_raw(name, raw):  # replace a section's bytes (recompressed, new CRC)
    for s in sections:
        if s[0] == name:
            open(dst + ".raw", "wb").write(raw)  # from a file, zstd records the content size as mds expects
            frame = subprocess.run(["zstd", "-q", "-c", dst + ".raw"], stdout=subprocess.PIPE, check=True).stdout
            s[3], s[4], s[5], s[6] = len(raw), len(frame), zlib.crc32(raw), frame
before = (json.dumps(meta), flags, [s[:6] for s in sections])
exec(expr)
if expr != "pass" and before == (json.dumps(meta), flags, [s[:6] for s in sections]):
    sys.exit(f"rewrite: '{expr.strip()[:60]}' changed nothing in {src}")
m = json.dumps(meta).encode()
p = b"MDSF" + struct.pack("<HHH", version, flags, len(kind)) + kind + struct.pack("<Q", len(m)) + m
p += struct.pack("<I", len(sections))
for name, dtype, dims, raw, stored, crc, frame in sections:
    nb = name.encode()
    p += struct.pack("<H", len(nb)) + nb + bytes([dtype, len(dims)]) + struct.pack(f"<{len(dims)}Q", *dims)
    p += struct.pack("<QQI", raw, stored, crc)
p += struct.pack("<I", zlib.crc32(p))
out = b[:4] + struct.pack("<I", len(p)) + p + b"".join(s[6] for s in sections) + b[data:]
open(dst, "wb").write(out)
PY
}
rewrite model.mds same.mds "pass"
mds-sample -m same.mds "${sample[@]}" <test.jsonl >/dev/null 2>&1 || fail "the rewrite helper damages files by itself"

# ---- bytes after a single-unit file ---------------------------------------------
cat model.mds tok.mds >model+tok.mds
expect 3 "expected the end of the file after the checkpoint unit, found" mds-sample -m model+tok.mds "${sample[@]}"
printf 'x' | cat tok.mds - >tok+x.mds
expect 3 "tok+x.mds: offset $(stat -c %s tok.mds): expected the end of the file after the tokenizer unit, found 1 more bytes" \
  mds-tokenize encode -m tok+x.mds pairs.jsonl

# ---- reserved header flags ------------------------------------------------------
rewrite tok.mds flags.mds "flags = 4"
expect 3 "reserved header flags: expected 0000, found 0004" mds-tokenize encode -m flags.mds pairs.jsonl
expect 3 "reserved header flags" mds-inspect flags.mds

# ---- a NaN weight -----------------------------------------------------------------
rewrite model.mds nan.mds "
import struct as st
for s in sections:
    if s[0] == 'ema/word_embedding':
        raw = bytearray(subprocess.run(['zstd', '-dq', '-c'], input=s[6], stdout=subprocess.PIPE, check=True).stdout)
        raw[4 * 5:4 * 6] = st.pack('<f', float('nan'))
        set_raw(s[0], bytes(raw))"
expect 3 "section 'ema/word_embedding' holds NaN at element 5: the checkpoint is damaged" \
  mds-sample -m nan.mds "${sample[@]}"
expect 3 "holds NaN at element 5" mds-train --resume nan.mds -o resumed.mds --device cpu --no-progress train.mds
[[ ! -e resumed.mds ]] || fail "a refused resume wrote a checkpoint"

# ---- a missing EMA section -------------------------------------------------------
rewrite model.mds noema.mds "sections = [s for s in sections if s[0] != 'ema/lm_head.bias']"
expect 3 "missing section 'ema/lm_head.bias'" mds-sample -m noema.mds "${sample[@]}"

# ---- an invalid config inside the checkpoint ----------------------------------------
rewrite model.mds badcfg.mds "meta['config']['model']['heads'] = 3"
expect 3 "the checkpoint's model config is invalid" mds-sample -m badcfg.mds "${sample[@]}"
expect 3 "the checkpoint's config is invalid" mds-train --resume badcfg.mds -o resumed.mds --device cpu train.mds
rewrite model.mds badtrain.mds "meta['config']['train']['lr'] = -1"
expect 3 "the checkpoint's config is invalid" mds-train --resume badtrain.mds -o resumed.mds --device cpu train.mds
[[ ! -e resumed.mds ]] || fail "a refused resume wrote a checkpoint"
echo "checkpoint_faults: ok"
