// Shared denoising state: initial noise, model calls with source re-imposition
// and rounding, final decode.
#include "sample/trajectory.h"

#include <chrono>
#include <cmath>

#include "core/error.h"

namespace mds {

Trajectory::Trajectory(Denoiser& model, const Batch& batch, const std::vector<uint64_t>& seeds,
                       const TrajectoryOptions& opt)
    : model_(model), batch_(batch), dim_(model.info().embed_dim) {
  const size_t B = static_cast<size_t>(batch.batch_size), L = static_cast<size_t>(batch.seq_len);
  const size_t d = static_cast<size_t>(dim_);
  if (seeds.size() != B) throw_runtime("sampler: {} seeds for a batch of {} rows", seeds.size(), B);
  if (batch.tokens.size() != B * L || batch.target_mask.size() != B * L || batch.valid.size() != B * L)
    throw_runtime("sampler: batch arrays do not match {} x {}", B, L);
  const auto& emb = model.embedding();
  const auto& m = model.absorbing_vector();
  const int V = model.info().vocab_size;
  if (emb.size() != static_cast<size_t>(V) * d || m.size() != d)
    throw_runtime("sampler: model tables have the wrong size (embedding {}, expected {}; m {}, expected {})",
                  emb.size(), static_cast<size_t>(V) * d, m.size(), d);
  offset_.assign(d, 0.0f);
  if (opt.centered) offset_ = m;

  x_start_.assign(B * L * d, 0.0f);
  x_.assign(B * L * d, 0.0f);
  gen_row_start_.resize(B + 1);
  rngs_.reserve(B);
  for (size_t r = 0; r < B; ++r) {
    rngs_.emplace_back(seeds[r]);
    gen_row_start_[r] = gen_.size();
    for (size_t p = 0; p < L; ++p) {
      const size_t slot = r * L + p;
      if (!batch.valid[slot]) continue;
      if (batch.target_mask[slot]) {
        gen_.push_back(slot);
        continue;
      }
      const int32_t tok = batch.tokens[slot];
      if (tok < 0 || tok >= V) throw_bad_input("sampler: token id {} outside the vocabulary [0, {})", tok, V);
      for (size_t j = 0; j < d; ++j) x_start_[slot * d + j] = emb[static_cast<size_t>(tok) * d + j];
    }
  }
  gen_row_start_[B] = gen_.size();

  // Initial noise: each row draws its own slots in order.
  x_ = x_start_;
  for (size_t r = 0; r < B; ++r) {
    ExampleRng& g = rngs_[r];
    for (size_t k = gen_row_start_[r]; k < gen_row_start_[r + 1]; ++k) {
      float* xs = &x_[gen_[k] * d];
      for (size_t j = 0; j < d; ++j) {
        const double base = opt.init == InitNoise::absorbing ? m[j] : 0.0;
        xs[j] = static_cast<float>(base + g.normal());
      }
    }
  }
}

void Trajectory::reimpose(std::vector<float>& v) const {
  const size_t n = static_cast<size_t>(batch_.batch_size) * batch_.seq_len;
  const size_t d = static_cast<size_t>(dim_);
  for (size_t slot = 0; slot < n; ++slot) {
    if (batch_.valid[slot] && batch_.target_mask[slot]) continue;
    for (size_t j = 0; j < d; ++j) v[slot * d + j] = x_start_[slot * d + j];
  }
}

void Trajectory::predict(double index, bool round, std::vector<float>& x0) {
  const std::vector<double> timesteps(static_cast<size_t>(batch_.batch_size), index);
  const auto t0 = std::chrono::steady_clock::now();
  model_.predict_x0(batch_, x_, timesteps, x0);
  model_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++evaluations_;
  const size_t d = static_cast<size_t>(dim_);
  if (x0.size() != x_.size())
    throw_runtime("sampler: the model returned {} values for a state of {}", x0.size(), x_.size());
  for (size_t slot : gen_)
    for (size_t j = 0; j < d; ++j)
      if (!std::isfinite(x0[slot * d + j]))
        throw_runtime("sampler: the model predicted a non-finite x0 at row {}, position {} (schedule index {})",
                      slot / batch_.seq_len, slot % batch_.seq_len, index);
  reimpose(x0);
  if (!round || gen_.empty()) return;
  // Gather the generated slots, round them, scatter the embeddings back.
  std::vector<float> packed(gen_.size() * d);
  for (size_t k = 0; k < gen_.size(); ++k)
    for (size_t j = 0; j < d; ++j) packed[k * d + j] = x0[gen_[k] * d + j];
  round_ids_.resize(gen_.size());
  const auto& emb = model_.embedding();
  model_.nearest_ids(packed.data(), gen_.size(), round_ids_.data());
  for (size_t k = 0; k < gen_.size(); ++k)
    for (size_t j = 0; j < d; ++j) x0[gen_[k] * d + j] = emb[static_cast<size_t>(round_ids_[k]) * d + j];
}

std::vector<int32_t> Trajectory::decode() const {
  std::vector<int32_t> out = batch_.tokens;
  const size_t d = static_cast<size_t>(dim_);
  std::vector<float> packed(gen_.size() * d);
  for (size_t k = 0; k < gen_.size(); ++k)
    for (size_t j = 0; j < d; ++j) packed[k * d + j] = x_[gen_[k] * d + j];
  std::vector<int32_t> ids(gen_.size());
  model_.argmax_ids(packed.data(), gen_.size(), ids.data());
  for (size_t k = 0; k < gen_.size(); ++k) out[gen_[k]] = ids[k];
  return out;
}

}  // namespace mds
