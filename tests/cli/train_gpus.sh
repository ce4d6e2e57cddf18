#!/usr/bin/env bash
# mds-train --gpus N through the single-host launcher, on any machine: the
# ranks start, read their rank from the environment and, on the CPU backend,
# refuse with a usage error that the launcher reports with the failing
# rank's status. Also the launch environment's usage errors and --zero on
# one process (docs/distributed.md).
source "$(dirname "$0")/common.bash"

cd "$tmp"
(zstd -dc "$MDS_SHARED_DIR/data/qqp_diffuseq/train.jsonl.zst" 2>/dev/null || true) | head -n 16 >pairs.jsonl
mds-tokenize train -q --vocab-size 300 -o tok.mds pairs.jsonl
mds-tokenize encode -q -m tok.mds --max-src-len 16 --max-trg-len 16 -o train.mds pairs.jsonl
cat >run.json <<'JSON'
{"model": {"embed_dim": 8, "hidden_dim": 16, "layers": 1, "heads": 2, "ffn_dim": 32, "time_embed_dim": 8,
           "time_hidden_dim": 16, "max_src_len": 16, "max_trg_len": 16, "diffusion_steps": 10},
 "train": {"steps": 2, "batch_size": 4, "grad_accum": 2}}
JSON
common=(--config run.json --tokenizer tok.mds --threads 1 --no-progress -o m.mds train.mds)

# Two ranks on the CPU backend: each refuses (exit 2); the launcher says which rank failed.
expect 2 "multi-process training runs on GPUs with NCCL" mds-train --gpus 2 --device cpu "${common[@]}"
grep -qE "rank [01] of 2 failed \(status 2\)" "$tmp/err" || fail "the launcher did not name the failed rank: $(cat "$tmp/err")"
[ ! -e m.mds ] || fail "a failed launch wrote a checkpoint"

# A process started as a rank must not launch more.
expect 2 "already one rank of a job" env RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 mds-train --gpus 2 "${common[@]}"
# The launch environment is checked.
expect 2 "RANK=5 is outside the world of WORLD_SIZE=2" env RANK=5 WORLD_SIZE=2 MASTER_ADDR=h mds-train "${common[@]}"
expect 2 "MASTER_ADDR is not set" env RANK=0 WORLD_SIZE=2 mds-train "${common[@]}"
# ZeRO needs several ranks; the flags are checked.
expect 2 "--zero 1 shards the optimizer state across ranks" mds-train --zero 1 --device cpu "${common[@]}"
expect 2 "--zero" mds-train --zero 2 "${common[@]}"
expect 2 "--gpus" mds-train --gpus 0 "${common[@]}"
expect 2 "--dist-timeout" mds-train --dist-timeout 0 "${common[@]}"
# One rank (WORLD_SIZE=1) is a plain run.
RANK=0 WORLD_SIZE=1 mds-train --device cpu "${common[@]}" 2>/dev/null
[ -s m.mds ] || fail "a one-rank run wrote no checkpoint"
echo "train_gpus: ok"
