// DiffusionModel behind the Denoiser interface: host <-> backend transfers
// around predict_x0_at and the backend's rounding operations.
#include "sample/model_denoiser.h"

#include "core/error.h"

namespace mds {

ModelDenoiser::ModelDenoiser(std::unique_ptr<DiffusionModel> model)
    : model_(std::move(model)),
      schedule_(SamplingSchedule::from_alpha_bar(model_->schedule().alpha_bars(), model_->config().noise_schedule)) {
  const ModelConfig& c = model_->config();
  info_.embed_dim = c.embed_dim;
  info_.vocab_size = static_cast<int>(c.vocab_size);
  info_.max_src_len = c.max_src_len;
  info_.max_trg_len = c.max_trg_len;
  info_.max_positions = c.positions();
  info_.absorb_rate = c.absorbing ? c.absorb_rate : 0.0;
  info_.special = SpecialIds{kPadId, kClsId, kSepId, kMaskId};
  embedding_ = download(model_->word_embedding(true));
  bias_ = download(model_->lm_bias(true));
  // Without the soft absorbing state the forward process has no m (offset 0).
  m_ = c.absorbing ? download(model_->mean_embed(true)) : std::vector<float>(static_cast<size_t>(c.embed_dim), 0.0f);
}

std::vector<float> ModelDenoiser::download(const Tensor& t) const {
  std::vector<float> h(static_cast<size_t>(t.numel()));
  model_->backend().download(t, h.data());
  return h;
}

void ModelDenoiser::predict_x0(const Batch& batch, const std::vector<float>& x_t, const std::vector<double>& timesteps,
                               std::vector<float>& x0) {
  Backend& be = model_->backend();
  const int64_t N = int64_t(batch.batch_size) * batch.seq_len, d = info_.embed_dim;
  if (static_cast<int64_t>(x_t.size()) != N * d)
    throw_runtime("predict_x0: x_t has {} values, expected {}", x_t.size(), N * d);
  std::vector<double> times(timesteps.size());
  for (size_t i = 0; i < times.size(); ++i) times[i] = model_->schedule().model_time(timesteps[i]);
  Tensor xt = be.alloc({N, d}), out = be.alloc({N, d});
  be.upload(xt, x_t.data());
  model_->predict_x0_at(batch, xt, times, /*use_ema=*/true, out);
  x0.resize(x_t.size());
  be.download(out, x0.data());
}

void ModelDenoiser::round_ids(const float* x, size_t n, int32_t* ids, bool argmax) const {
  if (n == 0) return;
  Backend& be = model_->backend();
  Tensor t = be.alloc({static_cast<int64_t>(n), info_.embed_dim});
  be.upload(t, x);
  be.download(argmax ? model_->logits_argmax(t, true) : model_->round_nearest(t, true), ids);
}

void ModelDenoiser::nearest_ids(const float* x, size_t n, int32_t* ids) const { round_ids(x, n, ids, false); }

void ModelDenoiser::argmax_ids(const float* x, size_t n, int32_t* ids) const { round_ids(x, n, ids, true); }

std::string ModelDenoiser::describe() const {
  const ModelConfig& c = model_->config();
  return fmt::format("MoE-DiffuSeq {} layers x {} hidden, d {}, {} experts top-{}, window {}, {} parameters, EMA "
                     "weights, {} backend",
                     c.layers, c.hidden_dim, c.embed_dim, c.moe_experts, c.moe_top_k, c.attention_window,
                     model_->parameter_count(), model_->backend_name());
}

}  // namespace mds
