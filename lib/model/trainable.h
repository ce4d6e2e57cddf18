// The contract between the trainer (lib/train) and a model implementation
// (lib/model, on any backend). The trainer owns the loop, schedules, timestep
// sampling, data order and checkpoint files; the model owns parameters,
// optimizer moments and EMA weights wherever they live (host or device), and
// computes losses and gradients.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/container.h"

namespace mds::dist {
class Communicator;
}
namespace mds {
class Backend;
}

namespace mds {

// One packed training/sampling batch, built by pack_batch() in lib/model.
// Layout per example (docs/design.md §4): [CLS] src [SEP] | trg [SEP] [PAD]... where
// the target region (after the first [SEP]) has exactly max_trg_len + 1 slots,
// so an example's length is src_len + 2 + max_trg_len + 1 whatever the batch.
// Examples shorter than the batch's L are padded at the end; those slots are
// masked out of attention and of every loss (valid = 0).
struct Batch {
  int batch_size = 0;
  int seq_len = 0;                    // L (max example length in this batch)
  std::vector<int32_t> tokens;        // [B*L] token ids (PAD beyond the example's length)
  std::vector<uint8_t> target_mask;   // [B*L] 1 = target region (noised, generated)
  std::vector<uint8_t> valid;         // [B*L] 1 = inside the example's length
  std::vector<int32_t> lengths;       // [B] example lengths
  std::vector<uint64_t> example_ids;  // [B] stable ids (data index), used to seed per-example noise
};

// Loss terms of one step, averaged over the batch as they enter the loss.
struct LossTerms {
  double total = 0;        // what the gradient is of (weighted by importance weights)
  double mse = 0;          // x0 MSE term
  double rounding_nll = 0; // rounding cross-entropy -log p(w | x0)
  double prior = 0;        // ||sqrt(abar_T) x0||^2 term
  double absorb_reg = 0;   // reg * ||m||_2 (soft absorbing state)
  double moe_balance = 0;  // Switch load-balancing loss (weighted)
  double moe_z = 0;        // router z-loss (weighted)
  std::vector<double> per_example;            // [B] unweighted per-example diffusion loss (for loss-aware sampling)
  std::vector<std::vector<double>> expert_load; // [moe layer][expert] fraction of routed token slots
  double moe_drop_fraction = 0;  // fraction of top-k picks dropped by the capacity limit (0 when dropless)
};

struct OptimizerSettings {
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
};

class TrainableModel {
 public:
  virtual ~TrainableModel() = default;

  // Forward + backward on one micro-batch at the given timesteps (one per
  // example) with importance weights (one per example, multiply each example's
  // loss). Gradients are ADDED to the gradient buffers (for accumulation),
  // scaled by grad_scale (e.g. 1/accumulation_steps). `noise_seed` drives all
  // randomness of this call (noise, absorbing draws, dropout) so a step is
  // reproducible from (seed, step).
  virtual LossTerms forward_backward(const Batch& batch, const std::vector<int32_t>& timesteps,
                                     const std::vector<double>& weights, uint64_t noise_seed, double grad_scale) = 0;
  // Loss only (validation): no dropout, no gradient.
  virtual LossTerms evaluate(const Batch& batch, const std::vector<int32_t>& timesteps, uint64_t noise_seed) = 0;

  virtual void zero_grad() = 0;
  // Global L2 norm of all gradients; false if any gradient is non-finite.
  virtual double grad_norm(bool* all_finite) = 0;
  virtual void scale_grad(double factor) = 0;
  // AdamW step with the given settings (bias correction by step count kept inside).
  virtual void optimizer_step(const OptimizerSettings& opt) = 0;
  // ema = decay * ema + (1 - decay) * params.
  virtual void ema_update(double decay) = 0;

  // Checkpoint state as container sections: "param/<name>", "ema/<name>",
  // "adam_m/<name>", "adam_v/<name>" (f32, with shapes) plus meta such as the
  // optimizer step count. set_state restores exactly (bit-identical).
  virtual void save_state(Container& out) const = 0;
  virtual void load_state(const Container& in) = 0;
  virtual int64_t parameter_count() const = 0;
  virtual std::string backend_name() const = 0;

  // ---- data parallelism (docs/distributed.md) ---------------------------------
  // Makes this model one replica of a data-parallel group: after
  // finish_gradient_reduction() every rank holds the sum of all ranks'
  // gradients (grad_norm, scale_grad and optimizer_step then act on it); with
  // zero1 the AdamW moments are sharded across the ranks (ZeRO stage 1) and
  // save_state/load_state gather and scatter them, so checkpoints are the same
  // whatever the number of ranks. Called once, before load_state. Every rank
  // must then make the same sequence of these calls.
  virtual void distribute(dist::Communicator& comm, bool zero1);
  // The next forward_backward is this rank's last of the update: its backward
  // starts reducing gradients as it finishes each layer.
  virtual void begin_last_micro_batch() {}
  // Completes the reduction of this update's gradients across the ranks.
  virtual void finish_gradient_reduction() {}
  // The backend the model computes on, for a communicator that must order
  // its work with the model's (nullptr when the model has none).
  virtual Backend* compute_backend() { return nullptr; }
};

}  // namespace mds
