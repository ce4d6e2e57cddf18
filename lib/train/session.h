// One mds-train run from its command-line options: config (file, --set
// overrides, or the checkpoint's on --resume), tokenizer, shards, model,
// trainer, metrics and checkpoints. cmd/mds-train.cpp only parses flags,
// installs the signal handlers and maps the result to an exit status.
#pragma once

#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "train/model_binding.h"
#include "train/trainer.h"

namespace mds::train {

struct SessionOptions {
  std::string config_path;             // --config ("" = none; required unless --resume)
  std::vector<std::string> overrides;  // --set PATH=VALUE and the shorthand flags, in order
  std::string tokenizer_path;          // --tokenizer (required unless --resume)
  std::vector<std::string> data;       // training shards (empty = stdin)
  std::vector<std::string> valid;      // --valid shards (optional)
  std::string out;                     // --out checkpoint path
  std::string resume;                  // --resume checkpoint ("" = fresh run)
  std::string log;                     // --log: "" = stderr, "-" = stdout, else a file (appended)
  int progress = -1;                   // 1 = --progress, 0 = --no-progress, -1 = when stderr is a terminal
  int threads = 0;                     // 0 = every hardware thread
  std::string device = "auto";  // auto: cuda when a GPU is usable, else cpu
  bool print_config = false;           // print the effective config and stop
  // Data parallelism (docs/distributed.md): when the launch environment
  // (RANK/WORLD_SIZE, mpirun, srun) names several ranks, this process is one
  // of them: it trains on GPU LOCAL_RANK, rank 0 logs and writes the
  // checkpoints. zero1 shards the AdamW moments; dist_timeout_s bounds the
  // rendezvous and every collective.
  bool zero1 = false;
  double dist_timeout_s = 600;
};

struct SessionResult {
  TrainResult train;
  bool config_printed = false;
};

// Runs the session. `stop` is the caller's signal flag (may be nullptr);
// `out` receives --print-config output and `messages` warnings, the
// progress bar and (without --log) the metrics lines.
SessionResult run_session(const SessionOptions& opt, const ModelBinding& binding,
                          const volatile std::sig_atomic_t* stop, std::FILE* out, std::FILE* messages,
                          bool messages_is_terminal);

}  // namespace mds::train
