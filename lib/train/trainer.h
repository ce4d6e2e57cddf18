// The training loop: batches from a Dataset, timestep sampling, gradient
// accumulation, clipping, AdamW with the learning-rate schedule, EMA,
// validation, metrics, checkpoints, exact resume and clean stops on a signal.
// The model itself is behind mds::TrainableModel (lib/model/trainable.h).
#pragma once

#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/container.h"
#include "model/trainable.h"
#include "train/batch_plan.h"
#include "train/dataset.h"
#include "train/report.h"
#include "train/timestep_sampler.h"
#include "train/train_config.h"

namespace mds::dist {
class Communicator;
}

namespace mds::train {

// What the trainer needs from its caller besides the model and the data.
struct TrainerSetup {
  int num_timesteps = 2000;  // T of the model's diffusion
  int64_t max_src_len = 0;   // source tokens the packer keeps (for bucketing; 0 = all)
  int64_t max_trg_len = 0;   // target slots per example (max_trg_len + 1 in the packed layout)
  // Builds the model batch for these example ids of `data` (lib/model's packer).
  std::function<Batch(const Dataset& data, const std::vector<uint64_t>& ids)> pack;
  // Written at every checkpoint ("" = never write checkpoints).
  std::string checkpoint_path;
  // Adds what the trainer does not own (config, tokenizer) to each checkpoint.
  std::function<void(Container&)> checkpoint_extras;
  // Owned by the caller (the signal handler of cmd/mds-train sets it to the
  // signal number); checked between updates: non-zero = save and stop.
  const volatile std::sig_atomic_t* stop_flag = nullptr;
  Reporter* reporter = nullptr;  // metrics and progress (nullptr = silent)
  // Called after every accepted update with the new step count.
  std::function<void(int64_t step)> on_step;
  // Data parallelism (docs/distributed.md): this process's rank of a group,
  // null for one process. The model must be distributed on the same
  // communicator. Each update's grad_accum micro-batches are dealt to the
  // ranks round-robin, so the run sees the same batches as on one rank;
  // only rank 0 should have a reporter and write checkpoints.
  dist::Communicator* comm = nullptr;
  // What must be equal on every rank besides the data (config, tokenizer):
  // compared at the start of run(); a rank that differs is named.
  nlohmann::json run_identity;
};

struct TrainResult {
  bool interrupted = false;  // stopped by stop_flag
  int signal = 0;            // the flag's value when interrupted
  int64_t step = 0;
  int64_t nonfinite_skipped = 0;
  bool checkpoint_written = false;
  // The metrics stream failed (Reporter::failure_errno(); EPIPE = its reader
  // went away): training stopped at the next update boundary like on a stop
  // request, and the checkpoint was written. The caller reports it.
  int metrics_errno = 0;
  std::string metrics_error;
};

// Mean loss terms over a validation pass.
struct ValidationResult {
  LossTerms mean;
  int64_t examples = 0;
  int64_t tokens = 0;
};

class Trainer {
 public:
  Trainer(TrainableModel& model, const TrainConfig& config, const Dataset& train, const Dataset* valid,
          TrainerSetup setup);
  ~Trainer();

  // Restores the model (TrainableModel::load_state) and the trainer state:
  // step, data position, sampler history, counters. The run then continues
  // exactly as if it had not stopped (same config, same data).
  void resume(const Container& checkpoint);

  // Trains until config.steps updates, until the stop flag is set or until a
  // metrics write fails, then writes a checkpoint (when a path is set).
  TrainResult run();

  // One update (grad_accum micro-batches). False if it was skipped as non-finite.
  bool train_step();
  ValidationResult validate();

  // The complete checkpoint for the current state.
  Container checkpoint() const;
  void save_checkpoint();

  int64_t step() const { return step_; }
  DataPosition data_position() const;
  const TimestepSampler& sampler() const { return sampler_; }
  int64_t nonfinite_skipped() const { return skipped_; }

 private:
  struct Interval;
  BatchingOptions batching(const Dataset& d) const;
  int rank() const;
  int world() const;
  void check_identity();
  bool stop_requested(TrainResult& r);
  void log_interval();
  void log_validation(const ValidationResult& v);

  TrainableModel& model_;
  TrainConfig cfg_;
  const Dataset& train_;
  const Dataset* valid_;
  TrainerSetup setup_;
  TimestepSampler sampler_;
  std::unique_ptr<BatchStream> stream_;
  int64_t step_ = 0;
  uint64_t micro_batches_ = 0;   // micro-batches consumed so far (keys the random streams)
  int64_t examples_seen_ = 0;
  int64_t tokens_seen_ = 0;
  int64_t skipped_ = 0;
  int64_t skipped_in_a_row_ = 0;
  int64_t last_checkpoint_step_ = -1;
  std::unique_ptr<Interval> interval_;
  double run_seconds_ = 0;       // time spent in updates during this process
  int64_t run_start_step_ = 0;
};

}  // namespace mds::train
