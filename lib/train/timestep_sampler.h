// Diffusion timestep sampling for training: uniform, or loss-aware importance
// sampling (docs/training.md, "Timestep sampling"; after DiffuSeq's LossSecondMomentResampler):
// p_t ∝ sqrt(E[L_t²]) over the last `history` losses seen at t, mixed with
// the uniform distribution, uniform until every t has `history` losses; each
// example's loss is weighted by 1/(T·p_t) so the gradient stays unbiased.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/container.h"
#include "train/rng.h"
#include "train/train_config.h"

namespace mds::train {

class TimestepSampler {
 public:
  TimestepSampler(TimestepSampling kind, int num_timesteps, int history = 10, double uniform_mix = 0.001);

  // Draws n timesteps in [0, T) and their importance weights 1/(T·p_t).
  void sample(Rng& rng, int n, std::vector<int32_t>& timesteps, std::vector<double>& weights) const;
  // The current distribution over t (uniform until warmed up).
  std::vector<double> probabilities() const;
  // True once every t has a full history (always false for uniform sampling).
  bool warmed_up() const;
  // Records per-example losses observed at the given timesteps; non-finite
  // losses are ignored. A no-op for uniform sampling.
  void update(const std::vector<int32_t>& timesteps, const std::vector<double>& losses);

  // State for checkpoints: sections "<prefix>history" (f64 [T, history]) and
  // "<prefix>counts" (i64 [T]) plus a JSON description. load_state checks that
  // the kind and sizes match and restores exactly.
  void save_state(Container& out, const std::string& prefix, nlohmann::json& meta) const;
  void load_state(const Container& in, const std::string& prefix, const nlohmann::json& meta);

  int num_timesteps() const { return T_; }
  TimestepSampling kind() const { return kind_; }

 private:
  TimestepSampling kind_;
  int T_;
  int H_;
  double uniform_mix_;
  std::vector<double> history_;  // [T][H] ring buffers
  std::vector<int64_t> counts_;  // losses recorded per t (ring position = count % H)
};

}  // namespace mds::train
