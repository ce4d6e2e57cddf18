// The denoising network f(x_t, t) -> x0_hat of DiffuSeq / MoE-DiffuSeq
// (docs/model.md, "The denoiser"): up-projection, learned positions and time embedding,
// post-LN layers of sparse attention and (MoE) FFN, down-projection. Forward
// keeps what the hand-written backward needs; everything runs through the
// Backend interface.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "backend/backend.h"
#include "model/config.h"
#include "model/params.h"

namespace mds {

struct LinearIds {
  int w = -1, b = -1;
};
struct NormIds {
  int g = -1, b = -1;
};
struct LayerIds {
  LinearIds qkv, out;
  NormIds ln_attn, ln_ffn;
  bool moe = false;
  int router = -1;      // [E, H], MoE only
  LinearIds ff1, ff2;   // dense: [F,H], [H,F]; MoE: [E,F,H]+[E,F], [E,H,F]+[E,H]
};
struct NetworkIds {
  int word_embedding = -1, lm_bias = -1, mean_embed = -1, position = -1;
  LinearIds time1, time2, up1, up2, down1, down2;
  NormIds ln_in;
  std::vector<LayerIds> layers;
};

// Creates every parameter (fixed order and names) in the store.
NetworkIds build_parameters(ParamStore& store, const ModelConfig& c);
// DiffuSeq's effective initialisation (PyTorch defaults): Linear weights and
// biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)); word and position embeddings
// N(0, 1); LayerNorm 1 / 0; m ~ N(0, d^-1/2) (std); lm_head bias U(+-1/sqrt(d)).
// Each parameter's values depend only on (seed, name). EMA starts as a copy.
void init_parameters(Backend& be, ParamStore& store, const ModelConfig& c, uint64_t seed);

// Inputs of one network call shared by forward and backward.
struct StepInputs {
  int batch = 0, seq_len = 0;
  AttentionShape attention;
  AttentionPattern pattern;
  Tensor valid;       // u8 [N]
  Tensor row_keys;    // u64 [N] dropout keys
  Tensor time_input;  // [B, time_embed_dim] sinusoidal embedding of the model times
  int64_t routed_tokens = 0;  // valid tokens (MoE capacity)
  bool train = false;         // dropout on
};

struct MoeLayerStats {
  int layer = 0;
  double balance = 0, z = 0;          // unweighted
  std::vector<int64_t> assigned;      // per expert
  int64_t picks = 0, dropped = 0;
};

struct AttnCache {
  Tensor x, qkv, ctx, lse, proj, drop_mask, res, mean, rstd, out;
};
struct FfnCache {
  Tensor x, pre, act, y, drop_mask, res, mean, rstd, out;
  // MoE only
  Tensor logits, probs, idx, gates, xp, yp;
  MoeDispatch dispatch;
};
struct NetworkCache {
  Tensor x_t, time_pre, time_act, time_emb, up_pre, up_act, up, sum, ln_mean, ln_rstd, ln_out, drop_mask, h0;
  std::vector<AttnCache> attn;
  std::vector<FfnCache> ffn;
  Tensor down_in, down_pre, down_act;
};

class Network {
 public:
  Network(Backend& be, const ModelConfig& c, const NetworkIds& ids) : be_(be), c_(c), ids_(ids) {}
  // x0_hat [N, d]. With a cache, keeps activations for backward; stats (if not
  // null) receives one entry per MoE layer.
  Tensor forward(const ParamStore& p, bool ema, const StepInputs& in, const Tensor& x_t, NetworkCache* cache,
                 std::vector<MoeLayerStats>* stats);
  // Accumulates parameter gradients (MoE auxiliary losses weighted by their
  // config weights times aux_scale) and returns d x_t.
  Tensor backward(ParamStore& p, const StepInputs& in, NetworkCache& cache, const Tensor& dout, double aux_scale);
  // Called by backward right after layer i's parameter gradients are final
  // (layers count down), so data parallelism can start reducing them while
  // the layers below are differentiated; empty = none.
  void set_layer_done_hook(std::function<void(int layer)> hook) { layer_done_ = std::move(hook); }

 private:
  Tensor dropout(const Tensor& x, const StepInputs& in, uint64_t site, Tensor* mask);
  Tensor dropout_grad(const Tensor& dy, const Tensor& mask);
  Tensor attention_forward(const ParamStore& p, bool ema, const LayerIds& l, const StepInputs& in, int layer,
                           const Tensor& x, AttnCache& cache);
  Tensor attention_backward(ParamStore& p, const LayerIds& l, const StepInputs& in, AttnCache& cache,
                            const Tensor& dout);
  Tensor ffn_forward(const ParamStore& p, bool ema, const LayerIds& l, const StepInputs& in, int layer,
                     const Tensor& x, FfnCache& cache, std::vector<MoeLayerStats>* stats);
  Tensor ffn_backward(ParamStore& p, const LayerIds& l, const StepInputs& in, FfnCache& cache, const Tensor& dout,
                      double aux_scale);
  Tensor linear(const ParamStore& p, bool ema, const LinearIds& ids, const Tensor& x, int64_t out_dim);
  void linear_grad(ParamStore& p, const LinearIds& ids, const Tensor& x, const Tensor& dy, Tensor& dx);
  Tensor layer_norm(const ParamStore& p, bool ema, const NormIds& ids, const Tensor& x, Tensor& mean, Tensor& rstd);
  void layer_norm_grad(ParamStore& p, const NormIds& ids, const Tensor& x, const Tensor& mean, const Tensor& rstd,
                       const Tensor& dy, Tensor& dx);

  Backend& be_;
  const ModelConfig& c_;
  const NetworkIds& ids_;
  std::function<void(int)> layer_done_;
};

}  // namespace mds
