// A small but real TrainableModel for the trainer's tests: linear regression
// from features of the packed source to the mean target token, trained with
// the trainer's machinery (importance weights, accumulation, clipping, AdamW,
// EMA, checkpoints). The loss grows with the timestep so loss-aware sampling
// has something to learn; hooks inject non-finite losses or gradients.
#pragma once

#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/trainable.h"
#include "train/dataset.h"
#include "train/rng.h"

namespace mds::testing {

constexpr int32_t kPad = 0, kCls = 1, kSep = 2;

// Packs examples as [CLS] src [SEP] trg [SEP] PAD.. with max_trg_len + 1 target
// slots (lib/model/trainable.h layout); source clipped to max_src_len.
inline Batch pack_test_batch(const train::Dataset& d, const std::vector<uint64_t>& ids, int max_src_len,
                             int max_trg_len) {
  Batch b;
  b.batch_size = static_cast<int>(ids.size());
  int L = 0;
  for (uint64_t id : ids) {
    const int s = std::min<int>(static_cast<int>(d.src(id).size), max_src_len);
    L = std::max(L, s + 2 + max_trg_len + 1);
  }
  b.seq_len = L;
  b.tokens.assign(static_cast<size_t>(b.batch_size) * L, kPad);
  b.target_mask.assign(b.tokens.size(), 0);
  b.valid.assign(b.tokens.size(), 0);
  for (int i = 0; i < b.batch_size; ++i) {
    const train::TokenSpan src = d.src(ids[i]), trg = d.trg(ids[i]);
    const int s = std::min<int>(static_cast<int>(src.size), max_src_len);
    const int len = s + 2 + max_trg_len + 1;
    int32_t* row = &b.tokens[static_cast<size_t>(i) * L];
    int p = 0;
    row[p++] = kCls;
    for (int k = 0; k < s; ++k) row[p++] = static_cast<int32_t>(src.data[k]);
    row[p++] = kSep;
    const int trg_start = p;
    const int t = std::min<int>(static_cast<int>(trg.size), max_trg_len);
    for (int k = 0; k < t; ++k) row[p++] = static_cast<int32_t>(trg.data[k]);
    row[p++] = kSep;
    for (int k = trg_start; k < len; ++k) b.target_mask[static_cast<size_t>(i) * L + k] = 1;
    for (int k = 0; k < len; ++k) b.valid[static_cast<size_t>(i) * L + k] = 1;
    b.lengths.push_back(len);
    b.example_ids.push_back(ids[i]);
  }
  return b;
}

class LinearTestModel : public TrainableModel {
 public:
  static constexpr int kFeatures = 4;
  explicit LinearTestModel(int num_timesteps, uint64_t init_seed = 7) : T_(num_timesteps) {
    train::Rng rng(init_seed);
    w_.resize(kFeatures);
    for (float& x : w_) x = static_cast<float>(rng.uniform() - 0.5);
    b_ = {0.1f};
    ema_w_ = w_;
    ema_b_ = b_;
    m_w_.assign(kFeatures, 0.f), v_w_.assign(kFeatures, 0.f);
    m_b_.assign(1, 0.f), v_b_.assign(1, 0.f);
    zero_grad();
  }

  // Test hooks: 1-based forward_backward call numbers that yield a NaN loss,
  // or a finite loss but an infinite gradient.
  std::set<int64_t> nan_loss_calls, inf_grad_calls;
  int64_t calls = 0;
  std::vector<double> grad_scales_seen;
  double last_applied_grad_norm = 0;
  int64_t zero_grad_calls = 0;

  LossTerms forward_backward(const Batch& batch, const std::vector<int32_t>& timesteps,
                             const std::vector<double>& weights, uint64_t noise_seed, double grad_scale) override {
    ++calls;
    grad_scales_seen.push_back(grad_scale);
    LossTerms lt = run(batch, timesteps, &weights, noise_seed, grad_scale);
    if (nan_loss_calls.count(calls)) lt.total = std::nan("");
    if (inf_grad_calls.count(calls)) g_b_[0] = INFINITY;
    return lt;
  }
  LossTerms evaluate(const Batch& batch, const std::vector<int32_t>& timesteps, uint64_t noise_seed) override {
    return run(batch, timesteps, nullptr, noise_seed, 0.0);
  }
  void zero_grad() override {
    ++zero_grad_calls;
    g_w_.assign(kFeatures, 0.f);
    g_b_.assign(1, 0.f);
  }
  double grad_norm(bool* all_finite) override {
    double s = 0;
    bool ok = true;
    for (float g : g_w_) s += double(g) * g, ok = ok && std::isfinite(g);
    for (float g : g_b_) s += double(g) * g, ok = ok && std::isfinite(g);
    if (all_finite) *all_finite = ok;
    return std::sqrt(s);
  }
  void scale_grad(double f) override {
    for (float& g : g_w_) g = static_cast<float>(g * f);
    for (float& g : g_b_) g = static_cast<float>(g * f);
  }
  void optimizer_step(const OptimizerSettings& o) override {
    bool ok;
    last_applied_grad_norm = grad_norm(&ok);
    ++adam_step_;
    adamw(w_, g_w_, m_w_, v_w_, o);
    adamw(b_, g_b_, m_b_, v_b_, o);
  }
  void ema_update(double decay) override {
    for (int i = 0; i < kFeatures; ++i) ema_w_[i] = static_cast<float>(decay * ema_w_[i] + (1 - decay) * w_[i]);
    ema_b_[0] = static_cast<float>(decay * ema_b_[0] + (1 - decay) * b_[0]);
  }
  void save_state(Container& out) const override {
    const std::pair<const char*, const std::vector<float>*> parts[] = {
        {"param/w", &w_}, {"param/b", &b_}, {"ema/w", &ema_w_}, {"ema/b", &ema_b_}, {"adam_m/w", &m_w_},
        {"adam_m/b", &m_b_}, {"adam_v/w", &v_w_}, {"adam_v/b", &v_b_}};
    for (const auto& [name, v] : parts) out.add(Section::from(name, *v));
    out.meta["model_state"] = {{"adam_step", adam_step_}};
  }
  void load_state(const Container& in) override {
    std::pair<const char*, std::vector<float>*> parts[] = {
        {"param/w", &w_}, {"param/b", &b_}, {"ema/w", &ema_w_}, {"ema/b", &ema_b_}, {"adam_m/w", &m_w_},
        {"adam_m/b", &m_b_}, {"adam_v/w", &v_w_}, {"adam_v/b", &v_b_}};
    for (auto& [name, v] : parts) {
      std::vector<float> x = in.section(name).to_vector<float>();
      if (x.size() != v->size()) throw_bad_input("{}: {} has {} values, expected {}", in.source, name, x.size(), v->size());
      *v = std::move(x);
    }
    adam_step_ = in.meta.at("model_state").at("adam_step").get<int64_t>();
  }
  int64_t parameter_count() const override { return kFeatures + 1; }
  std::string backend_name() const override { return "test-linear"; }

  const std::vector<float>& weights() const { return w_; }

 private:
  static void features(const Batch& b, int i, double x[kFeatures], double* y) {
    const int32_t* row = &b.tokens[static_cast<size_t>(i) * b.seq_len];
    const uint8_t* tm = &b.target_mask[static_cast<size_t>(i) * b.seq_len];
    double src_sum = 0, trg_sum = 0;
    int src_n = 0, trg_n = 0;
    for (int k = 1; k < b.lengths[i]; ++k) {
      if (row[k] <= kSep) continue;
      if (tm[k]) trg_sum += row[k], ++trg_n;
      else src_sum += row[k], ++src_n;
    }
    x[0] = src_n ? src_sum / src_n / 100.0 : 0;
    x[1] = src_n / 10.0;
    x[2] = row[1] / 100.0;
    x[3] = std::sin(static_cast<double>(b.example_ids[i]));
    *y = trg_n ? trg_sum / trg_n / 100.0 : 0;
  }

  LossTerms run(const Batch& b, const std::vector<int32_t>& t, const std::vector<double>* weights,
                uint64_t noise_seed, double grad_scale) {
    LossTerms lt;
    lt.per_example.resize(b.batch_size);
    lt.expert_load = {{0.25, 0.75}, {0.5, 0.5}};
    for (int i = 0; i < b.batch_size; ++i) {
      double x[kFeatures], y;
      features(b, i, x, &y);
      train::Rng rng(train::derive_seed(noise_seed, train::Stream::noise, b.example_ids[i]));
      const double noise = 0.01 * (rng.uniform() - 0.5);
      double pred = b_[0];
      for (int k = 0; k < kFeatures; ++k) pred += w_[k] * x[k];
      const double r = pred - y + noise;
      const double scale = 1.0 + static_cast<double>(t[i]) / T_;  // loss depends on t
      const double loss = scale * r * r;
      const double wi = weights ? (*weights)[i] : 1.0;
      lt.per_example[i] = loss;
      lt.total += wi * loss / b.batch_size;
      lt.mse += loss / b.batch_size;
      if (weights) {
        const double d = grad_scale * wi * scale * 2 * r / b.batch_size;
        for (int k = 0; k < kFeatures; ++k) g_w_[k] += static_cast<float>(d * x[k]);
        g_b_[0] += static_cast<float>(d);
      }
    }
    return lt;
  }

  void adamw(std::vector<float>& p, const std::vector<float>& g, std::vector<float>& m, std::vector<float>& v,
             const OptimizerSettings& o) {
    const double c1 = 1 - std::pow(o.beta1, static_cast<double>(adam_step_));
    const double c2 = 1 - std::pow(o.beta2, static_cast<double>(adam_step_));
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] = static_cast<float>(p[i] - o.lr * o.weight_decay * p[i]);
      m[i] = static_cast<float>(o.beta1 * m[i] + (1 - o.beta1) * g[i]);
      v[i] = static_cast<float>(o.beta2 * v[i] + (1 - o.beta2) * double(g[i]) * g[i]);
      p[i] = static_cast<float>(p[i] - o.lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + o.eps));
    }
  }

  int T_;
  std::vector<float> w_, b_, ema_w_, ema_b_, m_w_, v_w_, m_b_, v_b_, g_w_, g_b_;
  int64_t adam_step_ = 0;
};

// N random pairs: sources of 1..max_src tokens, targets of 1..8 tokens near
// the first source token, content ids >= 4 (after the four specials).
inline train::Dataset random_dataset(size_t n, uint64_t seed, int max_src = 40) {
  train::Dataset d;
  train::Rng rng(seed);
  for (size_t i = 0; i < n; ++i) {
    std::vector<uint32_t> src(1 + rng.below(max_src)), trg(1 + rng.below(8));
    for (auto& x : src) x = 4 + static_cast<uint32_t>(rng.below(96));  // content ids start at 4
    for (auto& x : trg) x = src[0] + static_cast<uint32_t>(rng.below(5));  // learnable from the source
    d.add(src, trg);
  }
  d.name = "random";
  return d;
}

}  // namespace mds::testing
