// The state of one batch being denoised, and the operations every solver
// shares: the initial noise, the model call with the source re-imposed on its
// output (and optional rounding), re-imposing the source on x, the frame
// centred on the absorbing vector m, per-example noise, and the final argmax
// decode.
#pragma once

#include <cstdint>
#include <vector>

#include "model/trainable.h"
#include "sample/denoiser.h"
#include "sample/example_rng.h"

namespace mds {

// Where the target noise starts (docs/sampling.md, "Initial noise").
enum class InitNoise {
  absorbing,  // x_T = m + N(0, I): the prior of the training forward process
  zero,       // x_T = N(0, I): DiffuSeq-v2's DPM-Solver++ script (no m offset)
};

struct TrajectoryOptions {
  InitNoise init = InitNoise::absorbing;
  // true: solvers update y = x - m on target slots, the frame in which the
  // training forward process is the plain VP process (exact posterior);
  // false: they update x itself, as DiffuSeq-v2's code does.
  bool centered = true;
};

class Trajectory {
 public:
  // `seeds` [B] are the noise streams of the batch's rows (example_seed()).
  // The batch must outlive the trajectory. Draws the initial noise.
  Trajectory(Denoiser& model, const Batch& batch, const std::vector<uint64_t>& seeds, const TrajectoryOptions& opt);

  int rows() const { return batch_.batch_size; }
  int seq_len() const { return batch_.seq_len; }
  int dim() const { return dim_; }
  const Batch& batch() const { return batch_; }
  const SamplingSchedule& schedule() const { return model_.schedule(); }
  const DenoiserInfo& info() const { return model_.info(); }

  // Current state [B, L, d].
  std::vector<float>& x() { return x_; }
  const std::vector<float>& x() const { return x_; }

  // Flat slot indices (row * L + pos) of the generated (target) slots, row by
  // row, positions ascending; gen_begin(r)..gen_begin(r+1) are row r's.
  const std::vector<size_t>& generated() const { return gen_; }
  size_t gen_begin(int row) const { return gen_row_start_[static_cast<size_t>(row)]; }

  // The frame offset of target slots: m when centred, zeros otherwise.
  const std::vector<float>& offset() const { return offset_; }
  // The absorbing vector m itself (swaps replace a slot by it in any frame).
  const std::vector<float>& absorbing() const { return model_.absorbing_vector(); }

  // x0 = f(x, index) for every row at the same schedule index; source slots
  // re-imposed to Emb(src), padding slots zero; with `round`, each generated
  // slot replaced by its L2-nearest embedding (DiffuSeq's rounding). Throws a
  // runtime error if the model returns a non-finite value.
  void predict(double index, bool round, std::vector<float>& x0);
  // Source slots of v <- Emb(src); padding slots <- 0.
  void reimpose(std::vector<float>& v) const;

  ExampleRng& rng(int row) { return rngs_[static_cast<size_t>(row)]; }

  // Argmax of the rounding head at every slot of x: [B, L] token ids (source
  // slots keep their input ids, padding slots PAD).
  std::vector<int32_t> decode() const;

  int model_evaluations() const { return evaluations_; }
  double model_seconds() const { return model_seconds_; }

 private:
  Denoiser& model_;
  const Batch& batch_;
  int dim_;
  std::vector<float> x_, x_start_, offset_;
  std::vector<size_t> gen_, gen_row_start_;
  std::vector<ExampleRng> rngs_;
  std::vector<int32_t> round_ids_;
  int evaluations_ = 0;
  double model_seconds_ = 0;
};

}  // namespace mds
