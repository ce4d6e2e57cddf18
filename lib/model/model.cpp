// DiffusionModel: one training step = embed, noise (partial noising around
// the soft absorbing state), denoise, losses (docs/model.md, "One training step"), backward.
// Randomness comes from counter-based draws keyed by (noise_seed, example id,
// position), so it does not depend on batch composition or thread count.
#include "model/model.h"

#include <cmath>

#include "backend/rng.h"
#include "core/error.h"

namespace mds {

struct DiffusionModel::Prepared {
  StepInputs in;
  Tensor tokens;                   // i32 [N]
  std::vector<uint64_t> row_keys;  // host copy of in.row_keys
};

DiffusionModel::DiffusionModel(const ModelConfig& config, std::shared_ptr<Backend> backend, uint64_t seed)
    : config_(config),
      be_(std::move(backend)),
      schedule_(NoiseSchedule::make(config.noise_schedule, config.diffusion_steps, config.rescale_timesteps)),
      params_(*be_),
      ids_(),
      net_(*be_, config_, ids_) {
  validate_model_config(config_);
  ids_ = build_parameters(params_, config_);
  init_parameters(*be_, params_, config_, seed);
}

std::unique_ptr<DiffusionModel> make_model(const ModelConfig& config, std::shared_ptr<Backend> backend,
                                           uint64_t seed) {
  if (!backend) throw_runtime("make_model: no backend");
  return std::make_unique<DiffusionModel>(config, std::move(backend), seed);
}

DiffusionModel::Prepared DiffusionModel::prepare(const Batch& batch, const std::vector<double>& model_times,
                                                 uint64_t noise_seed, bool train) {
  check_batch(batch, config_);
  const int B = batch.batch_size, L = batch.seq_len;
  const int64_t N = int64_t(B) * L;
  if (static_cast<int>(model_times.size()) != B)
    throw_runtime("model: {} timesteps for a batch of {}", model_times.size(), B);
  Prepared p;
  StepInputs& in = p.in;
  in.batch = B;
  in.seq_len = L;
  in.train = train;
  in.attention.batch = B;
  in.attention.seq_len = L;
  in.attention.heads = config_.heads;
  in.attention.head_dim = config_.head_dim();
  in.attention.window = config_.attention_window == 0 ? L : config_.attention_window;
  in.attention.dilation = config_.head_dilations();
  in.pattern = make_attention_pattern(*be_, batch, config_);
  in.valid = in.pattern.valid;
  for (uint8_t v : batch.valid) in.routed_tokens += v;
  p.row_keys.resize(N);
  for (int b = 0; b < B; ++b)
    for (int l = 0; l < L; ++l) p.row_keys[size_t(b) * L + l] = rng::row_key(noise_seed, batch.example_ids[b], l);
  in.row_keys = be_->alloc({N}, ElemType::u64);
  be_->upload(in.row_keys, p.row_keys.data());
  std::vector<double> temb(size_t(B) * config_.time_embed_dim);
  for (int b = 0; b < B; ++b) timestep_embedding(model_times[b], config_.time_embed_dim, temb.data() + size_t(b) * config_.time_embed_dim);
  in.time_input = be_->alloc({B, config_.time_embed_dim});
  be_->upload(in.time_input, temb.data());
  p.tokens = be_->alloc({N}, ElemType::i32);
  be_->upload(p.tokens, batch.tokens.data());
  return p;
}

LossTerms DiffusionModel::forward_backward(const Batch& batch, const std::vector<int32_t>& timesteps,
                                           const std::vector<double>& weights, uint64_t noise_seed,
                                           double grad_scale) {
  return run(batch, timesteps, weights, noise_seed, grad_scale, true);
}

LossTerms DiffusionModel::evaluate(const Batch& batch, const std::vector<int32_t>& timesteps, uint64_t noise_seed) {
  return run(batch, timesteps, std::vector<double>(timesteps.size(), 1.0), noise_seed, 0.0, false);
}

LossTerms DiffusionModel::run(const Batch& batch, const std::vector<int32_t>& timesteps,
                              const std::vector<double>& weights, uint64_t noise_seed, double grad_scale,
                              bool backward) {
  const int B = batch.batch_size, L = batch.seq_len, T = schedule_.steps();
  const int64_t N = int64_t(B) * L, d = config_.embed_dim;
  if (static_cast<int>(timesteps.size()) != B || static_cast<int>(weights.size()) != B)
    throw_runtime("model: batch of {} needs {} timesteps and weights, got {} and {}", B, B, timesteps.size(),
                  weights.size());
  std::vector<double> times(B);
  for (int b = 0; b < B; ++b) {
    if (timesteps[b] < 0 || timesteps[b] >= T) throw_runtime("model: timestep {} outside [0, {})", timesteps[b], T);
    times[b] = schedule_.model_time(timesteps[b]);
  }
  Prepared prep = prepare(batch, times, noise_seed, backward);
  const Tensor& E = params_.at(ids_.word_embedding).value;
  const Tensor& bias = params_.at(ids_.lm_bias).value;
  const Tensor& m = params_.at(ids_.mean_embed).value;
  const double std0 = schedule_.sqrt_one_minus_alpha_bar(0);

  // Per-row coefficients (host): embedding noise, x_t blend, MSE target, loss region.
  std::vector<double> ones(N, 1.0), ae0(N, std0), ax(N), am(N), ae(N), ctgt(N), region(N, 0.0);
  std::vector<int> count(B, 0);
  const bool whole = config_.loss_region == "sequence";
  for (int b = 0; b < B; ++b) {
    const int t = timesteps[b];
    const double sab = schedule_.sqrt_alpha_bar(t), s1 = schedule_.sqrt_one_minus_alpha_bar(t);
    for (int l = 0; l < L; ++l) {
      const size_t r = size_t(b) * L + l;
      const bool target = batch.target_mask[r] && batch.valid[r];
      if (!target) {  // source (and batch padding) stays x0
        ax[r] = 1, am[r] = 0, ae[r] = 0;
      } else if (config_.absorbing && rng::uniform(prep.row_keys[r], rng::kSaltAbsorb, 0) < config_.absorb_rate * s1) {
        ax[r] = 0, am[r] = 1, ae[r] = 0;  // replaced by the absorbing state m
      } else {
        ax[r] = sab, am[r] = config_.absorbing ? 1.0 - sab : 0.0, ae[r] = s1;
      }
      ctgt[r] = (t == 0 && config_.mse_t0_clean) ? 0.0 : std0;
      if (batch.valid[r] && (whole || batch.target_mask[r])) region[r] = 1.0, ++count[b];
    }
  }
  auto row_tensor = [&](const std::vector<double>& v) {
    Tensor t = be_->alloc({N});
    be_->upload(t, v.data());
    return t;
  };
  Tensor t_ones = row_tensor(ones), t_ae0 = row_tensor(ae0), t_ax = row_tensor(ax), t_am = row_tensor(am),
         t_ae = row_tensor(ae), t_ctgt = row_tensor(ctgt), none;

  // x0 = Emb(w) + sqrt(1 - abar_0) eps0; x_t = ax x0 + am m + ae eps.
  Tensor e = be_->alloc({N, d}), eps0 = be_->alloc({N, d}), eps = be_->alloc({N, d});
  be_->gather_rows(E, prep.tokens, e);
  be_->gaussian_fill(prep.in.row_keys, rng::kSaltEmbedNoise, eps0);
  be_->gaussian_fill(prep.in.row_keys, rng::kSaltDiffusion, eps);
  Tensor x0 = be_->alloc({N, d}), x_t = be_->alloc({N, d}), target = be_->alloc({N, d});
  be_->row_combine_forward(e, t_ones, none, none, eps0, t_ae0, x0);
  be_->row_combine_forward(x0, t_ax, m, t_am, eps, t_ae, x_t);
  be_->row_combine_forward(e, t_ones, none, none, eps0, t_ctgt, target);  // x0, or Emb(w) at t = 0

  NetworkCache cache;
  std::vector<MoeLayerStats> stats;
  Tensor f = net_.forward(params_, false, prep.in, x_t, backward ? &cache : nullptr, &stats);

  // The rounding loss runs over the loss-region rows only (the target rows,
  // unless loss_region is "sequence"), gathered into a compact block: the
  // vocabulary products, the largest of the step after the layers, skip the
  // source and padding rows, whose loss weight is zero anyway.
  std::vector<int32_t> region_rows, region_tokens;
  for (int64_t r = 0; r < N; ++r)
    if (region[r] != 0) region_rows.push_back(int32_t(r)), region_tokens.push_back(batch.tokens[r]);
  const int64_t R = int64_t(region_rows.size());
  Tensor t_rows, x0_region, tokens_region, nll_region;
  std::vector<double> h_nll_region(R);
  if (R > 0) {
    t_rows = be_->alloc_uninit({R}, ElemType::i32);
    be_->upload(t_rows, region_rows.data());
    tokens_region = be_->alloc_uninit({R}, ElemType::i32);
    be_->upload(tokens_region, region_tokens.data());
    x0_region = be_->alloc_uninit({R, d});
    be_->gather_rows(x0, t_rows, x0_region);
    nll_region = be_->alloc_uninit({R});
    Tensor w_region = be_->alloc_uninit({R});
    be_->fill(w_region, 1.0);
    be_->tied_ce_forward(x0_region, E, bias, tokens_region, w_region, nll_region);
  }
  Tensor msq = be_->alloc_uninit({N}), x0sq = be_->alloc_uninit({N});
  be_->row_sq_diff_forward(f, target, msq);
  if (config_.prior_loss) be_->row_sq_diff_forward(x0, none, x0sq);
  std::vector<double> h_msq(N), h_nll(N, 0.0), h_x0sq(N, 0.0);
  be_->download(msq, h_msq.data());
  if (R > 0) be_->download(nll_region, h_nll_region.data());
  for (int64_t i = 0; i < R; ++i) h_nll[region_rows[i]] = h_nll_region[i];
  if (config_.prior_loss) be_->download(x0sq, h_x0sq.data());
  const double abar_last = schedule_.alpha_bar(T - 1);

  LossTerms out;
  out.per_example.resize(B);
  double weighted = 0;
  for (int b = 0; b < B; ++b) {
    double s_mse = 0, s_nll = 0, s_prior = 0;
    for (int l = 0; l < L; ++l) {
      const size_t r = size_t(b) * L + l;
      if (region[r] == 0) continue;
      s_mse += h_msq[r];
      s_nll += h_nll[r];
      s_prior += abar_last * h_x0sq[r];
    }
    const double n = std::max(count[b], 1);
    const double lb = s_mse / n + config_.rounding_weight * s_nll / n + s_prior / n;
    out.mse += s_mse / n / B;
    out.rounding_nll += s_nll / n / B;
    out.prior += s_prior / n / B;
    out.per_example[b] = lb;
    weighted += weights[b] * lb / B;
  }
  double m_norm = 0;
  if (config_.absorbing && config_.absorb_reg > 0) {
    m_norm = std::sqrt(be_->sum_squares(m));
    out.absorb_reg = config_.absorb_reg * m_norm;
  }
  int64_t picks = 0, dropped = 0;
  for (const auto& s : stats) {
    out.moe_balance += config_.moe_balance_weight * s.balance;
    out.moe_z += config_.moe_z_weight * s.z;
    int64_t total = 0;
    for (int64_t a : s.assigned) total += a;
    std::vector<double> load(s.assigned.size(), 0.0);
    for (size_t i = 0; i < load.size(); ++i) load[i] = total ? double(s.assigned[i]) / double(total) : 0.0;
    out.expert_load.push_back(std::move(load));
    picks += s.picks;
    dropped += s.dropped;
  }
  out.moe_drop_fraction = picks ? double(dropped) / double(picks) : 0.0;
  out.total = weighted + out.absorb_reg + out.moe_balance + out.moe_z;
  if (!backward) return out;

  // ---- backward: seeds per row, then back through the network and the noising.
  std::vector<double> d_msq(N, 0.0), d_nll(R, 0.0), d_prior(N, 0.0);
  for (int b = 0; b < B; ++b) {
    const double c = grad_scale * weights[b] / (B * double(std::max(count[b], 1)));
    for (int l = 0; l < L; ++l) {
      const size_t r = size_t(b) * L + l;
      if (region[r] == 0) continue;
      d_msq[r] = c;
      d_prior[r] = c * abar_last;
    }
  }
  // A region row's rounding seed is its MSE seed times the rounding weight.
  for (int64_t i = 0; i < R; ++i) d_nll[i] = d_msq[region_rows[i]] * config_.rounding_weight;
  Tensor df = be_->alloc({N, d}), dtarget = be_->alloc({N, d}), dx0 = be_->alloc({N, d}), de = be_->alloc({N, d});
  be_->row_sq_diff_backward(f, target, row_tensor(d_msq), df, dtarget);
  Tensor dxt = net_.backward(params_, prep.in, cache, df, grad_scale);
  be_->row_combine_backward(dxt, t_ax, t_am, none, dx0, params_.at(ids_.mean_embed).grad, none);
  if (config_.prior_loss) be_->row_sq_diff_backward(x0, none, row_tensor(d_prior), dx0, none);
  if (R > 0) {
    Tensor w_region = be_->alloc_uninit({R}), dx0_region = be_->alloc({R, d});
    be_->upload(w_region, d_nll.data());
    be_->tied_ce_backward(x0_region, E, bias, tokens_region, w_region, dx0_region,
                          params_.at(ids_.word_embedding).grad, params_.at(ids_.lm_bias).grad);
    be_->scatter_add_rows(dx0_region, t_rows, dx0);
  }
  be_->axpy(1.0, dx0, de);      // x0 = e + std0 eps0
  be_->axpy(1.0, dtarget, de);  // target = e + c eps0
  be_->scatter_add_rows(de, prep.tokens, params_.at(ids_.word_embedding).grad);
  if (config_.absorbing && config_.absorb_reg > 0 && m_norm > 0)
    be_->axpy(grad_scale * config_.absorb_reg / m_norm, m, params_.at(ids_.mean_embed).grad);
  return out;
}

void DiffusionModel::predict_x0(const Batch& batch, const Tensor& x_t, const std::vector<int32_t>& timesteps,
                                bool use_ema, Tensor& x0_hat) {
  std::vector<double> times(timesteps.size());
  for (size_t i = 0; i < timesteps.size(); ++i) {
    if (timesteps[i] < 0 || timesteps[i] >= schedule_.steps())
      throw_runtime("predict_x0: timestep {} outside [0, {})", timesteps[i], schedule_.steps());
    times[i] = schedule_.model_time(timesteps[i]);
  }
  predict_x0_at(batch, x_t, times, use_ema, x0_hat);
}

void DiffusionModel::predict_x0_at(const Batch& batch, const Tensor& x_t, const std::vector<double>& model_times,
                                   bool use_ema, Tensor& x0_hat) {
  Prepared prep = prepare(batch, model_times, 0, false);
  Tensor f = net_.forward(params_, use_ema, prep.in, x_t, nullptr, nullptr);
  be_->copy(f, x0_hat);
}

std::vector<float> DiffusionModel::predict_x0(const Batch& batch, const std::vector<float>& x_t,
                                              const std::vector<int32_t>& timesteps, bool use_ema) {
  const int64_t N = int64_t(batch.batch_size) * batch.seq_len;
  if (static_cast<int64_t>(x_t.size()) != N * config_.embed_dim)
    throw_runtime("predict_x0: x_t has {} values, expected {}", x_t.size(), N * config_.embed_dim);
  Tensor xt = be_->alloc({N, config_.embed_dim}), out = be_->alloc({N, config_.embed_dim});
  be_->upload(xt, x_t.data());
  predict_x0(batch, xt, timesteps, use_ema, out);
  std::vector<float> h(x_t.size());
  be_->download(out, h.data());
  return h;
}

Tensor DiffusionModel::embed(const Tensor& ids, bool use_ema) {
  Tensor out = be_->alloc({ids.numel(), config_.embed_dim});
  be_->gather_rows(word_embedding(use_ema), ids, out);
  return out;
}

Tensor DiffusionModel::round_nearest(const Tensor& x, bool use_ema) {
  Tensor ids = be_->alloc({x.rows()}, ElemType::i32);
  be_->round_nearest(x, word_embedding(use_ema), ids);
  return ids;
}

Tensor DiffusionModel::logits_argmax(const Tensor& x, bool use_ema) {
  Tensor ids = be_->alloc({x.rows()}, ElemType::i32);
  be_->round_argmax(x, word_embedding(use_ema), lm_bias(use_ema), ids);
  return ids;
}

}  // namespace mds
