#!/usr/bin/env bash
# Golden CLI test of mds-sample in the whole pipe on bundled data:
#   mds-tokenize train | mds-tokenize encode | mds-train ; mds-sample | mds-eval rouge
# A tiny model trained on 8 pairs of examples/data/qqp_small.train.jsonl must
# give them back (ROUGE-L >= 0.9 with dpm++ 10 steps and with ddpm 100 steps;
# measured 1.0); plus help/man agreement, usage errors (exit 2), a malformed
# record (exit 3), results written while the input is still open, and a slow
# producer answered record by record (--idle-flush) with the same results as
# one batch.
source "$(dirname "$0")/common.bash"

cd "$tmp"


# ---- help, version, man page ------------------------------------------------
check_help_and_man mds-sample

# ---- usage errors without a model: exit 2 ------------------------------------
expect 2 "--model is required" mds-sample
expect 2 "--bogus" mds-sample -m x.mds --bogus
expect 2 "--solver" mds-sample -m x.mds --solver euler
expect 2 "--rounding" mds-sample -m x.mds --rounding maybe
expect 2 "--idle-flush: expected an integer >= 0, found -1" mds-sample -m x.mds --idle-flush -1
expect 1 "x.mds" mds-sample -m x.mds

# ---- the pipe ------------------------------------------------------------------
head -n 8 "$MDS_SOURCE_DIR/examples/data/qqp_small.train.jsonl" >pairs.jsonl
cat >run.json <<'JSON'
{"model": {"embed_dim": 16, "hidden_dim": 64, "layers": 2, "heads": 4, "ffn_dim": 128, "time_embed_dim": 32,
           "time_hidden_dim": 64, "max_src_len": 24, "max_trg_len": 20, "dropout": 0.0, "attention_window": 8,
           "global_target": true, "moe_experts": 2, "moe_top_k": 1, "diffusion_steps": 2000},
 "train": {"steps": 300, "batch_size": 8, "lr": 0.003, "lr_schedule": "constant", "ema_decay": 0.9,
           "timestep_sampler": "uniform", "log_every": 100, "valid_every": 0, "checkpoint_every": 0, "seed": 1}}
JSON
mds-tokenize train -q --vocab-size 1000 --min-frequency 1 -o tok.mds pairs.jsonl
mds-tokenize encode -q -m tok.mds --max-src-len 24 --max-trg-len 20 pairs.jsonl |
  mds-train --config run.json --tokenizer tok.mds -o model.mds --threads 1 --no-progress --log train.log 2>train.err ||
  fail "mds-train failed: $(cat train.err)"

score() {  # score FILE.json: ROUGE-L F of an mds-eval rouge summary
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["rougeL"]["fmeasure"])' "$1"
}
mds-sample -m model.mds --threads 1 <pairs.jsonl 2>sample.err | tee hyp.jsonl | mds-eval rouge --no-bootstrap >rouge.json
[ "$(wc -l <hyp.jsonl)" -eq 8 ] || fail "expected 8 records, got $(wc -l <hyp.jsonl)"
grep -q '^mds-sample: config {.*"solver":"dpm++"' sample.err || fail "no configuration line: $(cat sample.err)"
grep -q '^mds-sample: 8 records (0 skipped) in ' sample.err || fail "no summary: $(cat sample.err)"
rl=$(score rouge.json)
python3 -c "import sys; sys.exit(not float('$rl') >= 0.9)" || fail "dpm++ ROUGE-L $rl < 0.9 on the training pairs"
mds-sample -m model.mds --threads 1 -q --solver ddpm --steps 100 --meta meta.json pairs.jsonl |
  mds-eval rouge --no-bootstrap >rouge_ddpm.json
rl2=$(score rouge_ddpm.json)
python3 -c "import sys; sys.exit(not float('$rl2') >= 0.9)" || fail "ddpm ROUGE-L $rl2 < 0.9 on the training pairs"
grep -q '"solver": "ddpm"' meta.json || fail "--meta lacks the solver"
grep -q '"records": 8' meta.json || fail "--meta lacks the statistics"

# ---- bad records ----------------------------------------------------------------
printf '{"src":"What is love?"}\n{"text":"x"}\n' >bad.jsonl
expect 3 "bad.jsonl:2: missing field \"src\"" mds-sample -m model.mds -q bad.jsonl
expect 0 "1 records (1 skipped)" mds-sample -m model.mds --skip-bad bad.jsonl

# ---- streaming: the first batch comes out while the input is still open --------
mkfifo in.fifo
mds-sample -m model.mds -q --threads 1 --batch-size 2 <in.fifo >stream.jsonl &
pid=$!
exec 3>in.fifo
head -n 2 pairs.jsonl >&3
for _ in $(seq 600); do
  [ "$(wc -l <stream.jsonl)" -ge 2 ] && break
  sleep 0.1
done
[ "$(wc -l <stream.jsonl)" -eq 2 ] || fail "no result while the input was open"
tail -n 6 pairs.jsonl >&3
exec 3>&-
wait "$pid" || fail "streaming mds-sample exited $?"
[ "$(wc -l <stream.jsonl)" -eq 8 ] || fail "streaming run wrote $(wc -l <stream.jsonl) records"
# ---- a slow producer: each record is answered once the input goes idle --------
# (default --batch-size 32 and --idle-flush 100: without the idle flush the
# first answer would wait for 32 records or the end of the input)
mkfifo slow.fifo
mds-sample -m model.mds -q --threads 1 <slow.fifo >slow.jsonl &
pid=$!
exec 4>slow.fifo
for i in 1 2 3; do
  sed -n "${i}p" pairs.jsonl >&4
  for _ in $(seq 600); do
    [ "$(wc -l <slow.jsonl)" -ge "$i" ] && break
    sleep 0.1
  done
  [ "$(wc -l <slow.jsonl)" -eq "$i" ] || fail "record $i was not answered while the input was open"
done
tail -n 5 pairs.jsonl >&4
exec 4>&-
wait "$pid" || fail "slow-producer mds-sample exited $?"
# Batched differently (1, 1, 1, 5 records), the same results as one batch of 8.
cmp slow.jsonl hyp.jsonl || fail "records answered one by one differ from one batch: $(diff slow.jsonl hyp.jsonl)"

# --idle-flush 0: full batches only, so nothing comes out before the input ends.
mkfifo off.fifo
mds-sample -m model.mds -q --threads 1 --idle-flush 0 <off.fifo >off.jsonl &
pid=$!
exec 4>off.fifo
head -n 1 pairs.jsonl >&4
sleep 1
[ "$(wc -l <off.jsonl)" -eq 0 ] || fail "--idle-flush 0 answered before the batch was full"
tail -n 7 pairs.jsonl >&4
exec 4>&-
wait "$pid" || fail "--idle-flush 0 mds-sample exited $?"
cmp off.jsonl hyp.jsonl || fail "--idle-flush 0 results differ from the default run"
echo "ok: dpm++ ROUGE-L $rl, ddpm ROUGE-L $rl2"
