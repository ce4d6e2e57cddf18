#!/usr/bin/env bash
# Tokenizer benchmark (a script, not a test): mds-tokenize against Debian's
# sentencepiece (spm_train --model_type=bpe, spm_encode) on the same text and
# vocabulary size, in one run on this machine. Prints a Markdown table.
#
# Usage: scripts/bench-tokenize.sh [BUILD_DIR]   (default: build)
# Env:   MDS_SHARED_DIR (default ../shared), VOCAB (default 16384),
#        SPM_MAX_SENTENCE (spm_train --max_sentence_length, default 1000000:
#        spm's default 4192 would skip every sumpubmed source document).
# Needs: python3 (to turn JSONL into text lines), spm_train, spm_encode, zstd.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shared=${MDS_SHARED_DIR:-../shared}
vocab=${VOCAB:-16384}
spm_max=${SPM_MAX_SENTENCE:-1000000}
data=$shared/data/sumpubmed/train.jsonl.zst
tok=$build/mds-tokenize
for need in "$tok" "$data"; do [[ -e $need ]] || { echo "bench-tokenize: missing $need" >&2; exit 1; }; done
for cmd in python3 spm_train spm_encode zstd; do
  command -v "$cmd" > /dev/null || { echo "bench-tokenize: needs $cmd" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One line per text: every src and trg, inner newlines turned into spaces, so
# both tools see exactly the same lines.
zstd -dc "$data" | python3 -c '
import json, sys
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    obj = json.loads(line)
    for key in ("src", "trg"):
        out.write(obj[key].replace("\n", " ").encode("utf-8") + b"\n")
' > "$tmp/text.txt"
bytes=$(wc -c < "$tmp/text.txt")
mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
split -n l/2 "$tmp/text.txt" "$tmp/half."

# Runs a command, appends "wall user" seconds to $tmp/t.
TIMEFORMAT='%R %U'
timed() { { time "$@" > /dev/null 2>> "$tmp/log"; } 2>> "$tmp/t"; }
last() { tail -n 1 "$tmp/t"; }
rate() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }

echo "bench-tokenize: $mb MB of text ($(wc -l < "$tmp/text.txt") lines), vocabulary $vocab, $(nproc) CPUs" >&2

# ---- training ---------------------------------------------------------------
timed "$tok" train "$tmp/text.txt" --format text --vocab-size "$vocab" --threads 2 -q -o "$tmp/mds.mds"
read -r mds_train mds_train_cpu < <(last)
timed spm_train --input="$tmp/text.txt" --model_prefix="$tmp/spm" --model_type=bpe --vocab_size="$vocab" \
  --num_threads=2 --max_sentence_length="$spm_max" --minloglevel=1
read -r spm_train_s spm_train_cpu < <(last)

# ---- encoding ---------------------------------------------------------------
timed spm_encode --model="$tmp/spm.model" --output_format=id --input="$tmp/text.txt"
read -r spm1 spm1_cpu < <(last)
# spm_encode has no thread option: two processes on the two halves.
start=$(date +%s.%N)
spm_encode --model="$tmp/spm.model" --output_format=id --input="$tmp/half.aa" > /dev/null &
spm_encode --model="$tmp/spm.model" --output_format=id --input="$tmp/half.ab" > /dev/null
wait
spm2=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f", b - a }')
timed "$tok" encode -m "$tmp/mds.mds" --text --threads 1 -q "$tmp/text.txt"
read -r mds1 mds1_cpu < <(last)
timed "$tok" encode -m "$tmp/mds.mds" --text --threads 2 -q "$tmp/text.txt"
read -r mds2 mds2_cpu < <(last)
# JSONL -> binary shard (parsing + zstd-compressed output), same text.
timed "$tok" encode -m "$tmp/mds.mds" --threads 1 -q -o "$tmp/s1.mds" "$data"
read -r shard1 shard1_cpu < <(last)
timed "$tok" encode -m "$tmp/mds.mds" --threads 2 -q -o "$tmp/s2.mds" "$data"
read -r shard2 shard2_cpu < <(last)

# Round trip check on the benchmark text itself.
"$tok" encode -m "$tmp/mds.mds" --text -q "$tmp/text.txt" | "$tok" decode -m "$tmp/mds.mds" --ids -q > "$tmp/back.txt"
cmp -s "$tmp/text.txt" "$tmp/back.txt" && roundtrip=exact || roundtrip=DIFFERS

mds_tokens=$("$tok" encode -m "$tmp/mds.mds" --text -q "$tmp/text.txt" | wc -w)
spm_tokens=$(spm_encode --model="$tmp/spm.model" --output_format=id --input="$tmp/text.txt" | wc -w)

load=$(cut -d ' ' -f 1-3 /proc/loadavg 2>/dev/null || echo "?")
cat <<TABLE
$mb MB of sumpubmed train text ($(wc -l < "$tmp/text.txt") lines: src and trg), vocabulary $vocab, $(nproc) CPUs, load average $load.
Wall-clock seconds and MB/s; "cpu" = user CPU seconds of the process.

| | mds-tokenize | spm (BPE) | mds vs spm |
|---|---:|---:|---:|
| train, 2 threads | $mds_train s (cpu $mds_train_cpu) | $spm_train_s s (cpu $spm_train_cpu) | $(awk -v a="$spm_train_s" -v b="$mds_train" 'BEGIN { printf "%.1fx faster", a / b }') |
| encode text lines, 1 thread | $(rate "$mds1") MB/s (cpu $mds1_cpu s) | $(rate "$spm1") MB/s (cpu $spm1_cpu s) | $(awk -v a="$spm1" -v b="$mds1" 'BEGIN { printf "%.1fx", a / b }') |
| encode text lines, 2 threads | $(rate "$mds2") MB/s (cpu $mds2_cpu s) | $(rate "$spm2") MB/s (2 processes) | $(awk -v a="$spm2" -v b="$mds2" 'BEGIN { printf "%.1fx", a / b }') |
| encode JSONL -> shard, 1 thread | $(rate "$shard1") MB/s (cpu $shard1_cpu s) | | |
| encode JSONL -> shard, 2 threads | $(rate "$shard2") MB/s (cpu $shard2_cpu s) | | |
| tokens | $mds_tokens ($(awk -v a="$mds_tokens" -v b="$bytes" 'BEGIN { printf "%.2f", b / a }') bytes/token) | $spm_tokens ($(awk -v a="$spm_tokens" -v b="$bytes" 'BEGIN { printf "%.2f", b / a }') bytes/token) | |
| decode(encode(text)) | $roundtrip | | |
TABLE
