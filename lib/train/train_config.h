// The "train" object of an mds-train config ({"model": {...}, "train": {...}}):
// every field with its default and documentation, strict JSON parsing
// (unknown keys are errors listing the valid ones; bad values name the field)
// and "--set path=value" overrides applied to the whole config document.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/config_schema.h"

namespace mds::train {

enum class LrSchedule { constant, linear, cosine };
enum class TimestepSampling { uniform, loss_aware };

const char* lr_schedule_name(LrSchedule s);
const char* timestep_sampling_name(TimestepSampling s);

// Defaults follow DiffuSeq's released configuration (docs/training.md, section on the train fields)
// where it states one; docs/training.md explains each field.
struct TrainConfig {
  // Length of the run and batching.
  int64_t steps = 50000;          // optimizer updates in total (DiffuSeq QQP: 50k)
  int64_t batch_size = 64;        // examples per micro-batch (DiffuSeq microbatch 64)
  int64_t max_batch_tokens = 0;   // cap on B x L of a micro-batch; 0 = no cap
  int64_t grad_accum = 1;         // micro-batches per update
  bool shuffle = true;            // shuffle examples each epoch (seeded)
  int64_t bucket_pool = 100;      // batches per length-sorting pool; 0 = sort the whole epoch

  // Optimizer (AdamW) and learning-rate schedule.
  double lr = 1e-4;
  LrSchedule lr_schedule = LrSchedule::linear;
  int64_t warmup_steps = 0;
  int64_t decay_steps = 0;        // horizon of the decay; 0 = steps
  double final_lr = 0.0;          // lr reached at the end of the decay
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double grad_clip = 0.0;         // max global gradient L2 norm; 0 = no clipping
  double ema_decay = 0.9999;

  // Timestep sampling (docs/training.md, "Timestep sampling").
  TimestepSampling timestep_sampler = TimestepSampling::loss_aware;
  int64_t loss_aware_history = 10;
  double loss_aware_uniform = 0.001;

  // Reproducibility and robustness.
  uint64_t seed = 101;            // DiffuSeq's default seed
  bool skip_nonfinite = false;    // skip (and count) updates with a non-finite loss or gradient
  int64_t max_nonfinite_in_a_row = 10;  // with skip_nonfinite: give up after this many in a row

  // Periodic work (0 = never; a final checkpoint is always written).
  int64_t log_every = 10;
  int64_t valid_every = 1000;
  int64_t valid_max_batches = 0;  // 0 = the whole validation set
  int64_t checkpoint_every = 1000;

  int64_t effective_decay_steps() const { return decay_steps > 0 ? decay_steps : steps; }
};

// Every field with its type, range, default and documentation (docs/config.md).
const std::vector<FieldInfo>& train_fields();

// Parses the "train" object. Missing fields keep their defaults; unknown keys
// and invalid values throw a usage error starting with `where` (e.g.
// "run.json: train") that names the field, what was expected and what was found.
TrainConfig train_config_from_json(const nlohmann::json& j, const std::string& where = "train");
// Every field, defaults included (what a checkpoint records).
nlohmann::json train_config_to_json(const TrainConfig& c);

// The checks of train_config_from_json for a config built in code: each
// field's range and the cross-field ones (warmup within the decay horizon).
void validate(const TrainConfig& c, const std::string& where = "train");

// "--set" support. Parses "a.b.c=value" where value is JSON if it parses as
// JSON, otherwise a string (so train.lr_schedule=cosine works unquoted), and
// stores it at that path of `doc`, creating objects as needed. Usage error on
// a malformed assignment.
void apply_override(nlohmann::json& doc, const std::string& assignment);

}  // namespace mds::train
