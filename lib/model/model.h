// DiffusionModel: the MoE-DiffuSeq model on any Backend. Implements the
// trainer contract (TrainableModel: losses, gradients, AdamW, EMA, state) and
// the entry points the samplers need (predict_x0, embeddings, rounding, the
// soft absorbing state m, the noise schedule).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "model/batch.h"
#include "model/config.h"
#include "model/network.h"
#include "model/params.h"
#include "model/schedule.h"
#include "model/trainable.h"

namespace mds {

class DiffusionModel final : public TrainableModel {
 public:
  // Builds and initialises the parameters from `seed` (see init_parameters).
  DiffusionModel(const ModelConfig& config, std::shared_ptr<Backend> backend, uint64_t seed);
  // The network refers to members (config, parameter ids): not copyable or movable.
  DiffusionModel(const DiffusionModel&) = delete;
  DiffusionModel& operator=(const DiffusionModel&) = delete;

  // ---- TrainableModel -----------------------------------------------------
  LossTerms forward_backward(const Batch& batch, const std::vector<int32_t>& timesteps,
                             const std::vector<double>& weights, uint64_t noise_seed, double grad_scale) override;
  LossTerms evaluate(const Batch& batch, const std::vector<int32_t>& timesteps, uint64_t noise_seed) override;
  void zero_grad() override;
  double grad_norm(bool* all_finite) override;
  void scale_grad(double factor) override;
  void optimizer_step(const OptimizerSettings& opt) override;
  void ema_update(double decay) override;
  void save_state(Container& out) const override;
  void load_state(const Container& in) override;
  int64_t parameter_count() const override { return params_.count(); }
  std::string backend_name() const override { return be_->name(); }
  void distribute(dist::Communicator& comm, bool zero1) override;
  void begin_last_micro_batch() override;
  void finish_gradient_reduction() override;
  Backend* compute_backend() override { return be_.get(); }
  ~DiffusionModel() override;

  // ---- inference (samplers) -----------------------------------------------
  // x0_hat [B*L, d] from x_t [B*L, d] at integer timesteps (one per example),
  // without dropout; use_ema selects the EMA weights.
  void predict_x0(const Batch& batch, const Tensor& x_t, const std::vector<int32_t>& timesteps, bool use_ema,
                  Tensor& x0_hat);
  // Same at real-valued network times (already rescaled: t * 1000 / T), for
  // continuous-time solvers such as DPM-Solver++.
  void predict_x0_at(const Batch& batch, const Tensor& x_t, const std::vector<double>& model_times, bool use_ema,
                     Tensor& x0_hat);
  // Host-vector convenience of predict_x0.
  std::vector<float> predict_x0(const Batch& batch, const std::vector<float>& x_t,
                                const std::vector<int32_t>& timesteps, bool use_ema);

  // Emb(ids) [n, d] for i32 ids [n].
  Tensor embed(const Tensor& ids, bool use_ema);
  // Nearest-embedding rounding (DiffuSeq clamping) and logits argmax (final decode), i32 [n].
  Tensor round_nearest(const Tensor& x, bool use_ema);
  Tensor logits_argmax(const Tensor& x, bool use_ema);

  const Tensor& word_embedding(bool use_ema) const { return params_.weight(ids_.word_embedding, use_ema); }
  const Tensor& lm_bias(bool use_ema) const { return params_.weight(ids_.lm_bias, use_ema); }
  const Tensor& mean_embed(bool use_ema) const { return params_.weight(ids_.mean_embed, use_ema); }

  const ModelConfig& config() const { return config_; }
  const NoiseSchedule& schedule() const { return schedule_; }
  Backend& backend() const { return *be_; }
  std::shared_ptr<Backend> backend_ptr() const { return be_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }
  int64_t optimizer_steps() const { return step_; }

 private:
  struct Prepared;
  Prepared prepare(const Batch& batch, const std::vector<double>& model_times, uint64_t noise_seed, bool train);
  LossTerms run(const Batch& batch, const std::vector<int32_t>& timesteps, const std::vector<double>& weights,
                uint64_t noise_seed, double grad_scale, bool backward);

  // Data parallelism (model_parallel.cpp); null on a single rank.
  struct Parallel {
    dist::Communicator* comm = nullptr;
    bool zero1 = false;
    // Flat element ranges in the order the backward pass finalises them: the
    // layers from the last to the first, then everything else.
    std::vector<std::pair<int64_t, int64_t>> buckets;
    size_t next_bucket = 0;
    bool armed = false;  // this backward is the rank's last of the update
    int64_t shard_begin = 0, shard_size = 0;
    Tensor adam_m, adam_v;  // ZeRO-1: this rank's shard of the moments
  };

  // The parameters' parts inside this rank's ZeRO-1 shard.
  struct ShardPiece {
    int param = 0;
    int64_t begin = 0, size = 0;  // flat elements [begin, begin + size)
  };
  std::vector<ShardPiece> shard_pieces() const;
  bool sharded() const;  // ZeRO-1 is on
  double sharded_grad_norm(bool* all_finite);
  void sharded_scale_grad(double factor);
  void sharded_optimizer_step(const AdamWParams& a);
  void on_layer_done(int layer);
  void issue_bucket();
  // ZeRO-1 checkpoints: the full moments gathered from every rank (flat
  // arenas), and the upload of one parameter's part of this rank's shard.
  std::pair<Tensor, Tensor> gathered_moments() const;
  void upload_moment_shard(int param, const std::vector<float>& host_m, const std::vector<float>& host_v);
  void clear_moment_shards();

  ModelConfig config_;
  std::shared_ptr<Backend> be_;
  NoiseSchedule schedule_;
  ParamStore params_;
  NetworkIds ids_;
  Network net_;
  int64_t step_ = 0;
  std::unique_ptr<Parallel> par_;
};

// Builds a model on `backend` (vocab_size must be set in the config).
std::unique_ptr<DiffusionModel> make_model(const ModelConfig& config, std::shared_ptr<Backend> backend,
                                           uint64_t seed);

}  // namespace mds
