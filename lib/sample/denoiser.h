// What the samplers need from a trained model: an x0 predictor for a packed
// batch at per-example (possibly fractional) timesteps, the tied embedding
// table (source embedding, rounding, the argmax decode through the rounding
// head), the soft absorbing vector m and the diffusion settings it was trained
// with. lib/model provides the real implementation (EMA weights, any backend);
// tests provide analytic ones.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/trainable.h"
#include "sample/sampling_schedule.h"

namespace mds {

// Special token ids shared by the tokenizer and the packed layout (docs/design.md §4).
struct SpecialIds {
  int32_t pad = 0, cls = 1, sep = 2, mask = 3;
};

struct DenoiserInfo {
  int embed_dim = 0;        // d
  int vocab_size = 0;       // V
  int max_src_len = 0;      // longest source (tokens, specials excluded) the model takes
  int max_trg_len = 0;      // target slots it was trained with (the region has max_trg_len + 1)
  int max_positions = 0;    // longest packed sequence its position table allows
  double absorb_rate = 0;   // DiffuSeq-v2 gamma (0 = the model has no soft absorbing state)
  SpecialIds special;
};

class Denoiser {
 public:
  virtual ~Denoiser() = default;

  virtual const DenoiserInfo& info() const = 0;
  virtual const SamplingSchedule& schedule() const = 0;

  // Predicts x0 at every position of `batch` (layout of model/trainable.h).
  //   x_t       [B, L, d] row-major, L = batch.seq_len; slots beyond an
  //             example's length hold zeros and must not affect valid ones.
  //   timesteps [B] schedule index in [0, T-1], possibly fractional (DPM-Solver
  //             evaluates between knots); the network's time input is
  //             index * 1000 / T exactly as in training (rescale_timesteps).
  //   x0        [B, L, d] output.
  // The target-region tokens of `batch` are PAD at sampling time: a model must
  // read x_t there, never batch.tokens. Each example's output must not depend
  // on the other examples of the batch (batch-size independence).
  virtual void predict_x0(const Batch& batch, const std::vector<float>& x_t, const std::vector<double>& timesteps,
                          std::vector<float>& x0) = 0;

  // Tied word embedding / rounding-head weight [V, d], row-major, on the host.
  virtual const std::vector<float>& embedding() const = 0;
  // Rounding-head bias [V]; empty means none.
  virtual const std::vector<float>& head_bias() const = 0;
  // The learned soft absorbing vector m [d]; zeros when the model has none.
  virtual const std::vector<float>& absorbing_vector() const = 0;
  // A short description for the sampler's metadata (architecture, backend).
  virtual std::string describe() const = 0;

  // For each of n vectors x[i, :d]: the id of the L2-nearest embedding
  // (rounding) and the argmax of the rounding head's logits (decode). The
  // defaults run the CPU backend's operations over embedding() and
  // head_bias(); a model on another backend overrides them.
  virtual void nearest_ids(const float* x, size_t n, int32_t* ids) const;
  virtual void argmax_ids(const float* x, size_t n, int32_t* ids) const;
};

}  // namespace mds
