#!/usr/bin/env bash
# Golden CLI tests of mds-train: help/version, bad flags (exit 2), bad config
# (exit 2), bad shards (exit 3), a short real run with metrics, --print-config,
# SIGTERM (exit 143 with a checkpoint that resumes), and resume producing a
# checkpoint byte-identical to an uninterrupted run.
source "$(dirname "$0")/common.bash"

cd "$tmp"


# ---- help, version, man page ------------------------------------------------
check_help_and_man mds-train

# ---- data: 64 QQP pairs, a tokenizer and shards -----------------------------
(zstd -dc "$MDS_SHARED_DIR/data/qqp_diffuseq/train.jsonl.zst" 2>/dev/null || true) | head -n 64 >pairs.jsonl
[ "$(wc -l <pairs.jsonl)" -eq 64 ] || fail "could not read 64 pairs from $MDS_SHARED_DIR/data/qqp_diffuseq"
mds-tokenize train -q --vocab-size 320 -o tok.mds pairs.jsonl
mds-tokenize encode -q -m tok.mds --max-src-len 32 --max-trg-len 32 -o train.mds pairs.jsonl
head -n 16 pairs.jsonl | mds-tokenize encode -q -m tok.mds --max-src-len 32 --max-trg-len 32 -o valid.mds
cat >run.json <<'JSON'
{"model": {"embed_dim": 16, "hidden_dim": 32, "layers": 1, "heads": 2, "ffn_dim": 64, "time_embed_dim": 16,
           "time_hidden_dim": 32, "max_src_len": 32, "max_trg_len": 32, "attention_window": 8,
           "moe_experts": 2, "moe_top_k": 1, "diffusion_steps": 100},
 "train": {"steps": 6, "batch_size": 8, "lr": 0.001, "log_every": 2, "valid_every": 3, "checkpoint_every": 0}}
JSON
# --device cpu: the byte-for-byte resume checks need the deterministic CPU backend
# (GPU embedding gradients use float atomics), also on a machine with a GPU.
common=(--config run.json --tokenizer tok.mds --threads 2 --no-progress --device cpu)

# ---- usage errors: exit 2 ----------------------------------------------------
expect 2 "The following argument was not expected: --bogus" mds-train --bogus
expect 2 "--steps: expected an integer >= 1, found 0" mds-train "${common[@]}" -o m.mds --steps 0 train.mds
expect 2 "--lr: expected a number > 0, found fast" mds-train "${common[@]}" -o m.mds --lr fast train.mds
expect 2 "--device" mds-train "${common[@]}" -o m.mds --device tpu train.mds
expect 2 "--config is required" mds-train --tokenizer tok.mds -o m.mds train.mds
expect 2 "--out is required" mds-train "${common[@]}" train.mds
expect 2 "--set train.lr: expected PATH=VALUE" mds-train "${common[@]}" -o m.mds --set train.lr train.mds

# ---- config errors: exit 2 ---------------------------------------------------
echo '{"model": {}, "train": {"lr_shedule": "linear"}}' >bad1.json
expect 2 'bad1.json: train: unknown key "lr_shedule" (did you mean "lr_schedule"?); valid keys: steps, batch_size' \
  mds-train --config bad1.json --tokenizer tok.mds -o m.mds train.mds
echo '{"model": {}, "train": {"lr": -1}}' >bad2.json
expect 2 "bad2.json: train.lr: expected a number > 0, found -1" mds-train --config bad2.json --tokenizer tok.mds -o m.mds train.mds
printf '{"model": {},\n "train": {,}}\n' >bad3.json
expect 2 "bad3.json: invalid JSON: parse error at line 2" mds-train --config bad3.json --tokenizer tok.mds -o m.mds train.mds
echo '{"model": {}, "optimizer": {}}' >bad4.json
expect 2 'unknown top-level key "optimizer"; valid keys: model, train' mds-train --config bad4.json --tokenizer tok.mds -o m.mds train.mds
echo '{"model": {"layerz": 2}}' >bad5.json
expect 2 'bad5.json: model: unknown key "layerz" (did you mean "layers"?); valid keys: vocab_size, embed_dim' mds-train --config bad5.json --tokenizer tok.mds -o m.mds train.mds
expect 2 "with --set: train.steps: expected an integer >= 1, found \"ten\"" \
  mds-train "${common[@]}" -o m.mds --set train.steps=ten train.mds
# A length limit that leaves no room for any source token (it used to train on empty sources).
expect 2 "with --set: model.max_src_len: expected an integer >= 1 (sources are cut to it; 0 leaves no room for any source token), found 0" \
  mds-train "${common[@]}" -o m.mds --set model.max_src_len=0 train.mds
expect 2 "--config missing.json: no such file" mds-train --config missing.json --tokenizer tok.mds -o m.mds train.mds
[ ! -e m.mds ] || fail "a failed run wrote a checkpoint"

# ---- bad shards: exit 3 ------------------------------------------------------
echo "not a shard" >junk.mds
expect 3 "junk.mds" mds-train "${common[@]}" -o m.mds junk.mds
head -c 100 train.mds >cut.mds
expect 3 "cut.mds" mds-train "${common[@]}" -o m.mds cut.mds
expect 3 "pairs.jsonl" mds-train "${common[@]}" -o m.mds pairs.jsonl
mds-tokenize train -q --vocab-size 300 -o tok2.mds pairs.jsonl
mds-tokenize encode -q -m tok2.mds -o other.mds pairs.jsonl
expect 3 "encoded with tokenizer" mds-train "${common[@]}" -o m.mds other.mds
[ ! -e m.mds ] || fail "a failed run wrote a checkpoint"

# ---- a short run ---------------------------------------------------------------
expect 0 "mds-train: done at step 6; checkpoint m.mds" mds-train "${common[@]}" -o m.mds --valid valid.mds --log log.jsonl train.mds
[ "$(grep -c '"type":"train"' log.jsonl)" -eq 3 ] || fail "expected 3 train lines in log.jsonl"
[ "$(grep -c '"type":"valid"' log.jsonl)" -eq 2 ] || fail "expected 2 valid lines in log.jsonl"
grep -q '^{"type":"train","step":2,"epoch":0,"loss":' log.jsonl || fail "train line layout: $(head -2 log.jsonl)"
grep -q '"expert_load":\[\[' log.jsonl || fail "no expert load in the metrics"
# From stdin, metrics on stdout.
mds-train "${common[@]}" -o m2.mds --steps 2 --log - <train.mds >stdout.jsonl 2>/dev/null
grep -q '"type":"end","step":2' stdout.jsonl || fail "--log - did not write metrics to stdout"
mds-train "${common[@]}" --print-config --lr 0.5 >cfg.json
grep -q '"lr": 0.5' cfg.json || fail "--print-config does not show the override"
grep -q '"ema_decay": 0.9999' cfg.json || fail "--print-config does not show defaults"

# ---- SIGTERM: exit 143 and a checkpoint that resumes --------------------------
mds-train "${common[@]}" -o sig.mds --steps 100000 --set train.log_every=1 --log sig.jsonl train.mds 2>sig.err &
pid=$!
for _ in $(seq 600); do
  grep -q '"type":"train"' sig.jsonl 2>/dev/null && break
  sleep 0.1
done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 143 ] || fail "SIGTERM: exit $status, expected 143; $(cat sig.err)"
grep -q "stopped by signal 15 at step" sig.err || fail "SIGTERM message: $(cat sig.err)"
step=$(grep -o '"type":"interrupted","step":[0-9]*' sig.jsonl | grep -o '[0-9]*$')
[ -n "$step" ] || fail "no interrupted line in sig.jsonl"
expect 0 "done at step $((step + 2))" mds-train --resume sig.mds -o sig.mds --steps $((step + 2)) --threads 2 train.mds

# ---- resume: 4 + 4 steps == 8 steps, byte for byte -----------------------------
mds-train "${common[@]}" -o a.mds --steps 8 --log /dev/null train.mds 2>/dev/null
mds-train "${common[@]}" -o b.mds --steps 4 --set train.decay_steps=8 --log /dev/null train.mds 2>/dev/null
mds-train "${common[@]}" --resume b.mds -o c.mds --steps 8 --set train.decay_steps=0 --log /dev/null train.mds 2>/dev/null
cmp a.mds c.mds || fail "resumed checkpoint differs from the uninterrupted one"
echo "train_cli: all checks passed"
